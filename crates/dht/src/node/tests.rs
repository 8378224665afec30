//! State machine tests on an instant, lossless in-process network.

use std::collections::BTreeMap;

use super::*;
use crate::krpc::Body;

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from(([127, 0, (i >> 8) as u8, i as u8], 6000))
}

fn id(i: u32) -> NodeId {
    // Spread ids over the space deterministically.
    let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = [0u8; 20];
    for b in &mut out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    NodeId(out)
}

fn config() -> Config {
    Config {
        ipv6: false,
        ..Config::default()
    }
}

struct Net {
    now: Instant,
    nodes: BTreeMap<SocketAddr, Dht>,
    events: BTreeMap<SocketAddr, Vec<Event>>,
    /// Datagrams sent to addresses with no node.
    lost: Vec<Transmit>,
}

impl Net {
    fn new(n: u32) -> Net {
        let now = Instant::now();
        let mut nodes = BTreeMap::new();
        for i in 0..n {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            nodes.insert(addr(i), Dht::new(config(), id(i), seed, now));
        }
        Net {
            now,
            nodes,
            events: BTreeMap::new(),
            lost: Vec::new(),
        }
    }

    fn node(&mut self, i: u32) -> &mut Dht {
        self.nodes.get_mut(&addr(i)).unwrap()
    }

