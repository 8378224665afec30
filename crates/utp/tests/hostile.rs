//! Hostile peers against one connection, through the public API only: acks
//! of data never sent (in every packet type), a zero window announced
//! forever while our writer keeps writing, selective acks of every length
//! and pattern, and random packets at random times. None may make us
//! panic, spin (the work and the datagrams per input are bounded, no
//! deadline lies in the past) or hold more than the settings allow.

mod common;

use std::time::{Duration, Instant};

use common::Rng;
use seedbed_utp::{
    Config, Connection, Event, Header, Packet, PacketType, SelectiveAck, SeqNr, State,
    MAX_SELECTIVE_ACK_LEN,
};

/// Our side of a connection (it dialled), and what the attacker knows: the
/// id we receive on, its own next sequence number, our last sent one.
struct Target {
    conn: Connection,
    config: Config,
    now: Instant,
    /// The attacker's next sequence number.
    their_seq: SeqNr,
    /// Our last sent sequence number (seen in what we sent).
    last_sent: SeqNr,
    buf: Vec<u8>,
}

impl Target {
    fn new(config: Config) -> Target {
        let now = Instant::now();
        let mut conn = Connection::connect(config, now, 5000, SeqNr(65_530));
        let mut buf = vec![0u8; config.max_packet_size()];
        let n = conn.poll_transmit(now, &mut buf).expect("the SYN");
        let syn = Packet::parse(&buf[..n]).unwrap();
        assert_eq!(syn.header.packet_type, PacketType::Syn);
        let mut t = Target {
            conn,
            config,
            now,
            their_seq: SeqNr(100),
            last_sent: SeqNr(65_530),
            buf,
        };
        // The remote's STATE acks the SYN (seq 65530).
        let h = t.header(PacketType::State, SeqNr(65_530), 1 << 20);
        t.send(h, None, &[]);
        assert_eq!(t.conn.state(), State::Connected);
        t.drain();
        assert_eq!(t.conn.poll_event(), Some(Event::Connected));
        t
    }

    /// Our last sent sequence number.
    fn last_sent(&self) -> SeqNr {
        self.last_sent
    }

    fn header(&self, packet_type: PacketType, ack_nr: SeqNr, window: u32) -> Header {
        Header {
            packet_type,
            connection_id: self.conn.recv_id(),
            timestamp_micros: 1_000,
            timestamp_difference_micros: 20_000,
            window,
            seq_nr: self.their_seq,
            ack_nr,
        }
    }

    fn send(&mut self, header: Header, sack: Option<&[u8]>, payload: &[u8]) {
        let datagram = Packet {
            header,
            selective_ack: sack.map(|m| SelectiveAck::new(m).unwrap()),
            payload,
        }
        .to_vec();
        self.conn.handle(self.now, &datagram).unwrap();
        self.check_bounds();
    }

    /// Everything we send now, as owned datagrams; a burst is bounded.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(n) = self.conn.poll_transmit(self.now, &mut self.buf) {
            assert!(n <= self.config.max_packet_size());
            let p = Packet::parse(&self.buf[..n]).expect("we send valid packets");
            if matches!(p.header.packet_type, PacketType::Data | PacketType::Fin)
                && p.header.seq_nr.is_after(self.last_sent)
            {
                self.last_sent = p.header.seq_nr;
            }
            out.push(self.buf[..n].to_vec());
            assert!(out.len() <= 4096, "poll_transmit does not stop");
        }
        self.check_bounds();
        out
    }

    fn check_bounds(&self) {
        let c = &self.conn;
        assert!(c.readable_bytes() <= self.config.recv_buffer as usize);
        assert!(
            c.unacked_bytes() <= (self.config.send_buffer + self.config.max_window) as usize,
            "{} unacked",
            c.unacked_bytes()
        );
        assert!(c.stats().bytes_in_flight <= self.config.max_window);
        if let Some(t) = c.poll_timeout() {
            // A deadline far in the past would be handled again and again.
            assert!(t + Duration::from_secs(1) >= self.now, "stale deadline");
        }
    }

    /// Moves time to the next deadline (at most `limit` ahead) and handles it.
    fn advance(&mut self, limit: Duration) {
        let next = self.conn.poll_timeout().map_or(self.now + limit, |t| {
            assert!(t >= self.now, "a deadline in the past is a spin");
            t.min(self.now + limit)
        });
        self.now = next;
        self.conn.handle_timeout(self.now);
        self.check_bounds();
    }
}

