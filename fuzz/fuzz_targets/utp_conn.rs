//! Two uTP endpoints (BEP 29) talking through a network the fuzzer
//! controls: it delivers, drops, duplicates and corrupts datagrams,
//! injects arbitrary ones (to known and unknown connections), moves time
//! by random steps, and writes, reads, closes and aborts. Nothing may
//! panic, the work per step is bounded (every poll loop ends), and memory
//! stays within the settings' limits.
#![no_main]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use seedbed_utp::{Config, ConnectionHandle, Endpoint, EndpointConfig};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6000 + u16::from(i)))
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let config = EndpointConfig {
        connection: Config {
            recv_buffer: 16384,
            send_buffer: 16384,
            max_reorder: 32,
            mtu: 576,
            ..Config::default()
        },
        max_connections: 8,
        max_half_open: 4,
        accept_backlog: 4,
        ..EndpointConfig::default()
    };
    let mut eps = [
        Endpoint::new(config, 1).unwrap(),
        Endpoint::new(config, 2).unwrap(),
    ];
    let mut held: [Vec<ConnectionHandle>; 2] = [Vec::new(), Vec::new()];
    let mut now = Instant::now();
    // (to, from, datagram)
    let mut wire: VecDeque<(usize, u8, Vec<u8>)> = VecDeque::new();
    let mut buf = vec![0u8; config.connection.max_packet_size()];
    let mut read_buf = [0u8; 4096];
    let payload = [0x5au8; 3000];
    if let Ok(h) = eps[0].connect(now, addr(1)) {
        held[0].push(h);
    }
    while let Some(op) = input.byte() {
        match op % 10 {
            0 => {
                if let Some((to, from, d)) = wire.pop_front() {
                    let _ = eps[to].handle(now, addr(from), &d);
                }
            }
            1 => {
                wire.pop_front();
            }
            2 => {
                if let Some((to, from, mut d)) = wire.pop_front() {
                    let at = usize::from(input.byte().unwrap_or(0));
                    let x = input.byte().unwrap_or(0xff);
                    if !d.is_empty() {
                        let i = at % d.len();
                        d[i] ^= x;
                    }
                    let _ = eps[to].handle(now, addr(from), &d);
                }
            }
            3 => {
                if let Some(front) = wire.front().cloned() {
                    wire.push_back(front);
                }
            }
            4 => {
                let hi = u64::from(input.byte().unwrap_or(0));
                let lo = u64::from(input.byte().unwrap_or(0));
                now += Duration::from_millis((hi << 8 | lo) * 4);
                for e in &mut eps {
                    e.handle_timeout(now);
                }
            }
            5 => {
                let to = usize::from(input.byte().unwrap_or(0) & 1);
                let from = input.byte().unwrap_or(0) % 4;
                let len = usize::from(input.byte().unwrap_or(0));
                let d = input.take(len).to_vec();
                let _ = eps[to].handle(now, addr(from), &d);
            }
            6 => {
                let side = usize::from(input.byte().unwrap_or(0) & 1);
                let len = usize::from(input.byte().unwrap_or(0)) * 12;
                if let Some(&h) = held[side].first() {
                    if let Some(c) = eps[side].connection_mut(h) {
                        let _ = c.write(&payload[..len.min(payload.len())]);
                    }
                }
            }
            7 => {
                for side in 0..2 {
                    while let Some((h, _)) = eps[side].accept() {
                        held[side].push(h);
                    }
                    for &h in &held[side] {
                        if let Some(c) = eps[side].connection_mut(h) {
                            while let Ok(n) = c.read(&mut read_buf) {
                                if n == 0 {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            8 => {
                let side = usize::from(input.byte().unwrap_or(0) & 1);
                if let Some(h) = held[side].pop() {
                    match input.byte().unwrap_or(0) % 3 {
                        0 => eps[side].release(h),
                        1 => eps[side].abort(h),
                        _ => {
                            if let Some(c) = eps[side].connection_mut(h) {
                                c.close();
                            }
                            held[side].push(h);
                        }
                    }
                }
            }
            _ => {
                let to = usize::from(input.byte().unwrap_or(0) & 1);
                if let Ok(h) = eps[1 - to].connect(now, addr(to as u8)) {
                    held[1 - to].push(h);
                }
            }
        }
        for side in 0..2 {
            let mut n = 0;
            while let Some(t) = eps[side].poll_transmit(now, &mut buf) {
                assert!(t.size <= buf.len());
                n += 1;
                assert!(n < 100_000, "poll_transmit does not end");
                if wire.len() < 4096 {
                    let to = if t.destination == addr(1) { 1 } else { 0 };
                    wire.push_back((to, side as u8, buf[..t.size].to_vec()));
                }
            }
            let mut events = 0;
            while eps[side].poll_event().is_some() {
                events += 1;
                assert!(events < 100_000, "poll_event does not end");
            }
            let s = eps[side].stats();
            assert!(s.connections <= config.max_connections);
            assert!(s.half_open <= config.max_half_open);
            assert!(s.backlog <= config.accept_backlog);
            for &h in &held[side] {
                if let Some(c) = eps[side].connection(h) {
                    // Config::recv_buffer: received data uses at most twice it
                    // (the next packet in order releases the held ones).
                    assert!(c.readable_bytes() <= 2 * config.connection.recv_buffer as usize);
                    assert!(
                        c.unacked_bytes()
                            <= (config.connection.send_buffer + config.connection.max_window)
                                as usize
                    );
                }
            }
        }
        // A timer due now is no longer due once handled and what it
        // asked for is sent, or a driver would spin on it. (A timer may
        // be due long ago: say the FIN wait of a connection released
        // after time jumped ahead.)
        for side in 0..2 {
            if eps[side].poll_timeout().is_some_and(|t| t <= now) {
                eps[side].handle_timeout(now);
                while eps[side].poll_transmit(now, &mut buf).is_some() {}
                while eps[side].poll_event().is_some() {}
                let t = eps[side].poll_timeout();
                assert!(
                    t.is_none_or(|t| t > now),
                    "a timer stays due after handle_timeout"
                );
            }
        }
    }
});
