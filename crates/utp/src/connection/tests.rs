use super::*;
use crate::config::IP_UDP_OVERHEAD;
use crate::packet::SelectiveAck;

const MS: Duration = Duration::from_millis(1);

/// Acks every packet: these tests step packets by hand without firing
/// timers, and count on the ack of each. Delayed acks have their own
/// tests (`delayed_ack_*`). Every packet is sized by the MTU: path MTU
/// discovery has its own tests (`path_mtu_*`).
fn config() -> Config {
    Config {
        ack_every: 1,
        mtu_discovery: false,
        ..Config::default()
    }
}

/// Everything `c` wants to send now, as owned datagrams.
fn drain(c: &mut Connection, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; c.config().max_packet_size()];
    while let Some(n) = c.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 100_000, "poll_transmit does not stop");
    }
    out
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn parse(d: &[u8]) -> Packet<'_> {
    Packet::parse(d).unwrap()
}

/// A connected pair (a dialled b) at `now`, every handshake packet
/// delivered.
fn pair_with(config: Config, a_seq: u16, b_seq: u16) -> (Connection, Connection, Instant) {
    let now = Instant::now();
    let mut a = Connection::connect(config, now, 1000, SeqNr(a_seq));
    let syn = drain(&mut a, now);
    assert_eq!(syn.len(), 1);
    let mut b = Connection::accept(config, now, &parse(&syn[0]), SeqNr(b_seq)).unwrap();
    let now = now + MS;
    for d in drain(&mut b, now) {
        a.handle(now, &d).unwrap();
    }
    assert_eq!(a.state(), State::Connected);
    // a acks at once, which confirms it to b.
    for d in drain(&mut a, now) {
        b.handle(now, &d).unwrap();
    }
    assert!(b.is_confirmed());
    (a, b, now)
}

fn pair() -> (Connection, Connection, Instant) {
    pair_with(config(), 40000, 7)
}

/// Moves packets both ways until neither side sends, `step` apart.
fn exchange(a: &mut Connection, b: &mut Connection, now: &mut Instant) {
    for _ in 0..100_000 {
        let ab = drain(a, *now);
        let ba = drain(b, *now);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        *now += MS;
        for d in ab {
            b.handle(*now, &d).unwrap();
        }
        for d in ba {
            a.handle(*now, &d).unwrap();
        }
    }
    panic!("exchange does not settle");
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

#[test]
fn handshake_follows_bep29_and_libtorrent() {
    let now = Instant::now();
    let mut a = Connection::connect(config(), now, 1000, SeqNr(500));
    assert_eq!(a.state(), State::SynSent);
    let syn = drain(&mut a, now);
    let p = parse(&syn[0]);
    assert_eq!(p.header.packet_type, PacketType::Syn);
    assert_eq!(
        p.header.connection_id, 1000,
        "a SYN carries the id we receive on"
    );
    assert_eq!(p.header.seq_nr, SeqNr(500));
    assert_eq!(p.header.timestamp_difference_micros, 0);
    assert_eq!(a.send_id(), 1001);

    let mut b = Connection::accept(config(), now, &p, SeqNr(9000)).unwrap();
    assert_eq!(b.recv_id(), 1001);
    assert_eq!(b.send_id(), 1000);
    assert_eq!(events(&mut b), [Event::Connected, Event::Writable]);
    let state = drain(&mut b, now);
    assert_eq!(state.len(), 1);
    let s = parse(&state[0]);
    assert_eq!(s.header.packet_type, PacketType::State);
    assert_eq!(s.header.connection_id, 1000);
    assert_eq!(s.header.ack_nr, SeqNr(500));
    assert_eq!(
        s.header.seq_nr,
        SeqNr(9000),
        "STATE carries our next seq_nr"
    );
    assert!(!b.is_confirmed());

    a.handle(now + MS, &state[0]).unwrap();
    assert_eq!(a.state(), State::Connected);
    assert_eq!(events(&mut a), [Event::Connected, Event::Writable]);
    assert!(a.stats().rtt.is_some(), "the SYN's round trip is a sample");

    // The first data packet from b is 9000 and a takes it in order.
    b.write(b"hello").unwrap();
    let d = drain(&mut b, now + MS);
    assert_eq!(parse(&d[0]).header.seq_nr, SeqNr(9000));
    a.handle(now + 2 * MS, &d[0]).unwrap();
    assert_eq!(read_all(&mut a), b"hello");

    // And a's first data packet is 501; it confirms b.
    a.write(b"hi").unwrap();
    let d = drain(&mut a, now + 2 * MS);
    assert_eq!(parse(&d[0]).header.seq_nr, SeqNr(501));
    assert_eq!(parse(&d[0]).header.connection_id, 1001);
    b.handle(now + 3 * MS, &d[0]).unwrap();
    assert!(b.is_confirmed());
    assert_eq!(read_all(&mut b), b"hi");
}

#[test]
fn data_before_the_state_waits_for_the_syn_retransmit() {
    // The STATE is lost and b sends data at once: a cannot know where b's
    // stream starts from a data packet, so it drops it, sends its SYN
    // again, and b's answer (with b's first sequence number) connects it.
    let now = Instant::now();
    let mut cfg = config();
    cfg.nagle = false;
    let mut a = Connection::connect(cfg, now, 7, SeqNr(1));
    let syn = drain(&mut a, now);
    let mut b = Connection::accept(cfg, now, &parse(&syn[0]), SeqNr(65535)).unwrap();
    let _lost = drain(&mut b, now);
    b.write(b"first").unwrap();
    let d1 = drain(&mut b, now);
    b.write(b"second").unwrap();
    let d2 = drain(&mut b, now);
    assert_eq!((d1.len(), d2.len()), (1, 1));
    a.handle(now + MS, &d2[0]).unwrap();
    assert_eq!(a.state(), State::SynSent);
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t);
    let syn2 = drain(&mut a, t);
    b.handle(t, &syn2[0]).unwrap();
    let state = drain(&mut b, t);
    let s = parse(&state[0]);
    assert_eq!(s.header.packet_type, PacketType::State);
    assert_eq!(s.header.seq_nr, SeqNr(65535), "b's first sequence number");
    a.handle(t, &state[0]).unwrap();
    assert_eq!(a.state(), State::Connected);
    let mut now = t;
    exchange(&mut a, &mut b, &mut now);
    // b resends what a dropped at its timeout.
    for _ in 0..10 {
        if let Some(t) = b.poll_timeout() {
            now = now.max(t);
            b.handle_timeout(now);
        }
        exchange(&mut a, &mut b, &mut now);
    }
    assert_eq!(read_all(&mut a), b"firstsecond");
}