    /// Delivers every queued datagram until none are left.
    fn settle(&mut self) {
        loop {
            let mut sent = Vec::new();
            for (from, n) in self.nodes.iter_mut() {
                while let Some(t) = n.poll_transmit() {
                    sent.push((*from, t));
                }
                let ev = self.events.entry(*from).or_default();
                while let Some(e) = n.poll_event() {
                    ev.push(e);
                }
            }
            if sent.is_empty() {
                return;
            }
            for (from, t) in sent {
                match self.nodes.get_mut(&t.to) {
                    Some(n) => n.handle(self.now, from, &t.data),
                    None => self.lost.push(t),
                }
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .nodes
                .values()
                .filter_map(|n| n.poll_timeout())
                .min()
                .filter(|t| *t <= end);
            let Some(t) = next else { break };
            self.now = t.max(self.now);
            for n in self.nodes.values_mut() {
                if n.poll_timeout().is_some_and(|x| x <= self.now) {
                    n.handle_timeout(self.now);
                }
            }
            self.settle();
        }
        self.now = end;
    }

    fn take_events(&mut self, i: u32) -> Vec<Event> {
        std::mem::take(self.events.entry(addr(i)).or_default())
    }

    /// Every node bootstraps from node 0.
    fn bootstrap_all(&mut self) {
        let n = self.nodes.len() as u32;
        for i in 1..n {
            let now = self.now;
            self.node(i).bootstrap(now, &[addr(0)]).unwrap();
            self.settle();
        }
    }
}

fn done_stats(events: &[Event], lookup: LookupId) -> LookupStats {
    events
        .iter()
        .find_map(|e| match e {
            Event::LookupDone {
                lookup: l, stats, ..
            } if *l == lookup => Some(stats.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("lookup {lookup:?} not done: {events:?}"))
}

#[test]
fn bootstrap_fills_tables() {
    let mut net = Net::new(30);
    net.bootstrap_all();
    for i in 0..30 {
        let s = net.node(i).stats();
        assert!(s.table_v4.nodes >= 8, "node {i}: {:?}", s.table_v4);
        assert_eq!(s.pending, 0);
        assert_eq!(s.lookups, 0);
    }
}

#[test]
fn announce_then_get_peers() {
    let mut net = Net::new(40);
    net.bootstrap_all();
    let info_hash = InfoHash(id(1000).0);
    let now = net.now;
    let a = net.node(5).announce(now, info_hash, 7000, false).unwrap();
    net.settle();
    let ev = net.take_events(5);
    let stats = done_stats(&ev, a);
    assert!(stats.announces_acked >= 8, "{stats:?}");
    assert_eq!(net.node(5).stats().announces, 1);
    let g = net.node(33).get_peers(now, info_hash).unwrap();
    net.settle();
    let ev = net.take_events(33);
    let peers: Vec<SocketAddr> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Peers { lookup, peers, .. } if *lookup == g => Some(peers.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(peers, vec![SocketAddr::new(addr(5).ip(), 7000)]);
    assert_eq!(done_stats(&ev, g).peers, 1);
}

#[test]
fn implied_port_uses_the_source_port() {
    let mut net = Net::new(20);
    net.bootstrap_all();
    let info_hash = InfoHash([0x42; 20]);
    let now = net.now;
    net.node(3).announce(now, info_hash, 1, true).unwrap();
    net.settle();
    let g = net.node(9).get_peers(now, info_hash).unwrap();
    net.settle();
    let ev = net.take_events(9);
    assert!(ev.iter().any(|e| matches!(e, Event::Peers { lookup, peers, .. } if *lookup == g && peers == &vec![addr(3)])));
}

#[test]
fn reannounces_every_30_minutes_until_stopped() {
    let mut net = Net::new(15);
    net.bootstrap_all();
    let info_hash = InfoHash([7; 20]);
    let now = net.now;
    net.node(2).announce(now, info_hash, 9000, false).unwrap();
    net.settle();
    net.take_events(2);
    net.advance(Duration::from_secs(30 * 60 + 1));
    let ev = net.take_events(2);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(
                e,
                Event::LookupDone {
                    kind: LookupKind::Announce { .. },
                    ..
                }
            ))
            .count(),
        1,
        "one re-announce after 30 minutes"
    );
    // The peer is still stored somewhere (re-announced before the 30 min expiry ran out... or just after).
    assert!(net
        .nodes
        .values()
        .any(|n| n.storage.contains(&info_hash, net.now)));
    assert!(net.node(2).stop_announce(&info_hash));
    net.advance(Duration::from_secs(31 * 60));
    let ev = net.take_events(2);
    assert!(!ev.iter().any(|e| matches!(
        e,
        Event::LookupDone {
            kind: LookupKind::Announce { .. },
            ..
        }
    )));
    // Peers expire after 30 minutes without a re-announce.
    assert!(!net
        .nodes
        .values()
        .any(|n| n.storage.contains(&info_hash, net.now)));
}

/// Sends `datagram` to node 0 from `from` and returns node 0's replies.
fn exchange(net: &mut Net, from: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
    let now = net.now;
    net.node(0).handle(now, from, datagram);
    std::iter::from_fn(|| net.node(0).poll_transmit())
        .filter(|t| t.to == from)
        .map(|t| t.data)
        .collect()
}

fn decode_reply(bytes: &[u8]) -> Message<'_> {
    Message::decode(bytes).unwrap()
}

#[test]
fn bad_token_gets_error_203() {
    let mut net = Net::new(1);
    let q = Message {
        transaction_id: TransactionId::new(b"t1").unwrap(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Query(Query::AnnouncePeer {
            id: id(99),
            info_hash: InfoHash([1; 20]),
            port: 6881,
            implied_port: false,
            token: b"12345678",
        }),
    };
    let replies = exchange(&mut net, addr(99), &q.to_vec());
    let r = replies
        .iter()
        .map(|b| decode_reply(b))
        .find(|m| m.transaction_id.as_bytes() == b"t1")
        .unwrap();
    let Body::Error(e) = r.body else {
        panic!("{r:?}")
    };
    assert_eq!(e.code, ErrorCode::Protocol);
    assert_eq!(e.message, b"bad token");
    assert_eq!(net.node(0).stats().bad_tokens, 1);
    assert_eq!(net.node(0).stats().storage.peers, 0);

    // With the token from get_peers it is stored; from another IP it is not.
    let gp = Message {
        body: Body::Query(Query::GetPeers {
            id: id(99),
            info_hash: InfoHash([1; 20]),
            want: None,
        }),
        ..q
    };
    let replies = exchange(&mut net, addr(99), &gp.to_vec());
    let r = replies
        .iter()
        .map(|b| decode_reply(b))
        .find(|m| m.transaction_id.as_bytes() == b"t1")
        .unwrap();
    let Body::Response(resp) = r.body else {
        panic!()
    };
    assert_eq!(
        r.ip,
        Some(addr(99)),
        "BEP 42: the reply says how we see the asker"
    );
    let token = resp.token.unwrap().to_vec();
    let good = Message {
        body: Body::Query(Query::AnnouncePeer {
            id: id(99),
            info_hash: InfoHash([1; 20]),
            port: 6881,
            implied_port: false,
            token: &token,
        }),
        ..q
    };
    let replies = exchange(&mut net, addr(98), &good.to_vec());
    assert!(replies.iter().any(|b| matches!(
        decode_reply(b).body,
        Body::Error(ErrorReply {
            code: ErrorCode::Protocol,
            ..
        })
    )));
    let replies = exchange(&mut net, addr(99), &good.to_vec());
    assert!(replies
        .iter()
        .any(|b| matches!(decode_reply(b).body, Body::Response(_))));
    assert_eq!(net.node(0).stats().storage.peers, 1);
}

#[test]
fn unknown_method_gets_204_and_malformed_query_203_with_its_id() {
    let mut net = Net::new(1);
    let replies = exchange(
        &mut net,
        addr(9),
        b"d1:ad2:id20:abcdefghij0123456789e1:q3:put1:t2:xy1:y1:qe",
    );
    let m = decode_reply(&replies[0]);
    assert_eq!(m.transaction_id.as_bytes(), b"xy");
    assert!(matches!(
        m.body,
        Body::Error(ErrorReply {
            code: ErrorCode::MethodUnknown,
            ..
        })
    ));
    // id of 19 bytes: malformed, answered with 203 and the same `t`.
    let replies = exchange(
        &mut net,
        addr(9),
        b"d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:zz1:y1:qe",
    );
    let m = decode_reply(&replies[0]);
    assert_eq!(m.transaction_id.as_bytes(), b"zz");
    assert!(matches!(
        m.body,
        Body::Error(ErrorReply {
            code: ErrorCode::Protocol,
            ..
        })
    ));
    // Garbage, a malformed response: no answer.
    assert!(exchange(&mut net, addr(9), b"garbage").is_empty());
    assert!(exchange(&mut net, addr(9), b"d1:rd2:id3:abce1:t2:zz1:y1:re").is_empty());
    assert_eq!(net.node(0).stats().malformed, 3);
    assert_eq!(net.node(0).stats().unknown_methods, 1);
}

#[test]
fn replies_with_unknown_transaction_ids_are_ignored() {
    let mut net = Net::new(2);
    let now = net.now;
    let request = net.node(0).ping(now, addr(1)).unwrap();
    let query = net.node(0).poll_transmit().unwrap();
    net.node(1).handle(now, addr(0), &query.data);
    let reply = net.node(1).poll_transmit().unwrap();
    // A reply with another transaction id: ignored.
    let mut forged = Message::decode(&reply.data).unwrap();
    forged.transaction_id = TransactionId::from_u32(12345);
    net.node(0).handle(now, addr(1), &forged.to_vec());
    // The right transaction id from another address: ignored too.
    net.node(0).handle(now, addr(7), &reply.data);
    assert_eq!(net.node(0).stats().unknown_transactions, 2);
    assert!(net.node(0).poll_event().is_none());
    assert_eq!(net.node(0).stats().table_v4.nodes, 0);
    // The real one.
    net.node(0).handle(now, addr(1), &reply.data);
    assert!(matches!(
        net.node(0).poll_event(),
        Some(Event::NodeAdded(_))
    ));
    assert!(
        matches!(net.node(0).poll_event(), Some(Event::Pong { request: r, .. }) if r == request)
    );
    // A replay of it is unknown now.
    net.node(0).handle(now, addr(1), &reply.data);
    assert_eq!(net.node(0).stats().unknown_transactions, 3);
}

#[test]
fn queries_time_out() {
    let mut net = Net::new(1);
    let now = net.now;
    let request = net.node(0).ping(now, addr(50)).unwrap();
    net.settle();
    assert_eq!(net.node(0).stats().pending, 1);
    net.advance(Duration::from_secs(3));
    let ev = net.take_events(0);
    assert!(
        ev.contains(&Event::RequestFailed {
            request,
            error: Error::Timeout
        }),
        "{ev:?}"
    );
    assert_eq!(net.node(0).stats().pending, 0);
    assert_eq!(net.node(0).stats().timeouts, 1);
}

#[test]
fn read_only_nodes_are_served_but_not_added() {
    let now = Instant::now();
    let mut a = Dht::new(config(), id(1), [1; 32], now);
    let ro_config = Config {
        read_only: true,
        ..config()
    };
    let mut b = Dht::new(ro_config, id(2), [2; 32], now);
    b.ping(now, addr(1)).unwrap();
    let q = b.poll_transmit().unwrap();
    assert!(
        Message::decode(&q.data).unwrap().read_only,
        "BEP 43: ro=1 in our queries"
    );
    a.handle(now, addr(2), &q.data);
    let reply = a.poll_transmit().unwrap();
    assert!(
        a.poll_transmit().is_none(),
        "no verification ping to a read-only node"
    );
    b.handle(now, addr(1), &reply.data);
    assert_eq!(b.stats().table_v4.nodes, 1);
    assert_eq!(a.stats().table_v4.nodes, 0);
    // b answers no queries.
    a.ping(now, addr(2)).unwrap();
    let q = a.poll_transmit().unwrap();
    b.handle(now, addr(1), &q.data);
    assert!(b.poll_transmit().is_none());
}

#[test]
fn queries_from_thousands_of_ids_stay_bounded() {
    let mut net = Net::new(1);
    let now = net.now;
    let max_verify = net.node(0).config().max_verify_pings;
    for i in 0..5000u32 {
        let from = SocketAddr::from(([127, 1, (i >> 8) as u8, i as u8], 1000 + (i % 1000) as u16));
        let q = Message {
            transaction_id: TransactionId::from_u32(i),
            version: None,
            ip: None,
            read_only: false,
            body: Body::Query(Query::FindNode {
                id: id(10_000 + i),
                target: id(i),
                want: None,
            }),
        };
        net.node(0).handle(now, from, &q.to_vec());
        while net.node(0).poll_transmit().is_some() {}
    }
    let s = net.node(0).stats();
    assert_eq!(s.queries_received, 5000);
    assert_eq!(
        s.pending, max_verify,
        "verification pings capped at max_verify_pings"
    );
    assert_eq!(s.table_v4.nodes, 0, "nobody answered: nobody in the table");
    assert!(net.node(0).verifying.len() <= max_verify);
    // The pings time out and free their slots.
    net.advance(Duration::from_secs(3));
    assert_eq!(net.node(0).stats().pending, 0);
    assert!(net.node(0).verifying.is_empty());
}

#[test]
fn routing_table_of_answering_strangers_stays_bounded() {
    // Thousands of nodes answer our queries (they each answer a ping): the
    // table holds at most buckets x K.
    let now = Instant::now();
    let mut a = Dht::new(config(), id(0), [0; 32], now);
    for i in 1..4000u32 {
        let from = SocketAddr::from(([127, 2, (i >> 8) as u8, i as u8], 7000));
        a.ping(now, from).unwrap();
        let q = a.poll_transmit().unwrap();
        let t = Message::decode(&q.data).unwrap().transaction_id;
        let reply = Message {
            transaction_id: t,
            version: None,
            ip: None,
            read_only: false,
            body: Body::Response(Response::new(id(i))),
        };
        a.handle(now, from, &reply.to_vec());
        while a.poll_transmit().is_some() {}
        while a.poll_event().is_some() {}
    }
    let s = a.stats();
    assert!(s.table_v4.nodes <= s.table_v4.buckets * 8);
    assert!(s.table_v4.buckets <= 160);
    assert!(s.table_v4.replacements <= s.table_v4.buckets * 8);
    assert!(s.table_v4.nodes > 50, "{:?}", s.table_v4);
}

#[test]
fn announces_for_thousands_of_hashes_stay_within_storage_limits() {
    let now = Instant::now();
    let limits = crate::storage::StorageConfig {
        max_info_hashes: 1000,
        max_peers_per_info_hash: 5,
        max_bytes: 64 * 1024,
        ..Default::default()
    };
    let cfg = Config {
        storage: limits,
        ..config()
    };
    let mut a = Dht::new(cfg, id(0), [0; 32], now);
    let mut stored = 0;
    let mut full = 0;
    for i in 0..3000u32 {
        let from = SocketAddr::from(([127, 3, (i >> 8) as u8, i as u8], 7000));
        let token = a.tokens.issue(from.ip());
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&(i % 2000).to_be_bytes());
        let q = Message {
            transaction_id: TransactionId::from_u32(i),
            version: None,
            ip: None,
            read_only: false,
            body: Body::Query(Query::AnnouncePeer {
                id: id(i),
                info_hash: InfoHash(h),
                port: 1,
                implied_port: false,
                token: &token,
            }),
        };
        a.handle(now, from, &q.to_vec());
        while let Some(t) = a.poll_transmit() {
            match Message::decode(&t.data).unwrap().body {
                Body::Response(_) => stored += 1,
                Body::Error(e) => {
                    assert_eq!(e.code, ErrorCode::Server);
                    full += 1;
                }
                Body::Query(_) => {}
            }
        }
        let s = a.stats().storage;
        assert!(s.info_hashes <= 1000 && s.bytes <= 64 * 1024, "{s:?}");
    }
    let s = a.stats().storage;
    let per_hash = crate::storage::INFO_HASH_BYTES + crate::storage::PEER_BYTES;
    assert_eq!(s.info_hashes, (64 * 1024 / per_hash).min(1000), "{s:?}");
    assert!(full > 0 && stored > 0);
    assert_eq!(s.refused, full);
}

#[test]
fn limits_on_lookups_and_transactions() {
    let now = Instant::now();
    let cfg = Config {
        max_lookups: 2,
        max_pending: 3,
        ..config()
    };
    let mut a = Dht::new(cfg, id(0), [0; 32], now);
    a.bootstrap(now, &[addr(1), addr(2), addr(3), addr(4)])
        .unwrap();
    a.bootstrap(now, &[addr(5)]).unwrap();
    assert!(matches!(
        a.get_peers(now, InfoHash([1; 20])),
        Err(Error::Limit {
            what: "lookups",
            limit: 2
        })
    ));
    assert_eq!(a.stats().pending, 3);
    assert!(matches!(
        a.ping(now, addr(9)),
        Err(Error::Limit { limit: 3, .. })
    ));
    // Timeouts free the slots; the lookups go on.
    a.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(
        a.stats().pending,
        2,
        "the 4th node of the first bootstrap and the node of the second are asked now"
    );
}

#[test]
fn sample_infohashes_answers() {
    let mut net = Net::new(12);
    net.bootstrap_all();
    let now = net.now;
    for i in 0..5u8 {
        net.node(1)
            .announce(now, InfoHash([i; 20]), 100, false)
            .unwrap();
    }
    net.settle();
    // Ask the node that stores the most.
    let (best, _) = net
        .nodes
        .iter()
        .map(|(a, n)| (*a, n.storage.stats().info_hashes))
        .max_by_key(|x| x.1)
        .unwrap();
    let request = net.node(2).sample_infohashes(now, best, id(0)).unwrap();
    net.settle();
    let ev = net.take_events(2);
    let got = ev.iter().find_map(|e| match e {
        Event::Samples {
            request: r,
            samples,
            num,
            interval,
            nodes,
            ..
        } if *r == request => Some((samples.clone(), *num, *interval, nodes.len())),
        _ => None,
    });
    let (samples, num, interval, nodes) = got.unwrap();
    assert!(!samples.is_empty());
    assert_eq!(num, Some(samples.len() as i64));
    assert_eq!(interval, Some(300));
    assert!(nodes > 0);
}

#[test]
fn saved_state_bootstraps_without_routers() {
    let mut net = Net::new(20);
    net.bootstrap_all();
    let state = net.node(7).routing_state();
    assert!(state.nodes.len() >= 8);
    let bytes = state.encode();
    // A restart: new instance, same id, from the saved nodes only.
    let restored = RoutingState::decode(&bytes).unwrap();
    let now = net.now;
    let mut fresh = Dht::new(config(), restored.id, [9; 32], now);
    fresh.add_saved_nodes(&restored.nodes);
    let lookup = fresh.bootstrap(now, &[]).unwrap();
    net.take_events(7); // the old instance's
    net.nodes.insert(addr(7), fresh);
    net.settle();
    let ev = net.take_events(7);
    let stats = done_stats(&ev, lookup);
    assert!(stats.responses >= 8, "{stats:?}");
    assert!(net.node(7).stats().table_v4.nodes >= 8);
}

#[test]
fn external_address_votes_give_a_secure_id() {
    let now = Instant::now();
    let mut a = Dht::new(config(), NodeId([0; 20]), [0; 32], now);
    let public: SocketAddr = "203.0.113.7:6881".parse().unwrap();
    for i in 1..=3u32 {
        let from = SocketAddr::from(([198, 51, 100, i as u8], 6881));
        a.ping(now, from).unwrap();
        let q = a.poll_transmit().unwrap();
        let t = Message::decode(&q.data).unwrap().transaction_id;
        let reply = Message {
            transaction_id: t,
            version: None,
            ip: Some(public),
            read_only: false,
            body: Body::Response(Response::new(id(i))),
        };
        a.handle(now, from, &reply.to_vec());
    }
    let ev: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(
        ev.contains(&Event::ExternalAddress { addr: public }),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::IdChanged { .. })));
    assert!(is_secure_node_id(&a.id(), public.ip()));
    assert_eq!(a.stats().external_ip, Some(public.ip()));
    // Those three nodes' ids are not BEP 42 ids for their public IPs:
    // reported, and still in the table (enforcement is off by default).
    assert_eq!(a.stats().insecure_ids, 3);
    assert_eq!(a.stats().table_v4.nodes, 3);
}

