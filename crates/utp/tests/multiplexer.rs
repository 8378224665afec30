//! Many connections through two multiplexers on a simulated lossy,
//! reordering, duplicating network (fixed seeds, simulated time): each
//! endpoint is one "UDP socket"; connections are opened both ways at once,
//! each carries its own bytes both ways, and every byte must arrive in
//! order on the right connection.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{data, earliest, Link};
use seedbed_utp::{ConnectionHandle, Endpoint, EndpointConfig, Error};

const A: ([u8; 4], u16) = ([127, 0, 0, 1], 6881);
const B: ([u8; 4], u16) = ([127, 0, 0, 2], 6881);

/// One connection's application: the initiator sends its conversation
/// number (8 bytes) then its bytes; the acceptor answers with its own.
#[derive(Debug, Default)]
struct App {
    id: Option<u64>,
    to_send: Vec<u8>,
    written: usize,
    received: Vec<u8>,
    eof: bool,
}

fn request(id: u64) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend(data(id, 20_000 + (id as usize * 7919) % 60_000));
    v
}

fn answer(id: u64) -> Vec<u8> {
    data(id + 1_000_000, 5_000 + (id as usize * 104_729) % 40_000)
}

struct Side {
    endpoint: Endpoint,
    addr: SocketAddr,
    apps: HashMap<ConnectionHandle, App>,
    done: Vec<App>,
}

impl Side {
    fn app(&mut self) {
        while let Some((h, _)) = self.endpoint.accept() {
            self.apps.insert(h, App::default());
        }
        while self.endpoint.poll_event().is_some() {}
        let mut finished = Vec::new();
        for (&h, app) in &mut self.apps {
            let c = self.endpoint.connection_mut(h).expect("held");
            let mut buf = [0u8; 8192];
            loop {
                match c.read(&mut buf) {
                    Ok(0) => {
                        app.eof = true;
                        break;
                    }
                    Ok(n) => app.received.extend_from_slice(&buf[..n]),
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("connection failed: {e}"),
                }
            }
            if app.id.is_none() && app.received.len() >= 8 {
                // The acceptor learns which conversation this is.
                let id = u64::from_be_bytes(app.received[..8].try_into().unwrap());
                app.id = Some(id);
                app.to_send = answer(id);
            }
            while app.written < app.to_send.len() {
                match c.write(&app.to_send[app.written..]) {
                    Ok(n) => app.written += n,
                    Err(_) => break,
                }
            }
            if app.id.is_some() && app.written == app.to_send.len() {
                c.close();
            }
            if c.is_closed() {
                assert_eq!(c.error(), None, "graceful close");
                finished.push(h);
            }
        }
        for h in finished {
            self.endpoint.release(h);
            self.done.push(self.apps.remove(&h).unwrap());
        }
    }
}

fn link(seed: u64) -> Link {
    let mut l = Link::new(seed);
    l.loss = 0.03;
    l.duplicate = 0.03;
    l.delay = Duration::from_millis(15);
    l.jitter = Duration::from_millis(10);
    l.rate = Some(20_000_000);
    l
}

fn run(seed: u64, from_a: u64, from_b: u64) {
    let start = Instant::now();
    let config = EndpointConfig::default();
    let mut a = Side {
        endpoint: Endpoint::new(config, seed).unwrap(),
        addr: SocketAddr::from(A),
        apps: HashMap::new(),
        done: Vec::new(),
    };
    let mut b = Side {
        endpoint: Endpoint::new(config, seed + 1).unwrap(),
        addr: SocketAddr::from(B),
        apps: HashMap::new(),
        done: Vec::new(),
    };
    for id in 0..from_a {
        let h = a.endpoint.connect(start, b.addr).unwrap();
        a.apps.insert(
            h,
            App {
                id: Some(id),
                to_send: request(id),
                ..App::default()
            },
        );
    }
    for id in from_a..from_a + from_b {
        let h = b.endpoint.connect(start, a.addr).unwrap();
        b.apps.insert(
            h,
            App {
                id: Some(id),
                to_send: request(id),
                ..App::default()
            },
        );
    }
    let (mut ab, mut ba) = (link(seed * 10), link(seed * 10 + 1));
    let mut now = start;
    let mut buf = vec![0u8; 1500];
    let total = (from_a + from_b) as usize;
    while a.done.len() + b.done.len() < 2 * total {
        a.app();
        b.app();
        for (side, l) in [(&mut a, &mut ab), (&mut b, &mut ba)] {
            while let Some(t) = side.endpoint.poll_transmit(now, &mut buf) {
                l.send(now, buf[..t.size].to_vec());
            }
        }
        let next = earliest(
            earliest(ab.next_arrival(), ba.next_arrival()),
            earliest(a.endpoint.poll_timeout(), b.endpoint.poll_timeout()),
        )
        .expect("something left to happen");
        now = now.max(next);
        assert!(
            now - start < Duration::from_secs(600),
            "not done: a {:?} b {:?}",
            a.endpoint.stats(),
            b.endpoint.stats()
        );
        while let Some(d) = ab.pop_due(now) {
            b.endpoint.handle(now, a.addr, &d).unwrap();
        }
        while let Some(d) = ba.pop_due(now) {
            a.endpoint.handle(now, b.addr, &d).unwrap();
        }
        a.endpoint.handle_timeout(now);
        b.endpoint.handle_timeout(now);
    }
    // Every conversation: the acceptor got the request, the initiator the
    // answer, on the same connection.
    let mut seen = 0;
    for app in a.done.iter().chain(&b.done) {
        let id = app.id.unwrap();
        assert!(app.eof);
        if app.to_send == request(id) {
            assert!(app.received == answer(id), "conversation {id}: answer");
        } else {
            assert!(app.received == request(id), "conversation {id}: request");
        }
        seen += 1;
    }
    assert_eq!(seen, 2 * total);
    // Let the last FINs be acked and the connections leave.
    for _ in 0..2000 {
        for (side, l) in [(&mut a, &mut ab), (&mut b, &mut ba)] {
            while let Some(t) = side.endpoint.poll_transmit(now, &mut buf) {
                l.send(now, buf[..t.size].to_vec());
            }
        }
        let Some(next) = earliest(
            earliest(ab.next_arrival(), ba.next_arrival()),
            earliest(a.endpoint.poll_timeout(), b.endpoint.poll_timeout()),
        ) else {
            break;
        };
        now = now.max(next);
        while let Some(d) = ab.pop_due(now) {
            let _ = b.endpoint.handle(now, a.addr, &d);
        }
        while let Some(d) = ba.pop_due(now) {
            let _ = a.endpoint.handle(now, b.addr, &d);
        }
        a.endpoint.handle_timeout(now);
        b.endpoint.handle_timeout(now);
    }
    assert!(a.endpoint.is_empty(), "{:?}", a.endpoint.stats());
    assert!(b.endpoint.is_empty(), "{:?}", b.endpoint.stats());
    eprintln!(
        "seed {seed}: {total} conversations in {:?} simulated; a {:?}; b {:?}",
        now - start,
        a.endpoint.stats(),
        b.endpoint.stats()
    );
}

#[test]
fn many_connections_both_ways_through_one_socket_each() {
    for seed in [1u64, 2, 3] {
        run(seed, 30, 10);
    }
}
