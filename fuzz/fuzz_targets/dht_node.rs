//! The seedbed-dht state machine fed random datagrams from a few senders,
//! with time moving on: never panics, and every table, store and queue
//! stays within its configured limit.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use seedbed_dht::{Config, Dht, NodeId};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let config = Config {
        max_pending: 16,
        max_lookups: 4,
        max_events: 32,
        max_verify_pings: 4,
        ..Config::default()
    };
    let mut dht = Dht::new(config.clone(), NodeId([0x55; 20]), [7; 32], now);
    let routers: Vec<SocketAddr> = (1..4)
        .map(|i| SocketAddr::from(([127, 0, 0, i], 6881)))
        .collect();
    let _ = dht.bootstrap(now, &routers);
    let _ = dht.get_peers(now, seedbed_dht::InfoHash([0x66; 20]));
    let mut rest = data;
    // Records: sender (1 byte), milliseconds to advance (1 byte), length
    // (1 byte), datagram. A record may also answer our last query: the
    // sender byte's high bit replaces the datagram's `t` placeholder
    // `TTTT` with the transaction id of the last query we sent.
    let mut last_tid: Option<Vec<u8>> = None;
    while rest.len() >= 3 {
        let (sender, step, len) = (rest[0], rest[1], usize::from(rest[2]));
        rest = &rest[3..];
        let n = len.min(rest.len());
        let mut datagram = rest[..n].to_vec();
        rest = &rest[n..];
        if sender & 0x80 != 0 {
            if let (Some(t), Some(pos)) =
                (&last_tid, datagram.windows(4).position(|w| w == b"TTTT"))
            {
                datagram.splice(pos..pos + 4, t.iter().copied());
            }
        }
        now += Duration::from_millis(u64::from(step) * 20);
        let from = SocketAddr::from(([127, 0, 0, 1 + (sender & 3)], 6881));
        dht.handle(now, from, &datagram);
        if dht.poll_timeout().is_some_and(|t| t <= now) {
            dht.handle_timeout(now);
        }
        while let Some(t) = dht.poll_transmit() {
            if let Ok(m) = seedbed_dht::krpc::Message::decode(&t.data) {
                if let seedbed_dht::krpc::Body::Query(_) = m.body {
                    last_tid = Some(m.transaction_id.as_bytes().to_vec());
                }
            } else {
                panic!("we sent a message we cannot decode");
            }
        }
        while dht.poll_event().is_some() {}
        let s = dht.stats();
        assert!(s.pending <= config.max_pending);
        assert!(s.lookups <= config.max_lookups);
        assert!(s.events_queued <= config.max_events);
        assert!(s.table_v4.nodes <= s.table_v4.buckets * config.table.k);
        assert!(s.storage.bytes <= config.storage.max_bytes);
    }
    let _ = dht.routing_state().encode();
});
