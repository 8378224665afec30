use super::*;
use crate::config::Config;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

const A: u16 = 1111;
const B: u16 = 2222;

/// Acks every packet: `exchange` moves packets at one instant without
/// firing timers, so a delayed ack would never go.
fn endpoint(seed: u64) -> Endpoint {
    let config = EndpointConfig {
        connection: Config {
            ack_every: 1,
            ..Config::default()
        },
        ..EndpointConfig::default()
    };
    Endpoint::new(config, seed).unwrap()
}

/// Delivers everything each endpoint sends to the other, until quiet.
fn exchange(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> usize {
    let mut buf = vec![0u8; 1500];
    let mut total = 0;
    for _ in 0..10_000 {
        let mut moved = 0;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            assert_eq!(t.destination, addr(B));
            b.handle(now, addr(A), &buf[..t.size]).unwrap();
            moved += 1;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            assert_eq!(t.destination, addr(A));
            a.handle(now, addr(B), &buf[..t.size]).unwrap();
            moved += 1;
        }
        if moved == 0 {
            return total;
        }
        total += moved;
    }
    panic!("does not settle");
}

fn events(e: &mut Endpoint) -> Vec<(ConnectionHandle, Event)> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

#[test]
fn connect_accept_and_talk() {
    let now = Instant::now();
    let (mut a, mut b) = (endpoint(1), endpoint(2));
    let ha = a.connect(now, addr(B)).unwrap();
    exchange(&mut a, &mut b, now);
    assert!(events(&mut a).contains(&(ha, Event::Connected)));
    let (hb, from) = b.accept().unwrap();
    assert_eq!(from, addr(A));
    assert!(b.accept().is_none());
    assert!(events(&mut b).contains(&(hb, Event::Connected)));
    a.connection_mut(ha).unwrap().write(b"ping").unwrap();
    exchange(&mut a, &mut b, now);
    assert!(events(&mut b).contains(&(hb, Event::Readable)));
    let mut buf = [0u8; 10];
    let n = b.connection_mut(hb).unwrap().read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    // Both close; both are removed once released.
    a.connection_mut(ha).unwrap().close();
    b.connection_mut(hb).unwrap().close();
    exchange(&mut a, &mut b, now);
    assert!(a.connection(ha).unwrap().is_closed());
    assert_eq!(a.len(), 1, "held until released");
    a.release(ha);
    b.release(hb);
    // The side that finished first lingers to ack a lost FIN.
    let later = now + Duration::from_secs(11);
    a.handle_timeout(later);
    b.handle_timeout(later);
    assert!(a.is_empty() && b.is_empty());
    assert!(a.connection(ha).is_none());
}

#[test]
fn strays_get_a_reset_like_libutp_and_resets_get_nothing() {
    let now = Instant::now();
    let mut e = endpoint(3);
    let stray = Packet {
        header: Header {
            packet_type: PacketType::Data,
            connection_id: 4242,
            timestamp_micros: 1,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: SeqNr(77),
            ack_nr: SeqNr(5),
        },
        selective_ack: None,
        payload: b"x",
    };
    assert_eq!(e.handle(now, addr(9), &stray.to_vec()), Ok(Routed::Stray));
    let mut buf = [0u8; 1500];
    let t = e.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.destination, addr(9));
    let rst = Packet::parse(&buf[..t.size]).unwrap().header;
    assert_eq!(rst.packet_type, PacketType::Reset);
    assert_eq!(rst.connection_id, 4242);
    assert_eq!(rst.ack_nr, SeqNr(77));
    assert!(e.poll_transmit(now, &mut buf).is_none());
    // A RESET for no connection is never answered.
    let mut r = stray;
    r.header.packet_type = PacketType::Reset;
    r.payload = &[];
    assert_eq!(e.handle(now, addr(9), &r.to_vec()), Ok(Routed::Stray));
    assert!(e.poll_transmit(now, &mut buf).is_none());
    assert!(e.is_empty());
}