#[test]
fn acks_of_data_never_sent_are_dropped_in_every_packet_type() {
    let mut t = Target::new(Config::default());
    t.conn.write(&[1u8; 5000]).unwrap();
    let sent = t.drain();
    assert!(!sent.is_empty(), "data in flight");
    let last = t.last_sent();
    let before = t.conn.stats();
    while t.conn.poll_event().is_some() {}
    let mut forged = 0;
    for ahead in [1u16, 2, 100, 1000, 32_000] {
        for kind in [
            PacketType::State,
            PacketType::Data,
            PacketType::Fin,
            PacketType::Reset,
        ] {
            let h = t.header(kind, last.add(ahead), 1 << 20);
            t.send(
                h,
                Some(&[0xff; 32]),
                if kind == PacketType::Data { b"x" } else { &[] },
            );
            forged += 1;
        }
    }
    let after = t.conn.stats();
    assert_eq!(t.conn.state(), State::Connected, "not reset, not closed");
    assert_eq!(after.dropped, before.dropped + forged);
    assert_eq!(
        after.bytes_in_flight, before.bytes_in_flight,
        "nothing acked"
    );
    assert_eq!(after.bytes_received, 0, "their payloads were dropped");
    assert_eq!(after.fast_retransmits, 0);
    assert_eq!(t.conn.readable_bytes(), 0);
    assert_eq!(t.conn.poll_event(), None);
    assert!(t.drain().is_empty(), "nothing to answer");
    // The real ack still works afterwards.
    let h = t.header(PacketType::State, last, 1 << 20);
    t.send(h, None, &[]);
    assert_eq!(t.conn.stats().bytes_in_flight, 0);
}

#[test]
fn zero_window_forever_bounds_the_writer_and_the_probes() {
    let config = Config {
        send_buffer: 64 * 1024,
        ..Config::default()
    };
    let mut t = Target::new(config);
    // The remote shuts its window and answers every probe, for ten minutes.
    let h = t.header(PacketType::State, t.last_sent(), 0);
    t.send(h, None, &[]);
    let chunk = vec![7u8; 1 << 20];
    let mut written = 0usize;
    let mut probes = 0usize;
    let mut rounds = 0usize;
    let start = t.now;
    while t.now < start + Duration::from_secs(600) {
        written += t.conn.write(&chunk).unwrap_or(0);
        for d in t.drain() {
            let p = Packet::parse(&d).unwrap();
            if p.header.packet_type == PacketType::Data {
                probes += 1;
                // Ack nothing new, the window stays shut.
                let h = t.header(PacketType::State, p.header.seq_nr.sub(1), 0);
                t.send(h, None, &[]);
            }
        }
        t.advance(Duration::from_secs(60));
        rounds += 1;
        assert!(rounds < 10_000, "timer spins");
    }
    assert!(written <= config.send_buffer as usize + config.max_payload());
    assert!(
        written >= config.send_buffer as usize,
        "the buffer fills once"
    );
    assert!(probes <= 200, "{probes} probes in 10 minutes");
    assert!(probes > 0, "the window is probed");
    assert_eq!(
        t.conn.state(),
        State::Connected,
        "an answering peer is alive"
    );
    // The window opens: data flows again.
    let h = t.header(PacketType::State, t.last_sent(), 1 << 20);
    t.send(h, None, &[]);
    assert!(t.drain().len() > 1);
}

