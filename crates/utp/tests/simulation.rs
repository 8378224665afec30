//! A connection pair on a simulated network: lossy, reordering and
//! duplicating links, fixed seeds, simulated time. Every byte must arrive
//! in order, both sides must close gracefully, and LEDBAT must behave:
//! the window grows while the delay is low, shrinks while it is above the
//! target, and halves on a loss.

mod common;

use std::time::{Duration, Instant};

use common::{data, earliest, Link};
use seedbed_utp::{Config, Connection, Packet, PacketType, SeqNr, State};

struct Side {
    conn: Option<Connection>,
    to_send: Vec<u8>,
    written: usize,
    received: Vec<u8>,
    /// Call `close` once everything is written.
    close_when_done: bool,
    /// Write `to_send` over and over, and count what arrives instead of
    /// keeping it (bulk transfers for the LEDBAT tests).
    endless: bool,
    received_len: usize,
}

impl Side {
    fn new(to_send: Vec<u8>) -> Self {
        Side {
            conn: None,
            to_send,
            written: 0,
            received: Vec::new(),
            close_when_done: true,
            endless: false,
            received_len: 0,
        }
    }

    fn app(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        while self.written < self.to_send.len() {
            match c.write(&self.to_send[self.written..]) {
                Ok(n) => self.written += n,
                Err(_) => break,
            }
            if self.endless && self.written == self.to_send.len() {
                self.written = 0;
            }
        }
        if self.written == self.to_send.len() && self.close_when_done {
            c.close();
        }
        let mut buf = [0u8; 16384];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.received_len += n;
            if !self.endless {
                self.received.extend_from_slice(&buf[..n]);
            }
        }
        while c.poll_event().is_some() {}
    }

    fn closed(&self) -> bool {
        self.conn.as_ref().is_some_and(Connection::is_closed)
    }
}

struct Sim {
    config: Config,
    a: Side,
    b: Side,
    ab: Link,
    ba: Link,
    start: Instant,
    now: Instant,
    buf: Vec<u8>,
}

impl Sim {
    fn new(config: Config, ab: Link, ba: Link, a_data: Vec<u8>, b_data: Vec<u8>) -> Self {
        let start = Instant::now();
        let mut a = Side::new(a_data);
        a.conn = Some(Connection::connect(config, start, 0xfffe, SeqNr(65000)));
        Sim {
            config,
            a,
            b: Side::new(b_data),
            ab,
            ba,
            start,
            now: start,
            buf: vec![0; config.max_packet_size()],
        }
    }

    fn transmit(&mut self) {
        for (side, link) in [(&mut self.a, &mut self.ab), (&mut self.b, &mut self.ba)] {
            if let Some(c) = side.conn.as_mut() {
                while let Some(n) = c.poll_transmit(self.now, &mut self.buf) {
                    link.send(self.now, self.buf[..n].to_vec());
                }
            }
        }
    }