#[test]
fn enforcing_bep42_keeps_insecure_nodes_out() {
    let now = Instant::now();
    let cfg = Config {
        enforce_node_id: true,
        ..config()
    };
    let mut a = Dht::new(cfg, NodeId([0; 20]), [0; 32], now);
    let ip: IpAddr = "198.51.100.9".parse().unwrap();
    for (i, node_id) in [(1u16, id(1)), (2, secure_node_id(ip, [5; 20]))] {
        let from = SocketAddr::new(ip, i);
        a.ping(now, from).unwrap();
        let q = a.poll_transmit().unwrap();
        let t = Message::decode(&q.data).unwrap().transaction_id;
        let reply = Message {
            transaction_id: t,
            version: None,
            ip: None,
            read_only: false,
            body: Body::Response(Response::new(node_id)),
        };
        a.handle(now, from, &reply.to_vec());
    }
    let ev: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::InsecureNodeId { node } if node.id == id(1))));
    assert_eq!(a.stats().table_v4.nodes, 1, "only the secure id entered");
}

#[test]
fn events_queue_is_bounded() {
    let now = Instant::now();
    let cfg = Config {
        max_events: 10,
        ..config()
    };
    let mut a = Dht::new(cfg, id(0), [0; 32], now);
    for i in 0..30 {
        a.ping(now, addr(100 + i)).unwrap();
    }
    a.handle_timeout(now + Duration::from_secs(5));
    let s = a.stats();
    assert_eq!(s.events_queued, 10);
    assert_eq!(s.events_dropped, 20);
}