#[test]
fn retransmitted_syn_gets_the_state_again() {
    let now = Instant::now();
    let mut a = Connection::connect(config(), now, 7, SeqNr(1));
    let syn = drain(&mut a, now);
    let mut b = Connection::accept(config(), now, &parse(&syn[0]), SeqNr(100)).unwrap();
    let _lost = drain(&mut b, now);
    // a times out and sends the SYN again.
    let t = a.poll_timeout().unwrap();
    assert_eq!(t - now, Duration::from_secs(1), "initial timeout 1 s");
    a.handle_timeout(t);
    let syn2 = drain(&mut a, t);
    assert_eq!(parse(&syn2[0]).header.packet_type, PacketType::Syn);
    b.handle(t, &syn2[0]).unwrap();
    let state = drain(&mut b, t);
    assert_eq!(parse(&state[0]).header.packet_type, PacketType::State);
    a.handle(t, &state[0]).unwrap();
    assert_eq!(a.state(), State::Connected);
}

#[test]
fn syn_without_answer_times_out_after_its_retransmits() {
    let start = Instant::now();
    let mut a = Connection::connect(config(), start, 7, SeqNr(1));
    let mut sent = drain(&mut a, start).len();
    let mut now = start;
    while let Some(t) = a.poll_timeout() {
        now = t;
        a.handle_timeout(now);
        sent += drain(&mut a, now).len();
    }
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.error(), Some(&Error::TimedOut));
    assert_eq!(
        events(&mut a),
        [Event::Readable, Event::Writable, Event::TimedOut]
    );
    assert_eq!(sent, 3, "one SYN and two retransmits");
    // 1 s, then 2 s, then 4 s.
    assert_eq!(now - start, Duration::from_secs(7));
    let mut buf = [0u8; 8];
    assert_eq!(a.read(&mut buf), Err(Error::TimedOut));
    assert_eq!(a.write(b"x"), Err(Error::TimedOut));
}

#[test]
fn unconfirmed_incoming_connection_gives_up_like_a_syn() {
    let now = Instant::now();
    let mut a = Connection::connect(config(), now, 7, SeqNr(1));
    let syn = drain(&mut a, now);
    let mut b = Connection::accept(config(), now, &parse(&syn[0]), SeqNr(100)).unwrap();
    assert_eq!(drain(&mut b, now).len(), 1);
    b.write(b"x").unwrap();
    assert_eq!(drain(&mut b, now).len(), 1);
    // Nothing more from a (spoofed SYN): the STATE and the data are sent
    // again at each timeout, twice, then b gives up.
    let mut sent = 0;
    while let Some(t) = b.poll_timeout() {
        b.handle_timeout(t);
        sent += drain(&mut b, t).len();
        assert!(sent < 20);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.error(), Some(&Error::TimedOut));
    assert_eq!(
        b.stats().timeouts,
        u64::from(config().max_syn_retransmits) + 1
    );
    // Each time the STATE (which alone connects the remote) and the data.
    assert_eq!(sent, 2 * usize::from(config().max_syn_retransmits));
}

#[test]
fn a_megabyte_each_way_in_order() {
    let (mut a, mut b, mut now) = pair();
    let ab = data(1 << 20, 1);
    let ba = data(700_000, 2);
    let (mut wa, mut wb) = (0, 0);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..100_000 {
        if wa < ab.len() {
            wa += a.write(&ab[wa..]).unwrap_or(0);
        }
        if wb < ba.len() {
            wb += b.write(&ba[wb..]).unwrap_or(0);
        }
        let x = drain(&mut a, now);
        let y = drain(&mut b, now);
        now += MS;
        for d in &x {
            b.handle(now, d).unwrap();
        }
        for d in &y {
            a.handle(now, d).unwrap();
        }
        rb.extend(read_all(&mut b));
        ra.extend(read_all(&mut a));
        if ra.len() == ba.len() && rb.len() == ab.len() {
            break;
        }
    }
    assert!(rb == ab, "a to b");
    assert!(ra == ba, "b to a");
    assert_eq!(a.stats().retransmits + a.stats().fast_retransmits, 0);
    assert!(
        a.stats().window > config().initial_window,
        "the window grew"
    );
}

#[test]
fn sequence_numbers_wrap() {
    let (mut a, mut b, mut now) = pair_with(config(), 65500, 65530);
    let msg = data(200 * 1000, 3);
    let mut w = 0;
    let mut got = Vec::new();
    for _ in 0..10_000 {
        if w < msg.len() {
            w += a.write(&msg[w..]).unwrap_or(0);
        }
        exchange(&mut a, &mut b, &mut now);
        got.extend(read_all(&mut b));
        if got.len() == msg.len() {
            break;
        }
    }
    assert!(got == msg);
    assert!(a.seq_nr.0 < 1000, "wrapped past 65535: {:?}", a.seq_nr);
}

#[test]
fn reordered_packets_are_held_and_selectively_acked() {
    let (mut a, mut b, now) = pair();
    let msg = data(10 * 1426, 4);
    a.write(&msg).unwrap();
    let mut pkts = drain(&mut a, now);
    // The initial window (3000 bytes) lets 3 packets out; grow it first.
    assert!(pkts.len() >= 2, "{}", pkts.len());
    pkts.reverse();
    let mut acks = Vec::new();
    for d in &pkts {
        b.handle(now, d).unwrap();
        acks.extend(drain(&mut b, now));
    }
    // The last one was the first in order: everything is delivered.
    assert_eq!(read_all(&mut b), &msg[..pkts.len() * 1426]);
    // The acks before that carried selective acks.
    let with_sack = acks
        .iter()
        .filter(|d| parse(d).selective_ack.is_some())
        .count();
    assert_eq!(with_sack, pkts.len() - 1);
}