#[test]
fn stray_resets_are_rate_limited_at_and_past_the_limit() {
    let config = EndpointConfig {
        max_resets_per_second: 10,
        ..EndpointConfig::default()
    };
    let mut e = Endpoint::new(config, 4).unwrap();
    let now = Instant::now();
    let mut buf = [0u8; 1500];
    let mut sent = 0;
    for i in 0..10u16 {
        let stray = Packet {
            header: Header {
                packet_type: PacketType::State,
                connection_id: i,
                timestamp_micros: 1,
                timestamp_difference_micros: 0,
                window: 0,
                seq_nr: SeqNr(i),
                ack_nr: SeqNr(0),
            },
            selective_ack: None,
            payload: &[],
        };
        e.handle(now, addr(9), &stray.to_vec()).unwrap();
        while e.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
    }
    assert_eq!(sent, 10, "at the limit: every stray answered");
    let mut one_more = [0u8; 20];
    one_more[0] = PacketType::State.first_byte();
    e.handle(now, addr(9), &one_more).unwrap();
    assert!(
        e.poll_transmit(now, &mut buf).is_none(),
        "past the limit: silence"
    );
    let later = now + Duration::from_secs(1);
    e.handle(later, addr(9), &one_more).unwrap();
    assert!(e.poll_transmit(later, &mut buf).is_some(), "a new second");
    assert_eq!(e.stats().resets_sent, 11);
}

fn syn(id: u16, seq: u16) -> Vec<u8> {
    Packet {
        header: Header {
            packet_type: PacketType::Syn,
            connection_id: id,
            timestamp_micros: 1,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: SeqNr(seq),
            ack_nr: SeqNr(0),
        },
        selective_ack: None,
        payload: &[],
    }
    .to_vec()
}

#[test]
fn a_syn_flood_cannot_grow_memory() {
    let start = Instant::now();
    let mut e = endpoint(5);
    let mut buf = [0u8; 1500];
    let mut accepted_peak = 0;
    // 60 s of 1000 spoofed SYNs per second from ever new ports.
    for sec in 0..60u64 {
        let now = start + Duration::from_secs(sec);
        for i in 0..1000u64 {
            let n = sec * 1000 + i;
            let from = SocketAddr::from(([127, 0, (n >> 16) as u8, 1], n as u16));
            let _ = e.handle(now, from, &syn(n as u16, 1));
            while e.poll_transmit(now, &mut buf).is_some() {}
        }
        e.handle_timeout(now);
        let s = e.stats();
        assert!(s.half_open <= 64, "{s:?}");
        assert!(s.backlog <= 128, "{s:?}");
        assert!(s.connections <= 64 + 128, "{s:?}");
        assert!(e.entries.len() <= 1000, "{}", e.entries.len());
        accepted_peak = accepted_peak.max(s.connections);
    }
    assert!(e.stats().syns_refused > 50_000);
    // The spoofed connections die within their SYN retries (1 + 2 + 4 s)
    // and, not accepted, are removed.
    let now = start + Duration::from_secs(80);
    while let Some(t) = e.poll_timeout() {
        if t > now {
            break;
        }
        e.handle_timeout(t);
        while e.poll_transmit(t, &mut buf).is_some() {}
    }
    e.handle_timeout(now);
    assert_eq!(e.accept(), None, "nothing left to accept");
    assert_eq!(e.stats().connections, 0, "{:?}", e.stats());
    assert!(accepted_peak > 0);
}

#[test]
fn connection_limits_at_and_past() {
    let config = EndpointConfig {
        max_connections: 3,
        max_half_open: 2,
        accept_backlog: 3,
        ..EndpointConfig::default()
    };
    let mut e = Endpoint::new(config, 6).unwrap();
    let now = Instant::now();
    // Two half-open: the limit; the third SYN is refused.
    assert!(matches!(
        e.handle(now, addr(1), &syn(10, 1)),
        Ok(Routed::NewConnection(_))
    ));
    assert!(matches!(
        e.handle(now, addr(2), &syn(10, 1)),
        Ok(Routed::NewConnection(_))
    ));
    assert_eq!(e.handle(now, addr(3), &syn(10, 1)), Ok(Routed::Refused));
    // A retransmitted SYN goes to its connection.
    assert!(matches!(
        e.handle(now, addr(1), &syn(10, 1)),
        Ok(Routed::Connection(_))
    ));
    // One outgoing: the total limit.
    e.connect(now, addr(4)).unwrap();
    assert_eq!(
        e.connect(now, addr(5)),
        Err(Error::ConnectionLimit {
            limit: "max_connections"
        })
    );
    assert_eq!(e.stats().syns_refused, 1);
    // Incoming off.
    let config = EndpointConfig {
        accept_incoming: false,
        ..EndpointConfig::default()
    };
    let mut e = Endpoint::new(config, 7).unwrap();
    assert_eq!(e.handle(now, addr(1), &syn(10, 1)), Ok(Routed::Refused));
    assert!(Endpoint::new(
        EndpointConfig {
            max_half_open: 0,
            ..EndpointConfig::default()
        },
        1
    )
    .is_err());
}

