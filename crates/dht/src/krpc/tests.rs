use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::compact::{encode_node, Family, NodeInfo};
use crate::error::Error;

/// The example packets of BEP 5, decoded and re-encoded byte for byte.
#[test]
fn bep5_examples_round_trip() {
    let examples: [&[u8]; 9] = [
        b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        // find_node response with one 26-byte node.
        b"d1:rd2:id20:0123456789abcdefghij5:nodes26:ABCDEFGHIJKLMNOPQRST\x7f\x00\x00\x01\x1a\xe1e1:t2:aa1:y1:re",
        // BEP 51 sample_infohashes query.
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q17:sample_infohashes1:t2:aa1:y1:qe",
    ];
    for ex in examples {
        let m = Message::decode(ex).unwrap_or_else(|e| panic!("{e}: {}", ex.escape_ascii()));
        assert_eq!(m.to_vec(), ex, "{m:?}");
    }
}

#[test]
fn decodes_the_fields() {
    let m = Message::decode(b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re").unwrap();
    let Body::Response(r) = m.body else { panic!() };
    assert_eq!(r.token, Some(&b"aoeusnth"[..]));
    let peers: Vec<SocketAddr> = r.values.unwrap().iter().collect();
    assert_eq!(
        peers,
        vec![
            "97.120.106.101:11893".parse().unwrap(),
            "105.100.104.116:28269".parse().unwrap()
        ]
    );

    let m = Message::decode(b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe").unwrap();
    let Body::Query(Query::AnnouncePeer {
        port,
        implied_port,
        token,
        info_hash,
        ..
    }) = m.body
    else {
        panic!()
    };
    assert_eq!((port, implied_port, token), (6881, true, &b"aoeusnth"[..]));
    assert_eq!(&info_hash.0, b"mnopqrstuvwxyz123456");
}

#[test]
fn lenient_reading() {
    // Unsorted keys, unknown keys, ip/ro/v, want with an unknown flag.
    let m = Message::decode(b"d1:y1:q1:t2:xy1:q9:find_node2:roi1e1:v4:LT\x01\x002:ip6:\x01\x02\x03\x04\x00\x501:ad6:target20:mnopqrstuvwxyz1234564:wantl2:n62:zz2:n4e5:extrai9e2:id20:abcdefghij0123456789ee").unwrap();
    assert!(m.read_only);
    assert_eq!(m.version, Some(&b"LT\x01\x00"[..]));
    assert_eq!(m.ip, Some("1.2.3.4:80".parse().unwrap()));
    let Body::Query(Query::FindNode { want, .. }) = m.body else {
        panic!()
    };
    assert_eq!(want, Some(Want::BOTH));
    // nodes with a partial entry at the end are cut; values of odd sizes skipped.
    let mut raw = b"d1:rd2:id20:abcdefghij01234567895:nodes30:".to_vec();
    raw.extend_from_slice(&[9u8; 30]);
    raw.extend_from_slice(b"6:valuesl3:abc6:\x01\x02\x03\x04\x00\x01ee1:t1:a1:y1:re");
    let m = Message::decode(&raw).unwrap();
    let Body::Response(r) = m.body else { panic!() };
    assert_eq!(r.nodes.unwrap().len(), 1);
    assert_eq!(
        r.values.unwrap().iter().collect::<Vec<_>>(),
        vec!["1.2.3.4:1".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn unknown_method_is_a_query() {
    let m = Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q3:put1:t2:aa1:y1:qe").unwrap();
    assert_eq!(
        m.body,
        Body::Query(Query::Unknown {
            id: NodeId(*b"abcdefghij0123456789"),
            method: b"put"
        })
    );
}

#[test]
fn errors_keep_the_transaction_id() {
    // A query whose id is 19 bytes: error 203 can be sent with `t`.
    let input = b"d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:zz1:y1:qe";
    let err = Message::decode(input).unwrap_err();
    assert_eq!(err.error_reply_id().map(|t| t.as_bytes()), Some(&b"zz"[..]));
    let Error::Message { offset, .. } = err else {
        panic!()
    };
    assert_eq!(&input[offset..offset + 3], b"19:");
    // Missing argument: offset of the arguments dict.
    let err = Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q9:get_peers1:t2:zz1:y1:qe")
        .unwrap_err();
    assert!(err.error_reply_id().is_some(), "{err}");
    // A malformed response keeps its id but is not to be answered.
    let err = Message::decode(b"d1:rd2:id3:abce1:t2:zz1:y1:re").unwrap_err();
    assert_eq!(err.transaction_id().map(|t| t.as_bytes()), Some(&b"zz"[..]));
    assert!(err.error_reply_id().is_none());
    // Port out of range, not implied.
    let err = Message::decode(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti65536e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe").unwrap_err();
    assert!(err.to_string().contains("port"), "{err}");
}

#[test]
fn hostile_inputs_are_errors() {
    let cases: [&[u8]; 9] = [
        b"",
        b"le",
        b"d1:t2:aae",
        b"d1:t40:0123456789012345678901234567890123456789e",
        b"d1:t2:aa1:y1:xe",
        b"d1:t2:aa1:y1:re",
        b"d1:t2:aa1:y1:qe",
        b"d1:t2:aa1:y1:ee",
        b"d1:rd2:id20:abcdefghij01234567896:valuesli1eee1:t2:aa1:y1:re",
    ];
    for c in cases {
        assert!(Message::decode(c).is_err(), "{}", c.escape_ascii());
    }
    // Nesting past MAX_DEPTH.
    let mut deep = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567891:x".to_vec();
    deep.extend(std::iter::repeat_n(b'l', MAX_DEPTH));
    deep.extend(std::iter::repeat_n(b'e', MAX_DEPTH));
    deep.extend_from_slice(b"ee");
    assert!(matches!(Message::decode(&deep), Err(Error::Bencode(_))));
    // Items past MAX_ITEMS: a list of MAX_ITEMS integers.
    let mut many = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567891:xl".to_vec();
    for _ in 0..MAX_ITEMS {
        many.extend_from_slice(b"i0e");
    }
    many.extend_from_slice(b"eee");
    assert!(matches!(Message::decode(&many), Err(Error::Bencode(_))));
}

#[test]
fn error_reply_with_id() {
    let m = Message {
        transaction_id: TransactionId::new(b"ab").unwrap(),
        version: Some(b"SB01"),
        ip: Some("[2001:db8::2]:7".parse().unwrap()),
        read_only: false,
        body: Body::Error(ErrorReply {
            code: ErrorCode::Protocol,
            message: b"bad token",
            id: Some(NodeId([3; 20])),
        }),
    };
    let bytes = m.to_vec();
    assert_eq!(Message::decode(&bytes).unwrap(), m);
    assert!(bytes.starts_with(b"d1:eli203e9:bad tokene2:ip18:"));
}

// ---------------------------------------------------------------------------
// Property tests: every message type round-trips through encode/decode.

#[derive(Debug, Clone)]
struct Owned {
    tid: Vec<u8>,
    version: Option<Vec<u8>>,
    ip: Option<SocketAddr>,
    ro: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Ping([u8; 20]),
    FindNode([u8; 20], [u8; 20], Option<Want>),
    GetPeers([u8; 20], [u8; 20], Option<Want>),
    Announce([u8; 20], [u8; 20], u16, bool, Vec<u8>),
    Sample([u8; 20], [u8; 20], Option<Want>),
    Unknown([u8; 20], Vec<u8>),
    Response(OwnedResponse),
    Error(i64, Vec<u8>, Option<[u8; 20]>),
}

#[derive(Debug, Clone)]
struct OwnedResponse {
    id: [u8; 20],
    nodes: Option<Vec<u8>>,
    nodes6: Option<Vec<u8>>,
    token: Option<Vec<u8>>,
    values: Option<Vec<SocketAddr>>,
    samples: Option<Vec<u8>>,
    num: Option<i64>,
    interval: Option<i64>,
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_filter("not v4-mapped", |(ip, _)| std::net::Ipv6Addr::from(*ip)
                .to_ipv4_mapped()
                .is_none())
            .prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn want() -> impl Strategy<Value = Option<Want>> {
    proptest::option::of((any::<bool>(), any::<bool>()).prop_map(|(n4, n6)| Want { n4, n6 }))
}

fn nodes(family: Family) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((any::<[u8; 20]>(), addr()), 0..8).prop_map(move |v| {
        let mut out = Vec::new();
        for (id, a) in v {
            if Family::of(&a) == family {
                encode_node(&NodeInfo::new(NodeId(id), a), &mut out);
            }
        }
        out
    })
}

fn response() -> impl Strategy<Value = OwnedResponse> {
    (
        any::<[u8; 20]>(),
        proptest::option::of(nodes(Family::V4)),
        proptest::option::of(nodes(Family::V6)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::option::of(proptest::collection::vec(addr(), 0..10)),
        proptest::option::of(
            proptest::collection::vec(any::<u8>(), 0..5).prop_map(|v| v.repeat(20)),
        ),
        proptest::option::of(any::<i64>()),
        proptest::option::of(0i64..=21600),
    )
        .prop_map(
            |(id, nodes, nodes6, token, values, samples, num, interval)| OwnedResponse {
                id,
                nodes,
                nodes6,
                token,
                values,
                samples,
                num,
                interval,
            },
        )
}

fn kind() -> impl Strategy<Value = Kind> {
    let id = any::<[u8; 20]>;
    prop_oneof![
        id().prop_map(Kind::Ping),
        (id(), id(), want()).prop_map(|(a, b, w)| Kind::FindNode(a, b, w)),
        (id(), id(), want()).prop_map(|(a, b, w)| Kind::GetPeers(a, b, w)),
        (
            id(),
            id(),
            any::<u16>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(a, b, p, i, t)| Kind::Announce(a, b, p, i, t)),
        (id(), id(), want()).prop_map(|(a, b, w)| Kind::Sample(a, b, w)),
        (id(), "[a-z_]{1,20}")
            .prop_filter("not a known method", |(_, m)| {
                ![
                    "ping",
                    "find_node",
                    "get_peers",
                    "announce_peer",
                    "sample_infohashes",
                ]
                .contains(&m.as_str())
            })
            .prop_map(|(a, m)| Kind::Unknown(a, m.into_bytes())),
        response().prop_map(Kind::Response),
        (
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..60),
            proptest::option::of(id())
        )
            .prop_map(|(c, m, i)| Kind::Error(c, m, i)),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        proptest::collection::vec(any::<u8>(), 0..=16),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
        proptest::option::of(addr()),
        any::<bool>(),
        kind(),
    )
        .prop_map(|(tid, version, ip, ro, kind)| Owned {
            tid,
            version,
            ip,
            ro,
            kind,
        })
}

fn build(o: &Owned) -> Message<'_> {
    let body = match &o.kind {
        Kind::Ping(id) => Body::Query(Query::Ping { id: NodeId(*id) }),
        Kind::FindNode(id, t, w) => Body::Query(Query::FindNode {
            id: NodeId(*id),
            target: NodeId(*t),
            want: *w,
        }),
        Kind::GetPeers(id, h, w) => Body::Query(Query::GetPeers {
            id: NodeId(*id),
            info_hash: InfoHash(*h),
            want: *w,
        }),
        Kind::Announce(id, h, port, implied, token) => Body::Query(Query::AnnouncePeer {
            id: NodeId(*id),
            info_hash: InfoHash(*h),
            port: *port,
            implied_port: *implied,
            token,
        }),
        Kind::Sample(id, t, w) => Body::Query(Query::SampleInfohashes {
            id: NodeId(*id),
            target: NodeId(*t),
            want: *w,
        }),
        Kind::Unknown(id, m) => Body::Query(Query::Unknown {
            id: NodeId(*id),
            method: m,
        }),
        Kind::Response(r) => Body::Response(Response {
            id: NodeId(r.id),
            nodes: r.nodes.as_deref().map(|b| CompactNodes::new(b, Family::V4)),
            nodes6: r
                .nodes6
                .as_deref()
                .map(|b| CompactNodes::new(b, Family::V6)),
            token: r.token.as_deref(),
            values: r.values.as_deref().map(Values::from_peers),
            samples: r.samples.as_deref().map(Samples::new),
            num: r.num,
            interval: r.interval,
        }),
        Kind::Error(code, msg, id) => Body::Error(ErrorReply {
            code: ErrorCode::from_code(*code),
            message: msg,
            id: id.map(NodeId),
        }),
    };
    Message {
        transaction_id: TransactionId::new(&o.tid).unwrap(),
        version: o.version.as_deref(),
        ip: o.ip,
        read_only: o.ro,
        body,
    }
}

proptest! {
    #[test]
    fn every_message_round_trips(o in owned()) {
        let m = build(&o);
        let bytes = m.to_vec();
        let back = Message::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", bytes.escape_ascii())))?;
        prop_assert_eq!(back, m);
        // Canonical: strict decoding accepts it, and re-encoding is identical.
        prop_assert!(seedbed_bencode::decode_with(&bytes, &seedbed_bencode::DecodeOptions::new().canonical(true)).is_ok());
        prop_assert_eq!(back.to_vec(), bytes);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(o in owned(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = build(&o).to_vec();
        let i = at % bytes.len();
        bytes[i] = byte;
        if let Ok(m) = Message::decode(&bytes) {
            // Whatever decodes re-encodes and decodes again.
            let again = m.to_vec();
            prop_assert!(Message::decode(&again).is_ok());
        }
    }
}

/// Fuzz finding (dht_krpc): an 18-byte `values` entry holding an
/// IPv4-mapped address decoded as IPv6 but was written back as 6 bytes.
#[test]
fn mapped_ipv4_values_round_trip() {
    let input = b"d1:rd2:id20:abcde\x01\x00\x00\x00\x00\x00\x00B345snth6:valuesl6:ax:h0:0:00018:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x090000006:idhtnmee1:t2:aa1:y1:re";
    let m = Message::decode(input).unwrap();
    let again = m.to_vec();
    assert_eq!(Message::decode(&again).unwrap(), m);
    let mut ip = b"d2:ip18:".to_vec();
    ip.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 0, 80]);
    ip.extend_from_slice(b"1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re");
    let m = Message::decode(&ip).unwrap();
    assert_eq!(m.ip, Some("1.2.3.4:80".parse().unwrap()));
    assert_eq!(Message::decode(&m.to_vec()).unwrap(), m);
}

#[test]
fn depth_at_the_limit_decodes() {
    // The root is depth 1: MAX_DEPTH - 2 lists inside `r` reach MAX_DEPTH.
    let mut at = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567891:x".to_vec();
    at.extend(std::iter::repeat_n(b'l', MAX_DEPTH - 2));
    at.extend(std::iter::repeat_n(b'e', MAX_DEPTH - 2));
    at.extend_from_slice(b"ee");
    assert!(Message::decode(&at).is_ok());
    let mut past = b"d1:t2:aa1:y1:r1:rd2:id20:abcdefghij01234567891:x".to_vec();
    past.extend(std::iter::repeat_n(b'l', MAX_DEPTH - 1));
    past.extend(std::iter::repeat_n(b'e', MAX_DEPTH - 1));
    past.extend_from_slice(b"ee");
    assert!(matches!(Message::decode(&past), Err(Error::Bencode(_))));
}

#[test]
fn transaction_id_at_and_past_the_limit() {
    let t16 = "0123456789abcdef";
    let ok = format!("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t16:{t16}1:y1:qe");
    assert_eq!(
        Message::decode(ok.as_bytes())
            .unwrap()
            .transaction_id
            .as_bytes(),
        t16.as_bytes()
    );
    let past = format!("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t17:{t16}x1:y1:qe");
    let err = Message::decode(past.as_bytes()).unwrap_err();
    assert!(err.transaction_id().is_none(), "{err}");
}

/// The one-pass decoder gives exactly what the first, tape-based decoder
/// gave (`reference.rs`): the same message or the same error, for valid,
/// cut, corrupted and arbitrary datagrams.
mod same_as_reference {
    use super::*;
    use crate::krpc::reference::Reference;

    fn same(input: &[u8]) {
        let new = Message::decode(input);
        let old = Reference::decode(input);
        assert_eq!(
            format!("{new:?}"),
            format!("{old:?}"),
            "input {}",
            input.escape_ascii()
        );
    }

    #[test]
    fn hand_made_cases() {
        for input in [
            &b""[..],
            b"i1e",
            b"le",
            b"d1:t2:aa1:y1:qe",
            b"d1:ai1e1:q4:ping1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij01234567894:wanti1e4:wantl2:n4ee1:q9:find_node1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij01234567894:wantl2:n62:n4i3eee1:q9:get_peers1:t2:aa1:y1:qe",
            b"d1:rd2:id20:abcdefghij01234567896:valuesl6:axje.ui1eee1:t2:aa1:y1:re",
            b"d1:rd2:id20:abcdefghij01234567896:valuesi1e6:valuesl6:axje.uee1:t2:aa1:y1:re",
            b"d1:eli201e3:abce1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:ee",
            b"d1:eli201ee1:t2:aa1:y1:ee",
            b"d1:el3:abce1:t2:aa1:y1:ee",
            b"d1:ad2:id20:abcdefghij0123456789e1:ad2:id2:xxe1:q4:ping1:t2:aa1:t2:bb1:y1:qe",
            b"d1:t17:aaaaaaaaaaaaaaaaa1:y1:qe",
            b"d1:ad2:id20:abcdefghij01234567894:porti70000e5:token1:x9:info_hash20:mnopqrstuvwxyz123456e1:q13:announce_peer1:t2:aa1:y1:qe",
        ] {
            same(input);
        }
    }

    proptest! {
        #[test]
        fn valid_cut_and_corrupted(o in owned(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
            let bytes = build(&o).to_vec();
            same(&bytes);
            same(&bytes[..cut.index(bytes.len() + 1)]);
            let mut bad = bytes.clone();
            let i = flip.0.index(bad.len());
            bad[i] = flip.1;
            same(&bad);
        }

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(prop_oneof![
            Just(b'd'), Just(b'l'), Just(b'e'), Just(b'i'), Just(b'1'), Just(b'2'),
            Just(b':'), Just(b't'), Just(b'y'), Just(b'q'), Just(b'a'), Just(b'r'),
            any::<u8>()
        ], 0..80)) {
            same(&bytes);
        }
    }
}