#[test]
fn datagrams_over_the_limit_are_dropped() {
    let mut net = Net::new(1);
    let big = vec![b'x'; 9000];
    assert!(exchange(&mut net, addr(5), &big).is_empty());
    assert_eq!(net.node(0).stats().too_long, 1);
}

#[test]
fn replies_fit_bep32_datagrams() {
    // A get_peers reply with a full table and many stored peers stays
    // below 1,500 bytes (about 1,024 in the common case).
    let mut net = Net::new(60);
    net.bootstrap_all();
    let now = net.now;
    let info_hash = InfoHash([9; 20]);
    for i in 0..300u32 {
        let from = SocketAddr::from(([127, 9, (i >> 8) as u8, i as u8], 7000));
        net.node(0).storage.announce(info_hash, from, now);
    }
    let gp = Message {
        transaction_id: TransactionId::new(b"aa").unwrap(),
        version: None,
        ip: None,
        read_only: false,
        body: Body::Query(Query::GetPeers {
            id: id(777),
            info_hash,
            want: Some(crate::krpc::Want::BOTH),
        }),
    };
    let replies = exchange(&mut net, addr(999), &gp.to_vec());
    let reply = replies
        .iter()
        .find(|r| matches!(decode_reply(r).body, Body::Response(_)))
        .unwrap();
    assert!(reply.len() <= 1024, "{} bytes", reply.len());
    let Body::Response(r) = decode_reply(reply).body else {
        panic!()
    };
    assert_eq!(r.values.unwrap().len(), 50);
    assert_eq!(r.nodes.unwrap().len(), 8);
}