#[test]
fn timeout_retransmits_and_cuts_the_window() {
    let (mut a, mut b, mut now) = pair();
    a.write(&data(5000, 5)).unwrap();
    let lost = drain(&mut a, now);
    assert!(!lost.is_empty());
    let before = a.stats().window;
    let t = a.poll_timeout().unwrap();
    assert!(
        t - now >= Duration::from_millis(500),
        "BEP 29 minimum timeout"
    );
    now = t;
    a.handle_timeout(now);
    assert_eq!(a.stats().window, a.config().max_payload() as u32);
    assert!(a.stats().window < before);
    let again = drain(&mut a, now);
    assert_eq!(again.len(), 1, "one packet in a one-packet window");
    assert_eq!(
        parse(&again[0]).header.seq_nr,
        parse(&lost[0]).header.seq_nr
    );
    for d in again {
        b.handle(now, &d).unwrap();
    }
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(read_all(&mut b), data(5000, 5));
    assert!(a.stats().retransmits >= 1);
    assert_eq!(a.stats().timeouts, 1);
}

#[test]
fn consecutive_timeouts_double_and_end_the_connection() {
    let (mut a, _b, now) = pair();
    a.write(b"into the void").unwrap();
    drain(&mut a, now);
    let mut last = now;
    let mut gaps = Vec::new();
    while let Some(t) = a.poll_timeout() {
        let before = a.stats().timeouts;
        a.handle_timeout(t);
        if a.stats().timeouts > before {
            gaps.push(t - last);
            last = t;
        }
        drain(&mut a, t);
        assert!(gaps.len() < 50);
    }
    assert_eq!(a.error(), Some(&Error::TimedOut));
    assert_eq!(gaps.len(), usize::from(config().max_timeouts) + 1);
    for w in gaps.windows(2).skip(1) {
        assert!(
            w[1] >= w[0] * 2 - MS || w[1] == config().max_timeout,
            "{gaps:?}"
        );
    }
}

#[test]
fn three_duplicate_acks_trigger_a_fast_retransmit() {
    let (mut a, mut b, mut now) = pair();
    // Grow the window so that several packets go at once.
    for _ in 0..20 {
        a.write(&data(30_000, 6)).unwrap();
        exchange(&mut a, &mut b, &mut now);
        read_all(&mut b);
    }
    a.write(&data(10 * 1426, 7)).unwrap();
    let pkts = drain(&mut a, now);
    assert!(pkts.len() >= 5, "{}", pkts.len());
    now += MS;
    // Packet 0 is lost; 1..5 arrive, each answered with an ack.
    let mut acks = Vec::new();
    for d in &pkts[1..5] {
        b.handle(now, d).unwrap();
        acks.extend(drain(&mut b, now));
    }
    assert_eq!(acks.len(), 4);
    let fast_before = a.stats().fast_retransmits;
    let losses_before = a.stats().losses;
    let window_before = a.stats().window;
    for d in &acks {
        a.handle(now, d).unwrap();
    }
    let resent = drain(&mut a, now);
    assert_eq!(
        parse(&resent[0]).header.seq_nr,
        parse(&pkts[0]).header.seq_nr,
        "the hole is resent first, long before the timeout"
    );
    assert_eq!(a.stats().fast_retransmits, fast_before + 1);
    assert_eq!(a.stats().losses, losses_before + 1);
    assert!(
        a.stats().window <= window_before / 2 + 1,
        "the window halves on loss"
    );
    for d in resent {
        b.handle(now, &d).unwrap();
    }
    for d in &pkts[5..] {
        b.handle(now, d).unwrap();
    }
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(read_all(&mut b), data(10 * 1426, 7));
}