#[test]
fn resets_reach_the_connection_whatever_id_they_carry() {
    let now = Instant::now();
    let (mut a, mut b) = (endpoint(8), endpoint(9));
    let ha = a.connect(now, addr(B)).unwrap();
    exchange(&mut a, &mut b, now);
    let (hb, _) = b.accept().unwrap();
    events(&mut a);
    // b aborts: its RESET carries its send id (a's receive id).
    b.abort(hb);
    exchange(&mut a, &mut b, now);
    assert!(events(&mut a).contains(&(ha, Event::Reset)));
    assert_eq!(
        a.connection(ha).unwrap().error(),
        Some(&Error::ConnectionReset)
    );
    assert!(b.is_empty());
    // libutp's stray answer carries the id of our packets (our send id).
    let hc = a.connect(now, addr(B)).unwrap();
    let send_id = a.connection(hc).unwrap().send_id();
    let rst = Packet {
        header: Header {
            packet_type: PacketType::Reset,
            connection_id: send_id,
            timestamp_micros: 0,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: SeqNr(1),
            ack_nr: SeqNr(0),
        },
        selective_ack: None,
        payload: &[],
    };
    let mut buf = [0u8; 1500];
    while a.poll_transmit(now, &mut buf).is_some() {}
    assert_eq!(
        a.handle(now, addr(B), &rst.to_vec()),
        Ok(Routed::Connection(hc))
    );
}

#[test]
fn released_connections_are_removed_when_done() {
    let now = Instant::now();
    let (mut a, mut b) = (endpoint(10), endpoint(11));
    let ha = a.connect(now, addr(B)).unwrap();
    exchange(&mut a, &mut b, now);
    let (hb, _) = b.accept().unwrap();
    a.connection_mut(ha).unwrap().write(&[7; 100_000]).unwrap();
    a.release(ha);
    for i in 0..100 {
        exchange(&mut a, &mut b, now + Duration::from_millis(i));
    }
    let mut got = 0;
    let mut buf = [0u8; 65536];
    loop {
        match b.connection_mut(hb).unwrap().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("{e}"),
        }
        exchange(&mut a, &mut b, now);
    }
    assert_eq!(got, 100_000, "what was written before release is delivered");
    b.release(hb);
    exchange(&mut a, &mut b, now);
    let later = now + Duration::from_secs(11);
    a.handle_timeout(later);
    b.handle_timeout(later);
    assert!(a.is_empty(), "{:?}", a.stats());
    assert!(b.is_empty());
}

#[test]
fn one_timer_for_all_connections() {
    let now = Instant::now();
    let mut e = endpoint(12);
    let mut buf = [0u8; 1500];
    let mut hs = Vec::new();
    for port in 0..100 {
        hs.push(e.connect(now, addr(3000 + port)).unwrap());
    }
    while e.poll_transmit(now, &mut buf).is_some() {}
    // Every SYN waits 1 s; the endpoint's next timer is that.
    assert_eq!(e.poll_timeout(), Some(now + Duration::from_secs(1)));
    let t1 = now + Duration::from_secs(1);
    e.handle_timeout(t1);
    let mut resent = 0;
    while e.poll_transmit(t1, &mut buf).is_some() {
        resent += 1;
    }
    assert_eq!(resent, 100);
    assert_eq!(e.poll_timeout(), Some(now + Duration::from_secs(3)));
    let _ = Config::default();
}