#[test]
fn announces_at_and_past_the_limit() {
    let now = Instant::now();
    let cfg = Config {
        max_announces: 3,
        ..config()
    };
    let mut a = Dht::new(cfg, id(0), [0; 32], now);
    for i in 0..3u8 {
        a.announce(now, InfoHash([i; 20]), 1, false).unwrap();
    }
    assert_eq!(a.stats().announces, 3);
    assert!(matches!(
        a.announce(now, InfoHash([9; 20]), 1, false),
        Err(Error::Limit {
            what: "announces",
            limit: 3
        })
    ));
    // Announcing one of the three again is fine (it is re-run).
    a.announce(now, InfoHash([1; 20]), 2, false).unwrap();
    assert!(a.stop_announce(&InfoHash([0; 20])));
    a.announce(now, InfoHash([9; 20]), 1, false).unwrap();
    assert_eq!(a.stats().announces, 3);
}

#[test]
fn peers_per_lookup_at_and_past_the_limit() {
    // One node answers a get_peers with 50 values; the lookup reports at
    // most max_lookup_peers of them.
    for (limit, want) in [(50, 50), (49, 49)] {
        let now = Instant::now();
        let cfg = Config {
            max_lookup_peers: limit,
            ..config()
        };
        let mut a = Dht::new(cfg, id(0), [0; 32], now);
        let info_hash = InfoHash([3; 20]);
        let lookup = a.bootstrap(now, &[addr(1)]).unwrap();
        let q = a.poll_transmit().unwrap();
        let t = Message::decode(&q.data).unwrap().transaction_id;
        a.handle(
            now,
            addr(1),
            &Message {
                transaction_id: t,
                version: None,
                ip: None,
                read_only: false,
                body: Body::Response(Response::new(id(1))),
            }
            .to_vec(),
        );
        let _ = lookup;
        let g = a.get_peers(now, info_hash).unwrap();
        let q = a.poll_transmit().unwrap();
        let t = Message::decode(&q.data).unwrap().transaction_id;
        let peers: Vec<SocketAddr> = (0..50u32)
            .map(|i| SocketAddr::from(([127, 5, 0, i as u8], 1000)))
            .collect();
        let mut r = Response::new(id(1));
        r.values = Some(Values::from_peers(&peers));
        r.token = Some(b"tok");
        a.handle(
            now,
            addr(1),
            &Message {
                transaction_id: t,
                version: None,
                ip: None,
                read_only: false,
                body: Body::Response(r),
            }
            .to_vec(),
        );
        let ev: Vec<Event> = std::iter::from_fn(|| a.poll_event()).collect();
        let found: usize = ev
            .iter()
            .map(|e| match e {
                Event::Peers { lookup, peers, .. } if *lookup == g => peers.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(found, want);
        assert_eq!(done_stats(&ev, g).peers as usize, want);
    }
}

#[test]
fn datagram_at_the_limit_is_read() {
    let mut net = Net::new(1);
    let limit = net.node(0).config().max_datagram_len;
    // A ping padded with an unknown key to exactly the limit.
    let head = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:z";
    let tail = b"e";
    let pad_len = limit - head.len() - tail.len();
    let digits = pad_len.to_string().len() + 1;
    let body = pad_len - digits;
    let mut d = head.to_vec();
    d.extend_from_slice(format!("{body}:").as_bytes());
    d.extend(std::iter::repeat_n(b'x', body));
    d.extend_from_slice(tail);
    assert_eq!(d.len(), limit);
    let replies = exchange(&mut net, addr(5), &d);
    assert!(
        replies
            .iter()
            .any(|r| matches!(decode_reply(r).body, Body::Response(_))),
        "answered"
    );
    d.insert(d.len() - 1, b'x');
    d[head.len()..head.len() + digits].copy_from_slice(format!("{}:", body + 1).as_bytes());
    assert_eq!(d.len(), limit + 1);
    assert!(
        exchange(&mut net, addr(5), &d).is_empty(),
        "one byte past: dropped"
    );
    assert_eq!(net.node(0).stats().too_long, 1);
}