#[test]
fn fin_both_ways_closes_both() {
    let (mut a, mut b, mut now) = pair();
    a.write(b"last words").unwrap();
    a.close();
    assert_eq!(a.write(b"more"), Err(Error::WriteAfterClose));
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(read_all(&mut b), b"last words");
    assert!(b.is_read_closed());
    let mut buf = [0u8; 4];
    assert_eq!(b.read(&mut buf), Ok(0), "end of stream");
    assert_eq!(a.state(), State::Connected, "a waits for b's FIN");
    // Half-closed: b can still send.
    b.write(b"reply").unwrap();
    b.close();
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(read_all(&mut a), b"reply");
    assert_eq!(a.state(), State::Closed);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(a.error(), None);
    assert!(events(&mut a).contains(&Event::Closed));
    assert!(events(&mut b).contains(&Event::Closed));
    // a lingers to ack a retransmitted FIN, then is drained.
    assert!(!a.is_drained());
    let t = a.poll_timeout().unwrap();
    assert!(t - now <= config().fin_wait);
    a.handle_timeout(t);
    assert!(a.is_drained());
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn fin_out_of_order_waits_for_the_missing_data() {
    let (mut a, mut b, now) = pair();
    a.write(b"abc").unwrap();
    let d1 = drain(&mut a, now);
    a.close();
    // Nagle holds nothing here: the FIN follows the data.
    let fin = drain(&mut a, now);
    assert_eq!(parse(&fin[0]).header.packet_type, PacketType::Fin);
    b.handle(now, &fin[0]).unwrap();
    assert!(!b.is_read_closed());
    b.handle(now, &d1[0]).unwrap();
    assert!(b.is_read_closed());
    assert_eq!(read_all(&mut b), b"abc");
}

#[test]
fn reset_ends_the_connection_with_an_error() {
    let (mut a, mut b, now) = pair();
    a.abort();
    assert_eq!(a.error(), Some(&Error::Aborted));
    let rst = drain(&mut a, now);
    assert_eq!(rst.len(), 1);
    assert_eq!(parse(&rst[0]).header.packet_type, PacketType::Reset);
    b.handle(now, &rst[0]).unwrap();
    assert_eq!(b.state(), State::Closed);
    assert!(events(&mut b).contains(&Event::Reset));
    let mut buf = [0u8; 4];
    assert_eq!(b.read(&mut buf), Err(Error::ConnectionReset));
}

#[test]
fn reset_answering_a_syn_is_a_refusal() {
    let now = Instant::now();
    let mut a = Connection::connect(config(), now, 7, SeqNr(1));
    let syn = drain(&mut a, now);
    let s = parse(&syn[0]).header;
    // libutp's answer to a stray: the packet's id, ack_nr = its seq_nr.
    let rst = Packet {
        header: Header {
            packet_type: PacketType::Reset,
            connection_id: s.connection_id.wrapping_add(1),
            timestamp_micros: 1,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: SeqNr(77),
            ack_nr: s.seq_nr,
        },
        selective_ack: None,
        payload: &[],
    };
    a.handle(now, &rst.to_vec()).unwrap();
    assert_eq!(a.error(), Some(&Error::ConnectionRefused));
}

#[test]
fn keepalive_after_idle() {
    let (mut a, mut b, mut now) = pair();
    exchange(&mut a, &mut b, &mut now);
    let t = a.poll_timeout().unwrap();
    assert!(t - now >= Duration::from_secs(28), "{:?}", t - now);
    a.handle_timeout(t);
    let ka = drain(&mut a, t);
    assert_eq!(ka.len(), 1);
    assert_eq!(parse(&ka[0]).header.packet_type, PacketType::State);
    assert!(a.poll_timeout().unwrap() >= t + Duration::from_secs(29));
}

#[test]
fn send_buffer_pushes_back_and_reports_writable() {
    let mut cfg = config();
    cfg.send_buffer = 4096;
    let (mut a, _b, now) = pair_with(cfg, 1, 2);
    events(&mut a);
    assert_eq!(a.write(&[0; 10_000]), Ok(4096));
    assert_eq!(a.write(&[0; 10]), Err(Error::WouldBlock));
    assert_eq!(a.send_capacity(), 0);
    drain(&mut a, now);
    assert!(a.send_capacity() > 0);
    assert_eq!(events(&mut a), [Event::Writable]);
}

#[test]
fn receive_buffer_is_bounded_and_the_window_reopens() {
    let mut cfg = config();
    cfg.recv_buffer = 16 * 1024;
    let (mut a, mut b, mut now) = pair_with(cfg, 1, 2);
    let msg = data(200_000, 8);
    let mut w = 0;
    // b never reads: a must stop at b's window.
    for _ in 0..50 {
        if w < msg.len() {
            w += a.write(&msg[w..]).unwrap_or(0);
        }
        exchange(&mut a, &mut b, &mut now);
        // Let timers (window probes) fire.
        if let Some(t) = a.poll_timeout() {
            now = now.max(t);
            a.handle_timeout(now);
        }
        assert!(b.readable_bytes() <= 16 * 1024);
        assert!(b.recv_window() <= 16 * 1024);
    }
    assert!(b.readable_bytes() >= 12 * 1024, "{}", b.readable_bytes());
    assert_eq!(a.error(), None, "a zero window is not an error");
    // Reading reopens the window and the rest arrives.
    let mut got = Vec::new();
    for _ in 0..10_000 {
        got.extend(read_all(&mut b));
        if w < msg.len() {
            w += a.write(&msg[w..]).unwrap_or(0);
        }
        exchange(&mut a, &mut b, &mut now);
        if got.len() == msg.len() {
            break;
        }
        if let Some(t) = a.poll_timeout() {
            if a.wants_transmit() {
                now = now.max(t);
                a.handle_timeout(now);
            }
        }
    }
    assert!(got == msg);
}

#[test]
fn acks_of_data_never_sent_are_dropped() {
    let (mut a, mut b, now) = pair();
    a.write(b"abc").unwrap();
    let d = drain(&mut a, now);
    b.handle(now, &d[0]).unwrap();
    let ack = drain(&mut b, now);
    let mut forged = ack[0].clone();
    // ack_nr 1000 past what a sent.
    let h = parse(&ack[0]).header;
    forged[18..20].copy_from_slice(&h.ack_nr.add(1000).0.to_be_bytes());
    let before = a.stats();
    a.handle(now, &forged).unwrap();
    assert_eq!(a.stats().dropped, before.dropped + 1);
    assert_eq!(a.stats().bytes_in_flight, before.bytes_in_flight);
    // The real ack still works.
    a.handle(now, &ack[0]).unwrap();
    assert_eq!(a.stats().bytes_in_flight, 0);
}

#[test]
fn absurd_selective_ack_is_harmless() {
    let (mut a, mut b, mut now) = pair();
    for _ in 0..10 {
        a.write(&data(20_000, 9)).unwrap();
        exchange(&mut a, &mut b, &mut now);
    }
    a.write(&data(6000, 9)).unwrap();
    let pkts = drain(&mut a, now);
    let h = parse(&pkts[0]).header;
    let mask = [0xffu8; 252];
    let forged = Packet {
        header: Header {
            packet_type: PacketType::State,
            connection_id: a.recv_id(),
            timestamp_micros: 5,
            timestamp_difference_micros: 5,
            window: 1 << 20,
            seq_nr: SeqNr(0),
            ack_nr: h.seq_nr.sub(1),
        },
        selective_ack: Some(SelectiveAck::new(&mask).unwrap()),
        payload: &[],
    }
    .to_vec();
    for _ in 0..5 {
        a.handle(now, &forged).unwrap();
    }
    // Only the packets really sent were touched; no panic, bounded resends.
    assert!(a.stats().fast_retransmits <= 1);
    let resent = drain(&mut a, now);
    assert!(resent.len() <= pkts.len() + 1);
    for d in pkts.iter().chain(&resent) {
        b.handle(now, d).unwrap();
    }
    exchange(&mut a, &mut b, &mut now);
}

/// libtorrent's STATE after a loss carries `(span + 7) / 8` bytes of
/// selective ack (here 5, not a multiple of 4). It must count: the packets
/// it names leave the flight and the hole is resent at once. Refusing such
/// acks stalled every upload to libtorrent after its first loss.
#[test]
fn libtorrent_selective_ack_of_5_bytes_acks_and_triggers_the_resend() {
    let config = Config {
        initial_window: 64 * 1024,
        ..config()
    };
    let (mut a, mut b, now) = pair_with(config, 40000, 7);
    a.write(&data(100_000, 3)).unwrap();
    let pkts = drain(&mut a, now);
    assert!(pkts.len() >= 35, "{} packets in flight", pkts.len());
    let first = parse(&pkts[0]).header.seq_nr;
    let per_packet = parse(&pkts[1]).payload.len();
    let before = a.stats();
    // The first packet is lost; the next 33 arrive (bits 0..=32). b's last
    // ack, rewritten with the 5-byte mask libtorrent would send.
    for d in &pkts[1..34] {
        b.handle(now, d).unwrap();
    }
    let ack = drain(&mut b, now).pop().expect("b acks");
    assert_eq!(parse(&ack).header.ack_nr, first.sub(1));
    let mut state = ack[..20].to_vec();
    state[1] = 1;
    state.extend_from_slice(&[0, 5, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(parse(&state).selective_ack.unwrap().bitmask().len(), 5);
    a.handle(now, &state).unwrap();
    let after = a.stats();
    assert_eq!(after.dropped, before.dropped, "the ack was taken");
    assert_eq!(
        before.bytes_in_flight - after.bytes_in_flight,
        33 * per_packet as u32,
        "the 33 selectively acked packets left the flight"
    );
    let resent = drain(&mut a, now);
    assert_eq!(
        parse(&resent[0]).header.seq_nr,
        first,
        "the hole goes first"
    );
    assert_eq!(a.stats().fast_retransmits, before.fast_retransmits + 1);
}

/// `Config::recv_buffer` bounds what is received at twice its size, as
/// documented: packets held out of order count against the window, but
/// the next packet in order is taken whenever the in-order bytes fit, and
/// the held packets it releases join them. Here 7,000 bytes wait beyond a
/// gap of 16 packets; the 16 in-order packets (16,000 bytes) each fit a
/// 16 KiB buffer, and the last releases the held ones: 23,000 readable
/// bytes, more than the buffer, under twice it, window 0.
#[test]
fn received_data_stays_within_twice_the_receive_buffer() {
    let config = Config {
        recv_buffer: 16 * 1024,
        ..config()
    };
    let (a, mut b, now) = pair_with(config, 40000, 7);
    let (first, id, ack) = (a.seq_nr, b.recv_id(), a.ack_nr);
    let packet = |seq: SeqNr| {
        Packet {
            header: Header {
                packet_type: PacketType::Data,
                connection_id: id,
                timestamp_micros: 9,
                timestamp_difference_micros: 0,
                window: 1 << 20,
                seq_nr: seq,
                ack_nr: ack,
            },
            selective_ack: None,
            payload: &[0x5a; 1000],
        }
        .to_vec()
    };
    for i in 16..23 {
        b.handle(now, &packet(first.add(i))).unwrap();
    }
    assert_eq!((b.readable_bytes(), b.reorder_bytes), (0, 7000));
    for i in 0..15 {
        b.handle(now, &packet(first.add(i))).unwrap();
    }
    assert_eq!((b.readable_bytes(), b.reorder_bytes), (15_000, 7000));
    assert_eq!(b.recv_window(), 0, "held packets count against the window");
    b.handle(now, &packet(first.add(15))).unwrap();
    assert_eq!((b.readable_bytes(), b.reorder_bytes), (23_000, 0));
    assert!(b.readable_bytes() > config.recv_buffer as usize);
    assert!(b.readable_bytes() <= 2 * config.recv_buffer as usize);
    assert_eq!(b.recv_window(), 0);
    assert_eq!(b.stats().dropped, 0);
}

#[test]
fn hostile_sequence_numbers_are_bounded() {
    let (a, mut b, now) = pair();
    let base = Packet {
        header: Header {
            packet_type: PacketType::Data,
            connection_id: b.recv_id(),
            timestamp_micros: 9,
            timestamp_difference_micros: 0,
            window: 1 << 20,
            seq_nr: SeqNr(0),
            ack_nr: a.seq_nr.sub(1),
        },
        selective_ack: None,
        payload: &[0xaa; 1000],
    };
    // Every sequence number, including wrapped and far-ahead ones.
    for s in (0..=u16::MAX).step_by(7) {
        let mut p = base;
        p.header.seq_nr = SeqNr(s);
        b.handle(now, &p.to_vec()).unwrap();
    }
    assert!(b.reorder.len() <= usize::from(config().max_reorder));
    assert!(b.readable_bytes() <= config().recv_buffer as usize);
    assert!(b.reorder_bytes <= config().recv_buffer as usize);
    // Whatever b sends now (one ack with a selective ack) is valid.
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    assert!(parse(&out[0]).selective_ack.is_some());
}

#[test]
fn zero_window_sends_nothing_until_the_probe() {
    let (mut a, mut b, now) = pair();
    let state = Packet {
        header: Header {
            packet_type: PacketType::State,
            connection_id: a.recv_id(),
            timestamp_micros: 9,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: b.seq_nr,
            ack_nr: a.seq_nr.sub(1),
        },
        selective_ack: None,
        payload: &[],
    }
    .to_vec();
    a.handle(now, &state).unwrap();
    a.write(b"blocked").unwrap();
    assert!(drain(&mut a, now).is_empty(), "zero window: no data");
    let t = a.poll_timeout().unwrap();
    assert!(t > now);
    a.handle_timeout(t);
    let probe = drain(&mut a, t);
    assert_eq!(probe.len(), 1, "one probe per timeout");
    b.handle(t, &probe[0]).unwrap();
    assert_eq!(read_all(&mut b), b"blocked");
    // A peer that keeps its window shut but answers is alive: probes go
    // out with backoff up to the largest timeout, one per timeout.
    let (mut a, _b, start) = pair();
    a.handle(start, &state).unwrap();
    a.write(&data(100_000, 1)).unwrap();
    let mut probes = 0;
    let mut now = start;
    while now < start + Duration::from_secs(600) {
        let t = a.poll_timeout().unwrap();
        now = t;
        a.handle_timeout(t);
        let out = drain(&mut a, t);
        probes += out
            .iter()
            .filter(|d| parse(d).header.packet_type == PacketType::Data)
            .count();
        a.handle(t, &state).unwrap();
    }
    assert!(!a.is_closed());
    assert!((5..=25).contains(&probes), "{probes} probes in 10 minutes");
    // One that says nothing is given up.
    let (mut a, _b, now) = pair();
    a.handle(now, &state).unwrap();
    a.write(&data(100_000, 1)).unwrap();
    let mut n = 0;
    while let Some(t) = a.poll_timeout() {
        a.handle_timeout(t);
        n += drain(&mut a, t).len();
        assert!(n < 100);
    }
    assert_eq!(a.error(), Some(&Error::TimedOut));
}

#[test]
fn detached_connection_acks_and_drops_data() {
    let (mut a, mut b, mut now) = pair();
    b.detach();
    a.write(&data(50_000, 3)).unwrap();
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(b.readable_bytes(), 0);
    assert_eq!(a.stats().bytes_in_flight, 0, "all acked");
    a.close();
    exchange(&mut a, &mut b, &mut now);
    assert!(a.is_closed() && b.is_closed());
}

#[test]
fn detached_connection_gives_up_waiting_for_the_remote_fin() {
    let (mut a, mut b, mut now) = pair();
    b.detach();
    exchange(&mut a, &mut b, &mut now);
    assert!(b.fin_acked_at.is_some());
    let t = b.poll_timeout().unwrap();
    assert!(t <= now + config().fin_wait);
    b.handle_timeout(now + config().fin_wait);
    assert!(b.is_closed());
}

/// Defaults (delayed acks on), with a first window wide enough for 20
/// packets at once, every packet sized by the MTU.
fn wide_config() -> Config {
    Config {
        initial_window: 64 * 1024,
        mtu_discovery: false,
        ..Config::default()
    }
}

fn kinds_and_acks(ds: &[Vec<u8>]) -> Vec<(PacketType, u16)> {
    ds.iter()
        .map(|d| {
            let h = parse(d).header;
            (h.packet_type, h.ack_nr.0)
        })
        .collect()
}

#[test]
fn delayed_ack_every_n_packets_and_at_the_timer() {
    let config = wide_config();
    assert_eq!((config.ack_every, config.ack_delay), (16, 2 * MS));
    let (mut a, mut b, mut now) = pair_with(config, 100, 200);
    a.write(&data(20 * config.max_payload(), 1)).unwrap();
    let packets = drain(&mut a, now);
    assert_eq!(packets.len(), 20);
    let seq = |i: usize| parse(&packets[i]).header.seq_nr.0;
    now += MS;
    for d in &packets[..15] {
        b.handle(now, d).unwrap();
    }
    assert!(drain(&mut b, now).is_empty(), "15 packets: no ack yet");
    assert_eq!(b.poll_timeout(), Some(now + config.ack_delay));
    // The 16th brings the ack at once.
    b.handle(now, &packets[15]).unwrap();
    assert_eq!(
        kinds_and_acks(&drain(&mut b, now)),
        [(PacketType::State, seq(15))]
    );
    // Four more: acked when the timer fires, not before.
    for d in &packets[16..] {
        b.handle(now, d).unwrap();
    }
    assert!(drain(&mut b, now).is_empty());
    let due = now + config.ack_delay;
    assert_eq!(b.poll_timeout(), Some(due));
    b.handle_timeout(due - Duration::from_micros(1));
    assert!(drain(&mut b, due).is_empty(), "not before the timer");
    b.handle_timeout(due);
    assert_eq!(
        kinds_and_acks(&drain(&mut b, due)),
        [(PacketType::State, seq(19))]
    );
    assert_ne!(b.poll_timeout(), Some(due), "the timer is spent");
}

#[test]
fn delayed_ack_rides_on_data_and_every_one_acks_each_packet() {
    // Data going the other way carries the ack: no separate STATE.
    let config = wide_config();
    let (mut a, mut b, mut now) = pair_with(config, 100, 200);
    a.write(&data(3 * config.max_payload(), 1)).unwrap();
    let packets = drain(&mut a, now);
    now += MS;
    for d in &packets {
        b.handle(now, d).unwrap();
    }
    b.write(b"reply").unwrap();
    let out = drain(&mut b, now);
    let last = parse(packets.last().unwrap()).header.seq_nr.0;
    assert_eq!(kinds_and_acks(&out), [(PacketType::Data, last)]);
    assert!(
        b.poll_timeout() > Some(now + config.ack_delay),
        "no ack pending"
    );

    // ack_every 1: each packet acked at once (the setting's lower bound).
    let config = Config {
        ack_every: 1,
        ..wide_config()
    };
    let (mut a, mut b, now) = pair_with(config, 100, 200);
    a.write(&data(3 * config.max_payload(), 1)).unwrap();
    for d in drain(&mut a, now) {
        b.handle(now, &d).unwrap();
        assert_eq!(drain(&mut b, now).len(), 1);
    }
}

#[test]
fn delayed_ack_never_holds_back_out_of_order_packets() {
    let config = wide_config();
    let (mut a, mut b, now) = pair_with(config, 100, 200);
    a.write(&data(4 * config.max_payload(), 1)).unwrap();
    let packets = drain(&mut a, now);
    let seq = |i: usize| parse(&packets[i]).header.seq_nr.0;
    // 0 arrives: delayed. 2 arrives after a hole: acked at once, with a
    // selective ack for the remote's fast retransmit.
    b.handle(now, &packets[0]).unwrap();
    assert!(drain(&mut b, now).is_empty());
    b.handle(now, &packets[2]).unwrap();
    let out = drain(&mut b, now);
    assert_eq!(kinds_and_acks(&out), [(PacketType::State, seq(0))]);
    assert!(parse(&out[0]).selective_ack.is_some());
    // A duplicate: at once (the remote counts duplicate acks).
    b.handle(now, &packets[2]).unwrap();
    assert_eq!(drain(&mut b, now).len(), 1);
    // 1 fills the hole: at once, acking through 2.
    b.handle(now, &packets[1]).unwrap();
    assert_eq!(
        kinds_and_acks(&drain(&mut b, now)),
        [(PacketType::State, seq(2))]
    );
    // Back in order: delayed again.
    b.handle(now, &packets[3]).unwrap();
    assert!(drain(&mut b, now).is_empty());
}

/// A lone packet (a request) lost while the remote streams data to us is
/// sent again once the remote's packets keep not acking it for
/// `max(2 * rtt + 4 * rtt_var, min_probe_timeout)`, not at the 500 ms
/// retransmission timeout.
#[test]
fn lost_lone_packet_is_resent_while_the_remote_talks() {
    let (mut a, mut b, mut now) = pair();
    // An RTT sample of 1 ms for a.
    a.write(b"hello").unwrap();
    exchange(&mut a, &mut b, &mut now);
    read_all(&mut b);
    let rtt = a.stats().rtt.unwrap();
    assert!(rtt <= 2 * MS);
    let wait = config().min_probe_timeout;
    assert!(wait >= rtt * 2 + 4 * rtt, "the floor rules at this RTT");

    let t0 = now;
    a.write(b"request").unwrap();
    let lost = drain(&mut a, t0);
    assert_eq!(lost.len(), 1, "the request, dropped on the way");
    let lost_seq = parse(&lost[0]).header.seq_nr;
    let mut resent_at = None;
    let mut t = t0;
    while t < t0 + 40 * MS && resent_at.is_none() {
        t += MS;
        // b streams: a packet's worth every millisecond.
        b.write(&data(1000, 3)).unwrap();
        let from_b = drain(&mut b, t);
        for d in &from_b {
            a.handle(t, d).unwrap();
        }
        for d in drain(&mut a, t) {
            let p = parse(&d);
            if p.header.packet_type == PacketType::Data && p.header.seq_nr == lost_seq {
                assert_eq!(p.payload, b"request");
                resent_at = Some(t);
            }
            b.handle(t, &d).unwrap();
        }
        read_all(&mut a);
    }
    let resent_at =
        resent_at.unwrap_or_else(|| panic!("not sent again: {:?} {:?}", a.stats(), b.stats()));
    assert!(resent_at >= t0 + wait, "not before min_probe_timeout");
    assert!(resent_at <= t0 + wait + 2 * MS, "soon after it");
    assert_eq!(a.stats().fast_retransmits, 1);
    assert_eq!(a.stats().timeouts, 0);
    assert_eq!(read_all(&mut b), b"request");
    // Acked now: b goes on talking, nothing more is resent.
    let packets_before = a.stats().packets_sent;
    for _ in 0..30 {
        t += MS;
        b.write(&data(1000, 3)).unwrap();
        for d in drain(&mut b, t) {
            a.handle(t, &d).unwrap();
        }
        read_all(&mut a);
        let _ = drain(&mut a, t);
    }
    assert_eq!(a.stats().fast_retransmits, 1);
    assert!(a.stats().packets_sent > packets_before, "a acks b's data");
}

#[test]
fn no_early_resend_without_packets_from_the_remote() {
    // Silence is the retransmission timeout's business.
    let (mut a, mut b, mut now) = pair();
    a.write(b"hello").unwrap();
    exchange(&mut a, &mut b, &mut now);
    a.write(b"request").unwrap();
    assert_eq!(drain(&mut a, now).len(), 1);
    let later = now + 100 * MS;
    a.handle_timeout(later);
    assert!(drain(&mut a, later).is_empty());
    assert_eq!(a.stats().fast_retransmits, 0);
}

#[test]
fn delayed_ack_every_quarter_of_the_receive_buffer() {
    // 8118-byte packets into a 60000-byte buffer: the ack goes after 2
    // (16236 bytes, past a quarter), not after 16 packets, which would
    // not fit the window.
    let config = Config {
        mtu: 8192,
        recv_buffer: 60_000,
        ..wide_config()
    };
    let (mut a, mut b, now) = pair_with(config, 100, 200);
    a.write(&data(4 * config.max_payload(), 1)).unwrap();
    let packets = drain(&mut a, now);
    assert_eq!(packets.len(), 4);
    b.handle(now, &packets[0]).unwrap();
    assert!(drain(&mut b, now).is_empty(), "one: delayed");
    b.handle(now, &packets[1]).unwrap();
    assert_eq!(drain(&mut b, now).len(), 1, "two: acked");
    b.handle(now, &packets[2]).unwrap();
    assert!(drain(&mut b, now).is_empty(), "counting starts again");
}

/// Sends `msg` from `a` to `b` over a link that carries IP packets of up
/// to `path_mtu` bytes: a bigger datagram sent with the don't-fragment
/// bit (a path MTU probe) is dropped, any other is fragmented and
/// delivered. Timers fire when nothing else moves. Returns what `b` read.
fn over_path(
    a: &mut Connection,
    b: &mut Connection,
    mut now: Instant,
    path_mtu: usize,
    msg: &[u8],
) -> (Vec<u8>, usize) {
    let mut got = Vec::new();
    let mut written = 0;
    let mut probes_dropped = 0;
    let mut buf = vec![0u8; a.config().max_packet_size()];
    for _ in 0..1_000_000 {
        if written < msg.len() {
            written += a.write(&msg[written..]).unwrap_or(0);
        }
        let mut ab = Vec::new();
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            ab.push((buf[..n].to_vec(), a.transmit_is_mtu_probe()));
        }
        let ba = drain(b, now);
        if ab.is_empty() && ba.is_empty() {
            if got.len() == msg.len() {
                return (got, probes_dropped);
            }
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a timer while data is outstanding");
            now = now.max(next);
            for c in [&mut *a, &mut *b] {
                if c.poll_timeout().is_some_and(|t| t <= now) {
                    c.handle_timeout(now);
                }
            }
            continue;
        }
        now += MS;
        for (d, probe) in ab {
            if probe && d.len() + IP_UDP_OVERHEAD > path_mtu {
                probes_dropped += 1;
                continue;
            }
            b.handle(now, &d).unwrap();
        }
        for d in ba {
            a.handle(now, &d).unwrap();
        }
        got.extend(read_all(b));
    }
    panic!("the transfer does not end");
}

fn discovering() -> Config {
    Config {
        ack_every: 1,
        initial_window: 64 * 1024,
        ..Config::default()
    }
}

#[test]
fn path_mtu_discovery_finds_a_narrower_path_without_cutting_the_window() {
    let (mut a, mut b, now) = pair_with(discovering(), 9, 900);
    assert_eq!(a.stats().mtu, 1280, "starts at the floor");
    let msg = data(2 << 20, 5);
    let (got, dropped) = over_path(&mut a, &mut b, now, 1400, &msg);
    assert!(got == msg, "every byte, in order");
    let s = a.stats();
    assert!(
        s.mtu <= 1400 && 1400 - s.mtu < crate::pmtu::PRECISION,
        "{s:?}"
    );
    assert!(
        dropped >= 1 && s.mtu_probes <= 6,
        "{dropped} dropped, {s:?}"
    );
    assert_eq!(s.losses, 0, "a lost probe is not congestion: {s:?}");
    // Ordinary packets now carry the payload of a 1400-byte MTU at most.
    a.write(&data(10_000, 1)).unwrap();
    let mut buf = vec![0u8; a.config().max_packet_size()];
    while let Some(n) = a.poll_transmit(now, &mut buf) {
        assert!(n + IP_UDP_OVERHEAD <= usize::from(s.mtu), "{n}");
    }
}

#[test]
fn path_mtu_discovery_reaches_the_configured_mtu_on_a_wide_path() {
    let (mut a, mut b, now) = pair_with(discovering(), 65000, 3);
    let msg = data(1 << 20, 6);
    let (got, dropped) = over_path(&mut a, &mut b, now, 9000, &msg);
    assert!(got == msg);
    let s = a.stats();
    assert!(1500 - s.mtu < crate::pmtu::PRECISION, "{s:?}");
    assert_eq!(dropped, 0);
    assert_eq!((s.losses, s.retransmits, s.fast_retransmits), (0, 0, 0));
    // Without discovery every packet is sized by `mtu` from the start.
    let (mut a, mut b, now) = pair_with(
        Config {
            mtu_discovery: false,
            ..discovering()
        },
        1,
        2,
    );
    let (got, _) = over_path(&mut a, &mut b, now, 1500, &msg);
    assert!(got == msg);
    assert_eq!((a.stats().mtu, a.stats().mtu_probes), (1500, 0));
}

/// The socket refuses a probe (`EMSGSIZE`): the packet goes again at
/// once without the don't-fragment bit, as a first transmission, and the
/// next probe is smaller.
#[test]
fn path_mtu_probe_refused_by_the_socket_is_resent_plainly() {
    let (mut a, mut b, mut now) = pair_with(discovering(), 500, 600);
    a.write(&data(100_000, 2)).unwrap();
    let mut buf = vec![0u8; a.config().max_packet_size()];
    let mut probe = None;
    while let Some(n) = a.poll_transmit(now, &mut buf) {
        if a.transmit_is_mtu_probe() {
            probe = Some(buf[..n].to_vec());
            break;
        }
        b.handle(now, &buf[..n]).unwrap();
    }
    let probe = probe.expect("a probe among the first packets");
    let seq = parse(&probe).header.seq_nr;
    assert_eq!(probe.len() + IP_UDP_OVERHEAD, 1390);
    let before = a.stats();
    a.refuse_mtu_probe();
    assert!(!a.transmit_is_mtu_probe());
    let n = a.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(parse(&buf[..n]).header.seq_nr, seq, "resent at once");
    assert_eq!(&buf[20..n], &probe[20..], "the same payload");
    assert!(!a.transmit_is_mtu_probe(), "without the don't-fragment bit");
    let after = a.stats();
    assert_eq!(
        (after.retransmits, after.fast_retransmits, after.losses),
        (before.retransmits, before.fast_retransmits, before.losses)
    );
    b.handle(now, &buf[..n]).unwrap();
    // The next probe is below the refused size.
    exchange(&mut a, &mut b, &mut now);
    a.write(&data(100_000, 3)).unwrap();
    let mut next = None;
    while let Some(n) = a.poll_transmit(now, &mut buf) {
        if a.transmit_is_mtu_probe() {
            next = Some(n);
            break;
        }
    }
    let next = next.expect("another probe");
    assert!(next + IP_UDP_OVERHEAD < 1390, "{next}");
    assert!(a.stats().mtu < 1390, "{:?}", a.stats());
}

#[test]
fn readable_and_consume_read_without_a_buffer_to_fill() {
    let (mut a, mut b, mut now) = pair();
    a.write(b"hello, world").unwrap();
    exchange(&mut a, &mut b, &mut now);
    assert_eq!(b.readable(), b"hello, world");
    b.consume(7);
    assert_eq!(b.readable(), b"world");
    let mut buf = [0u8; 16];
    assert_eq!(b.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"world");
    assert!(b.readable().is_empty());
    b.consume(0);
    assert_eq!(b.read(&mut buf), Err(Error::WouldBlock));
    let past = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.consume(1)));
    assert!(past.is_err(), "consume past the readable bytes panics");
}
