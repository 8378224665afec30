//! Downloads a whole single-file torrent from one BitTorrent peer over
//! uTP (a `UtpSocket` dialling 127.0.0.1:PORT), with a hand-rolled
//! BitTorrent session: handshake, interested, and up to 256 block requests
//! in flight. Prints the rate, this process's CPU time and the
//! connection's counters. Used by `scripts/bench_utp.py` against a
//! python3-libtorrent seeder.
//!
//! Settings can be changed through the environment (see
//! `config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example libtorrent_download -- PORT INFO_HASH_HEX LENGTH PIECE_LENGTH`

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId, BLOCK_LEN,
};
use seedbed_utp::{EndpointConfig, UtpSocket};
use tokio_util::codec::Framed;

/// Block requests kept in flight.
const PIPELINE: usize = 256;

/// User plus system CPU time of this process (Linux; zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn parse_hex(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    assert_eq!(s.len(), 40, "INFO_HASH_HEX is 40 hex digits");
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit");
    }
    out
}

/// The endpoint settings, with overrides from the environment to compare
/// settings in one build: `UTP_SOCKET_BUFFER` (bytes, 0 for the system's),
/// `UTP_ACK_EVERY` (packets), `UTP_ACK_DELAY_MS`, `UTP_MIN_PROBE_MS`,
/// `UTP_RECV_BUFFER` (bytes), `UTP_MTU` (bytes).
fn config_from_env() -> EndpointConfig {
    let var = |name: &str| -> Option<u64> {
        let v = std::env::var(name).ok()?;
        Some(
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        )
    };
    let mut c = EndpointConfig::default();
    if let Some(v) = var("UTP_SOCKET_BUFFER") {
        c.socket_buffer = v as u32;
    }
    if let Some(v) = var("UTP_ACK_EVERY") {
        c.connection.ack_every = v as u16;
    }
    if let Some(v) = var("UTP_ACK_DELAY_MS") {
        c.connection.ack_delay = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_MIN_PROBE_MS") {
        c.connection.min_probe_timeout = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_RECV_BUFFER") {
        c.connection.recv_buffer = v as u32;
    }
    if let Some(v) = var("UTP_MTU") {
        c.connection.mtu = v as u16;
    }
    c.validate().expect("settings in range");
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        args.len(),
        4,
        "usage: libtorrent_download PORT INFO_HASH_HEX LENGTH PIECE_LENGTH"
    );
    let port: u16 = args[0].parse().expect("PORT");
    let info_hash = InfoHash(parse_hex(&args[1]));
    let length: usize = args[2].parse().expect("LENGTH");
    let piece_len: usize = args[3].parse().expect("PIECE_LENGTH");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let socket = UtpSocket::bind_with_config("127.0.0.1:0", config_from_env())
            .await
            .unwrap();
        let stream = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("uTP connect");
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let mut framed = Framed::new(stream, HandshakeCodec::new());
        framed
            .send(Handshake::new(info_hash, PeerId(*b"-SB0001-utp-bench-01")))
            .await
            .unwrap();
        match framed.next().await {
            Some(Ok(HandshakeEvent::Complete(h))) => assert_eq!(h.info_hash, info_hash),
            other => panic!("no handshake: {other:?}"),
        }
        let limits = Limits::new().num_pieces(length.div_ceil(piece_len) as u32);
        let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
        framed.send(Message::Interested).await.unwrap();
        let blocks = length.div_ceil(BLOCK_LEN as usize);
        let request = |i: usize| {
            let start = i * BLOCK_LEN as usize;
            BlockRequest {
                piece: (start / piece_len) as u32,
                begin: (start % piece_len) as u32,
                length: (length - start).min(BLOCK_LEN as usize) as u32,
            }
        };
        let (mut received, mut next, mut bytes) = (0usize, 0usize, 0usize);
        let mut unchoked = false;
        // Stalls: gaps of 50 ms or more between messages.
        let (mut stalls, mut stalled) = (0u32, Duration::ZERO);
        let mut last = Instant::now();
        while received < blocks {
            if unchoked && next < blocks && next - received < PIPELINE {
                while next < blocks && next - received < PIPELINE {
                    framed.feed(Message::Request(request(next))).await.unwrap();
                    next += 1;
                }
                SinkExt::<Message>::flush(&mut framed).await.unwrap();
            }
            let msg = tokio::time::timeout(Duration::from_secs(30), framed.next())
                .await
                .expect("nothing from the peer for 30 s")
                .expect("the peer closed the connection")
                .expect("a valid message");
            let gap = last.elapsed();
            last = Instant::now();
            if gap >= Duration::from_millis(50) {
                stalls += 1;
                stalled += gap;
            }
            match msg {
                Message::Unchoke => unchoked = true,
                Message::Choke => unchoked = false,
                Message::Piece(block) => {
                    bytes += block.data.len();
                    received += 1;
                }
                _ => {}
            }
        }
        assert_eq!(bytes, length);
        let elapsed = t0.elapsed();
        let cpu = cpu_time() - cpu0;
        let mib = length as f64 / f64::from(1 << 20);
        println!(
            "{mib:.0} MiB in {:.2} s: {:.1} MiB/s, CPU {:.2} s, {stalls} stalls of 50 ms or more: {:.2} s",
            elapsed.as_secs_f64(),
            mib / elapsed.as_secs_f64(),
            cpu.as_secs_f64(),
            stalled.as_secs_f64(),
        );
        println!("{:?}", framed.get_ref().stats().unwrap());
    });
}