    /// One step: application work, transmissions, then time moves to the
    /// next arrival or timer, which is handled. False when nothing is left
    /// to happen.
    fn step(&mut self) -> bool {
        self.a.app();
        self.b.app();
        self.transmit();
        let timers = earliest(
            self.a.conn.as_ref().and_then(Connection::poll_timeout),
            self.b.conn.as_ref().and_then(Connection::poll_timeout),
        );
        let Some(next) = earliest(
            earliest(self.ab.next_arrival(), self.ba.next_arrival()),
            timers,
        ) else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(d) = self.ab.pop_due(self.now) {
            match self.b.conn.as_mut() {
                Some(b) => b.handle(self.now, &d).unwrap(),
                None => {
                    let p = Packet::parse(&d).unwrap();
                    if p.header.packet_type == PacketType::Syn {
                        self.b.conn = Some(
                            Connection::accept(self.config, self.now, &p, SeqNr(65530)).unwrap(),
                        );
                    }
                }
            }
        }
        while let Some(d) = self.ba.pop_due(self.now) {
            self.a.conn.as_mut().unwrap().handle(self.now, &d).unwrap();
        }
        for side in [&mut self.a, &mut self.b] {
            if let Some(c) = side.conn.as_mut() {
                if c.poll_timeout().is_some_and(|t| t <= self.now) {
                    c.handle_timeout(self.now);
                }
            }
        }
        true
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn a(&self) -> &Connection {
        self.a.conn.as_ref().unwrap()
    }
}

fn lossy_link(seed: u64) -> Link {
    let mut l = Link::new(seed);
    l.loss = 0.05;
    l.duplicate = 0.05;
    l.delay = Duration::from_millis(20);
    l.jitter = Duration::from_millis(15);
    l
}

fn run_to_completion(sim: &mut Sim, limit: Duration) {
    let mut steps = 0u64;
    while !(sim.a.closed() && sim.b.closed()) {
        assert!(sim.step(), "nothing left to happen before both closed");
        assert!(
            sim.elapsed() < limit,
            "not done after {:?}: a {:?} {:?} sent {}/{} got {}; b {:?} {:?} sent {}/{} got {}",
            sim.elapsed(),
            sim.a.conn.as_ref().map(|c| (c.state(), c.stats())),
            sim.a
                .conn
                .as_ref()
                .map(|c| (c.readable_bytes(), c.is_read_closed())),
            sim.a.written,
            sim.a.to_send.len(),
            sim.a.received.len(),
            sim.b.conn.as_ref().map(|c| (c.state(), c.stats())),
            sim.b
                .conn
                .as_ref()
                .map(|c| (c.readable_bytes(), c.is_read_closed())),
            sim.b.written,
            sim.b.to_send.len(),
            sim.b.received.len(),
        );
        steps += 1;
        assert!(steps < 5_000_000);
    }
}

#[test]
fn lossy_reordering_duplicating_link_delivers_every_byte_in_order() {
    for seed in [1u64, 2, 3, 4, 5] {
        let a_data = data(seed, 1_500_000);
        let b_data = data(seed + 100, 300_000);
        let mut sim = Sim::new(
            Config::default(),
            lossy_link(seed * 2),
            lossy_link(seed * 2 + 1),
            a_data.clone(),
            b_data.clone(),
        );
        run_to_completion(&mut sim, Duration::from_secs(600));
        let mismatch = sim.b.received.iter().zip(&a_data).position(|(x, y)| x != y);
        assert!(
            sim.b.received == a_data,
            "seed {seed}: a to b: got {} of {}, first difference at {mismatch:?}",
            sim.b.received.len(),
            a_data.len()
        );
        assert!(sim.a.received == b_data, "seed {seed}: b to a");
        let a = sim.a();
        let b = sim.b.conn.as_ref().unwrap();
        assert_eq!(a.error(), None, "seed {seed}: graceful close");
        assert_eq!(b.error(), None, "seed {seed}: graceful close");
        let s = a.stats();
        assert!(
            s.retransmits + s.fast_retransmits > 0,
            "seed {seed}: loss was repaired"
        );
        assert!(
            s.fast_retransmits > 0,
            "seed {seed}: selective / duplicate acks used"
        );
        assert!(
            b.stats().duplicates > 0,
            "seed {seed}: duplicates seen and dropped"
        );
        eprintln!(
            "seed {seed}: {:?} simulated, a {:?}, b dropped {} of {}",
            sim.elapsed(),
            s,
            sim.ab.dropped,
            sim.ab.sent
        );
    }
}

#[test]
fn heavy_loss_still_delivers() {
    for seed in [11u64, 12] {
        let mut ab = lossy_link(seed);
        let mut ba = lossy_link(seed + 50);
        ab.loss = 0.2;
        ba.loss = 0.2;
        let a_data = data(seed, 200_000);
        let mut sim = Sim::new(Config::default(), ab, ba, a_data.clone(), Vec::new());
        run_to_completion(&mut sim, Duration::from_secs(1200));
        assert!(sim.b.received == a_data, "seed {seed}");
    }
}

#[test]
fn small_mtu_and_buffers_with_wrapping_sequence_numbers() {
    let config = Config {
        mtu: 576,
        recv_buffer: 8192,
        send_buffer: 4096,
        max_reorder: 16,
        ..Config::default()
    };
    let a_data = data(9, 400_000);
    let b_data = data(10, 100_000);
    let mut sim = Sim::new(
        config,
        lossy_link(21),
        lossy_link(22),
        a_data.clone(),
        b_data.clone(),
    );
    run_to_completion(&mut sim, Duration::from_secs(1200));
    assert!(sim.b.received == a_data);
    assert!(sim.a.received == b_data);
}

/// Runs a's transfer for `span` of simulated time, returning the window
/// after each step.
fn run_for(sim: &mut Sim, span: Duration) -> Vec<(Duration, u32, u64)> {
    let until = sim.now + span;
    let mut trace = Vec::new();
    while sim.now < until && sim.step() {
        let s = sim.a().stats();
        trace.push((sim.elapsed(), s.window, s.losses));
    }
    trace
}

fn bulk_sim(ab: Link) -> Sim {
    let config = Config {
        recv_buffer: 16 << 20,
        max_window: 16 << 20,
        ..Config::default()
    };
    let mut sim = Sim::new(config, ab, Link::new(99), data(1, 1 << 20), Vec::new());
    sim.a.close_when_done = false;
    sim.a.endless = true;
    sim.b.endless = true;
    sim
}

#[test]
fn ledbat_grows_the_window_while_the_delay_is_low() {
    let mut sim = bulk_sim(Link::new(7));
    let trace = run_for(&mut sim, Duration::from_secs(3));
    let first = trace.first().unwrap().1;
    let last = trace.last().unwrap().1;
    assert!(
        last > 20 * first,
        "window {first} -> {last}: {:?} {:?} {:?}",
        sim.a().stats(),
        sim.b.conn.as_ref().map(|b| b.stats()),
        trace.len()
    );
    assert_eq!(sim.a().state(), State::Connected);
    assert_eq!(trace.last().unwrap().2, 0, "no loss on this link");
}

#[test]
fn ledbat_holds_the_queue_near_the_target_and_shrinks_above_it() {
    // A 2 MB/s bottleneck with a deep queue: without LEDBAT the queue
    // (and the delay) would grow to the queue limit.
    let mut ab = Link::new(7);
    ab.rate = Some(2_000_000);
    ab.max_queue = Duration::from_secs(5);
    let mut sim = bulk_sim(ab);
    let trace = run_for(&mut sim, Duration::from_secs(20));
    let queue = sim.ab.queue_delay(sim.now);
    assert!(
        queue < Duration::from_millis(250),
        "LEDBAT keeps the queue near 100 ms, not {queue:?}"
    );
    let peak = trace.iter().map(|t| t.1).max().unwrap();
    let settled = trace.last().unwrap().1;
    // 2 MB/s * (20 ms + 100 ms) is about 240 kB.
    assert!(settled < 600_000, "window {settled} (peak {peak})");
    // Now the path's delay rises by 300 ms: three times the target above
    // the base. The window must come down, steadily.
    sim.ab.delay += Duration::from_millis(300);
    let before = sim.a().stats().window;
    let trace = run_for(&mut sim, Duration::from_secs(20));
    let after = trace.last().unwrap().1;
    assert!(
        after < before * 3 / 4,
        "window {before} -> {after} with the delay above target"
    );
}

#[test]
fn ledbat_halves_the_window_on_loss() {
    let mut ab = Link::new(7);
    ab.rate = Some(5_000_000);
    let mut sim = bulk_sim(ab);
    run_for(&mut sim, Duration::from_secs(5));
    // Drop the next data packet.
    let sent = sim.ab.sent;
    sim.ab.drop_exactly = vec![sent + 1];
    let trace = run_for(&mut sim, Duration::from_secs(2));
    let cut = trace
        .windows(2)
        .find(|w| w[1].2 > w[0].2)
        .expect("the loss was detected");
    let (before, after) = (cut[0].1, cut[1].1);
    assert!(
        after <= before / 2 + 1500 && after >= before / 2 - 3000,
        "window {before} -> {after} on one loss"
    );
    assert_eq!(trace.last().unwrap().2, 1, "one cut for one loss");
    assert_eq!(sim.a().stats().timeouts, 0, "repaired without a timeout");
}
