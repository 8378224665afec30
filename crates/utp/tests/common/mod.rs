//! A simulated network for the sans-IO core: links that delay, reorder,
//! drop and duplicate datagrams, a bandwidth limit with a queue, and a
//! deterministic random number generator. Time is simulated: nothing
//! sleeps.

#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One direction of a path.
#[derive(Debug)]
pub struct Link {
    pub rng: Rng,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra random delay, uniform in [0, jitter): reorders datagrams.
    pub jitter: Duration,
    /// Bytes per second the link carries; `None` for unlimited. Datagrams
    /// queue behind each other (the queuing delay LEDBAT measures).
    pub rate: Option<u64>,
    /// Drop datagrams (tail drop) when the queue holds this much delay.
    pub max_queue: Duration,
    busy_until: Option<Instant>,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    counter: u64,
    pub sent: u64,
    pub dropped: u64,
    /// Drop exactly these datagrams (by the count of datagrams sent).
    pub drop_exactly: Vec<u64>,
}

impl Link {
    pub fn new(seed: u64) -> Self {
        Link {
            rng: Rng::new(seed),
            loss: 0.0,
            duplicate: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            rate: None,
            max_queue: Duration::from_secs(10),
            busy_until: None,
            queue: BinaryHeap::new(),
            counter: 0,
            sent: 0,
            dropped: 0,
            drop_exactly: Vec::new(),
        }
    }

    pub fn send(&mut self, now: Instant, datagram: Vec<u8>) {
        self.sent += 1;
        if self.drop_exactly.contains(&self.sent) {
            self.dropped += 1;
            return;
        }
        if self.rng.unit() < self.loss {
            self.dropped += 1;
            return;
        }
        let mut depart = now;
        if let Some(rate) = self.rate {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            if start - now > self.max_queue {
                self.dropped += 1;
                return;
            }
            let serialize =
                Duration::from_nanos((datagram.len() as u64 + 48) * 1_000_000_000 / rate);
            depart = start + serialize;
            self.busy_until = Some(depart);
        }
        let copies = if self.rng.unit() < self.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.rng.below(self.jitter.as_nanos() as u64))
            };
            self.counter += 1;
            self.queue.push(Reverse((
                depart + self.delay + jitter,
                self.counter,
                datagram.clone(),
            )));
        }
    }

    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }

    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? <= now {
            self.queue.pop().map(|Reverse((_, _, d))| d)
        } else {
            None
        }
    }

    /// The queuing delay a datagram sent now would see.
    pub fn queue_delay(&self, now: Instant) -> Duration {
        self.busy_until
            .map_or(Duration::ZERO, |b| b.saturating_duration_since(now))
    }
}

/// Deterministic test bytes.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        v.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