#[test]
fn selective_acks_of_every_length_and_pattern_cost_bounded_work() {
    let mut t = Target::new(Config::default());
    let mut rng = Rng::new(11);
    let mut max_burst = 0;
    for round in 0..3000u32 {
        // Keep data in flight to be (falsely) acked.
        let _ = t.conn.write(&[3u8; 20_000]);
        t.drain();
        let last = t.last_sent();
        let in_flight = t.conn.stats().bytes_in_flight as u64;
        let ack = match round % 3 {
            0 => last.sub(rng.below(in_flight / 1000 + 1) as u16),
            1 => SeqNr(rng.next_u64() as u16),
            _ => last.sub(in_flight as u16 / 1400),
        };
        let len = 4 * (1 + rng.below((MAX_SELECTIVE_ACK_LEN / 4) as u64) as usize);
        let mask: Vec<u8> = match round % 4 {
            0 => vec![0xff; len],
            1 => vec![0xaa; len],
            _ => (0..len).map(|_| rng.next_u64() as u8).collect(),
        };
        let mut h = t.header(PacketType::State, ack, 1 << 20);
        if ack.is_after(last) {
            h.ack_nr = last;
        }
        t.send(h, Some(&mask), &[]);
        let out = t.drain();
        // New data is bound by the congestion window, resends by a small
        // per-ack cap: never a burst the mask alone could cause.
        let window_packets = t.conn.stats().window as usize / t.config.max_payload() + 1;
        assert!(
            out.len() <= window_packets + 8,
            "{} datagrams for one ack, window {window_packets} packets",
            out.len()
        );
        max_burst = max_burst.max(out.len());
    }
    assert_eq!(t.conn.state(), State::Connected, "acks alone never close");
    assert!(max_burst > 0);
}

#[test]
fn random_packets_at_random_times_never_panic_or_grow() {
    let config = Config {
        recv_buffer: 64 * 1024,
        send_buffer: 64 * 1024,
        max_reorder: 64,
        ..Config::default()
    };
    for seed in 0..6u64 {
        let mut t = Target::new(config);
        let mut rng = Rng::new(seed + 100);
        let payload: Vec<u8> = (0..1500).map(|_| rng.next_u64() as u8).collect();
        let mut read_buf = [0u8; 4096];
        let mut connected_events = 0;
        for _ in 0..4000 {
            let kind = match rng.below(6) {
                0 | 1 => PacketType::Data,
                2 => PacketType::State,
                3 => PacketType::Fin,
                4 => PacketType::Reset,
                _ => PacketType::Syn,
            };
            let last = t.last_sent();
            // Mostly near the real numbers (to reach deep states), else anywhere.
            let seq = if rng.below(5) > 0 {
                t.their_seq.add(rng.below(80) as u16)
            } else {
                SeqNr(rng.next_u64() as u16)
            };
            let ack = if rng.below(5) > 0 {
                last.sub(rng.below(40) as u16)
            } else {
                SeqNr(rng.next_u64() as u16)
            };
            let mut h = t.header(kind, ack, (rng.next_u64() as u32) >> rng.below(32));
            h.seq_nr = seq;
            h.timestamp_micros = rng.next_u64() as u32;
            h.timestamp_difference_micros = (rng.next_u64() as u32) >> rng.below(32);
            if rng.below(10) == 0 {
                h.connection_id = rng.next_u64() as u16;
            }
            let sack_len = 4 * rng.below(64) as usize;
            let mask: Vec<u8> = (0..sack_len).map(|_| rng.next_u64() as u8).collect();
            let sack = (sack_len > 0 && rng.below(3) == 0).then_some(&mask[..]);
            let len = rng.below(1401) as usize;
            t.send(h, sack, &payload[..len]);
            if seq == t.their_seq && kind == PacketType::Data {
                t.their_seq = t.their_seq.add(1);
            }
            t.drain();
            if rng.below(2) == 0 {
                let _ = t.conn.read(&mut read_buf);
            }
            let _ = t.conn.write(&payload[..rng.below(1500) as usize]);
            if rng.below(4) == 0 {
                t.advance(Duration::from_micros(rng.below(3_000_000)));
            }
            while let Some(e) = t.conn.poll_event() {
                if e == Event::Connected {
                    connected_events += 1;
                }
            }
            if t.conn.is_closed() {
                break;
            }
        }
        assert_eq!(connected_events, 0, "connected once, before the loop");
        // Whatever state it is left in, its timers move time forward (no
        // spin) and a silent remote is given up or kept alive cheaply: at
        // most a datagram or two per timer.
        let end = t.now + Duration::from_secs(3600);
        let mut sent = 0;
        let mut timers = 0;
        while t.now < end && t.conn.poll_timeout().is_some() {
            let before = t.now;
            t.advance(Duration::from_secs(3600));
            assert!(t.now > before || t.conn.poll_timeout().is_none_or(|d| d > t.now));
            sent += t.drain().len();
            timers += 1;
            assert!(timers < 10_000, "seed {seed}: timers spin");
        }
        assert!(
            sent <= 2 * timers + 1,
            "seed {seed}: {sent} datagrams for {timers} timers"
        );
    }
}
