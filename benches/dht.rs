//! seedbed-dht beside rqbit's DHT and the `mainline` crate: KRPC decode and
//! encode of the common messages, and closest-node queries on a full
//! routing table. `cargo bench --bench dht`; compare ratios within one run.
//!
//! Like-for-like notes:
//! - Neither peer crate exposes its KRPC codec (`librqbit-dht` keeps it in
//!   a private `mod bprotocol`; `mainline`'s `Message` is `pub(crate)`). The
//!   `rqbit` and `mainline` rows therefore run the same decoders on the same
//!   message shapes those crates use: rqbit decodes with `librqbit-bencode`
//!   into borrowed serde structs, twice (first to read `y`/`q`, then into
//!   the typed message, as its `deserialize_message` does), with `values`
//!   into a `Vec` of compact addresses; mainline decodes with
//!   `serde_bencode` into owned structs (an internally tagged `y`/`q` enum
//!   and an untagged response enum, byte strings copied), then turns the
//!   compact node list into owned nodes. The structs below mirror those
//!   shapes (field names are the wire's).
//! - Ours decodes into a borrowed view: `seedbed decode` is that alone;
//!   `seedbed decode+owned` also collects every node and peer into `Vec`s,
//!   the equivalent of the owned decoders' work.
//! - Routing table: `mainline::RoutingTable::closest` is its public API and
//!   returns its K = 20 closest; ours is measured for 8 (BEP 5's K) and for
//!   20 on tables filled from the same random ids.

use std::hint::black_box;
use std::net::{SocketAddr, SocketAddrV4};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use seedbed::dht::compact::{encode_node, CompactNodes, Family, NodeInfo};
use seedbed::dht::krpc::{Body, Message, Query, Response, TransactionId, Values};
use seedbed::dht::routing::{RoutingTable, TableConfig};
use seedbed::dht::{InfoHash, NodeId};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn id(&mut self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        out
    }
}

/// The three messages: a get_peers query, a find_node response with 8
/// nodes, a get_peers response with a token and 16 peers.
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(0x1234_5678);
    let id = NodeId(rng.id());
    let t = TransactionId::new(b"aa").unwrap();
    let query = Message {
        transaction_id: t,
        version: Some(b"LT\x01\x02"),
        ip: None,
        read_only: false,
        body: Body::Query(Query::GetPeers {
            id,
            info_hash: InfoHash(rng.id()),
            want: None,
        }),
    };
    let mut nodes = Vec::new();
    for i in 0..8u8 {
        let addr = SocketAddr::from(([10, 1, 2, i], 6881 + u16::from(i)));
        encode_node(&NodeInfo::new(NodeId(rng.id()), addr), &mut nodes);
    }
    let mut find_node = Response::new(id);
    find_node.nodes = Some(CompactNodes::new(&nodes, Family::V4));
    let peers: Vec<SocketAddr> = (0..16u8)
        .map(|i| SocketAddr::from(([192, 0, 2, i], 50_000 + u16::from(i))))
        .collect();
    let mut get_peers = Response::new(id);
    get_peers.token = Some(b"\x01\x02\x03\x04\x05\x06\x07\x08");
    get_peers.values = Some(Values::from_peers(&peers));
    let ip = Some(SocketAddr::from(([203, 0, 113, 5], 6881)));
    let resp = |body| Message {
        transaction_id: t,
        version: Some(b"LT\x01\x02"),
        ip,
        read_only: false,
        body: Body::Response(body),
    };
    vec![
        ("get_peers query", query.to_vec()),
        ("find_node response 8 nodes", resp(find_node).to_vec()),
        ("get_peers response 16 values", resp(get_peers).to_vec()),
    ]
}

/// What an owned decode yields: the sender's id, nodes and peers.
#[derive(Default)]
struct Owned {
    id: [u8; 20],
    nodes: Vec<NodeInfo>,
    peers: Vec<SocketAddr>,
}

fn seedbed_owned(bytes: &[u8]) -> Owned {
    let m = Message::decode(bytes).unwrap();
    match m.body {
        Body::Query(q) => Owned {
            id: q.id().0,
            ..Owned::default()
        },
        Body::Response(r) => Owned {
            id: r.id.0,
            nodes: r.nodes.iter().flat_map(|n| n.iter()).collect(),
            peers: r.values.iter().flat_map(|v| v.iter()).collect(),
        },
        Body::Error(_) => Owned::default(),
    }
}

// --- rqbit's shapes (librqbit-bencode, borrowed, two passes) ---------------
mod rqbit {
    use librqbit_bencode::ByteBuf;
    use librqbit_core::compact_ip::CompactSocketAddr;
    use librqbit_core::Id20;
    use serde::de::IgnoredAny;
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize, Serialize)]
    pub(crate) struct Raw<B, A = IgnoredAny, R = IgnoredAny, E = IgnoredAny> {
        #[serde(rename = "y")]
        pub(crate) message_type: B,
        #[serde(rename = "t")]
        pub(crate) transaction_id: B,
        #[serde(rename = "e", skip_serializing_if = "Option::is_none")]
        pub(crate) error: Option<E>,
        #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
        pub(crate) response: Option<R>,
        #[serde(rename = "q", skip_serializing_if = "Option::is_none")]
        pub(crate) method_name: Option<B>,
        #[serde(rename = "a", skip_serializing_if = "Option::is_none")]
        pub(crate) arguments: Option<A>,
        #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
        pub(crate) version: Option<B>,
        #[serde(rename = "ip", skip_serializing_if = "Option::is_none")]
        pub(crate) ip: Option<B>,
    }

    #[derive(Deserialize, Serialize)]
    pub(crate) struct GetPeersRequest {
        pub(crate) id: Id20,
        pub(crate) info_hash: Id20,
    }

    #[derive(Deserialize, Serialize)]
    pub(crate) struct Response<B> {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) values: Option<Vec<CompactSocketAddr>>,
        pub(crate) id: Id20,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) nodes: Option<B>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(crate) token: Option<B>,
    }

    pub(crate) enum Decoded<'a> {
        GetPeers(Raw<ByteBuf<'a>, GetPeersRequest>),
        Response(Raw<ByteBuf<'a>, IgnoredAny, Response<ByteBuf<'a>>>),
    }

    /// What rqbit serializes: the same message with `()` in the unused
    /// positions (its `serialize_message` does that).
    pub(crate) enum Encodable<'a> {
        GetPeers(Raw<ByteBuf<'a>, GetPeersRequest, (), ()>),
        Response(Raw<ByteBuf<'a>, (), Response<ByteBuf<'a>>, ()>),
    }

    pub(crate) fn encodable(d: Decoded<'_>) -> Encodable<'_> {
        match d {
            Decoded::GetPeers(m) => Encodable::GetPeers(Raw {
                message_type: m.message_type,
                transaction_id: m.transaction_id,
                error: None,
                response: None,
                method_name: m.method_name,
                arguments: m.arguments,
                version: m.version,
                ip: m.ip,
            }),
            Decoded::Response(m) => Encodable::Response(Raw {
                message_type: m.message_type,
                transaction_id: m.transaction_id,
                error: None,
                response: m.response,
                method_name: None,
                arguments: None,
                version: m.version,
                ip: m.ip,
            }),
        }
    }

    pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
        let first: Raw<ByteBuf<'_>> = librqbit_bencode::from_bytes(buf).unwrap();
        match first.message_type.as_ref() {
            b"q" => Decoded::GetPeers(librqbit_bencode::from_bytes(buf).unwrap()),
            _ => Decoded::Response(librqbit_bencode::from_bytes(buf).unwrap()),
        }
    }
}

// --- mainline's shapes (serde_bencode, owned) ------------------------------
mod mainline_shapes {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub(crate) struct DhtMessage {
        #[serde(rename = "t", with = "serde_bytes")]
        pub(crate) transaction_id: Vec<u8>,
        #[serde(default, rename = "v", with = "serde_bytes")]
        pub(crate) version: Option<Vec<u8>>,
        #[serde(flatten)]
        pub(crate) variant: Variant,
        #[serde(default, with = "serde_bytes")]
        pub(crate) ip: Option<Vec<u8>>,
        #[serde(default, rename = "ro")]
        pub(crate) read_only: Option<i32>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "y")]
    pub(crate) enum Variant {
        #[serde(rename = "q")]
        Request(Request),
        #[serde(rename = "r")]
        Response(ResponseVariant),
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "q")]
    pub(crate) enum Request {
        #[serde(rename = "get_peers")]
        GetPeers {
            #[serde(rename = "a")]
            arguments: GetPeersArgs,
        },
    }

    #[derive(Serialize, Deserialize)]
    pub(crate) struct GetPeersArgs {
        #[serde(with = "serde_bytes")]
        pub(crate) id: Vec<u8>,
        #[serde(with = "serde_bytes")]
        pub(crate) info_hash: Vec<u8>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    pub(crate) enum ResponseVariant {
        GetPeers {
            #[serde(rename = "r")]
            arguments: GetPeersResponse,
        },
        FindNode {
            #[serde(rename = "r")]
            arguments: FindNodeResponse,
        },
    }

    #[derive(Serialize, Deserialize)]
    pub(crate) struct GetPeersResponse {
        #[serde(with = "serde_bytes")]
        pub(crate) id: Vec<u8>,
        #[serde(with = "serde_bytes")]
        pub(crate) token: Vec<u8>,
        pub(crate) values: Vec<serde_bytes::ByteBuf>,
    }

    #[derive(Serialize, Deserialize)]
    pub(crate) struct FindNodeResponse {
        #[serde(with = "serde_bytes")]
        pub(crate) id: Vec<u8>,
        #[serde(with = "serde_bytes")]
        pub(crate) nodes: Vec<u8>,
    }
}

fn mainline_decode(bytes: &[u8]) -> Owned {
    use mainline_shapes::*;
    let m: DhtMessage = serde_bencode::from_bytes(bytes).unwrap();
    let mut out = Owned::default();
    match m.variant {
        Variant::Request(Request::GetPeers { arguments }) => out.id.copy_from_slice(&arguments.id),
        Variant::Response(ResponseVariant::FindNode { arguments }) => {
            out.id.copy_from_slice(&arguments.id);
            // mainline turns compact nodes into owned `Node`s.
            out.nodes = CompactNodes::new(&arguments.nodes, Family::V4)
                .iter()
                .collect();
        }
        Variant::Response(ResponseVariant::GetPeers { arguments }) => {
            out.id.copy_from_slice(&arguments.id);
            out.peers = arguments
                .values
                .iter()
                .filter_map(|v| seedbed::dht::compact::decode_addr(v))
                .collect();
        }
    }
    out
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("dht decode");
    for (name, bytes) in messages() {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("seedbed decode", name), &bytes, |b, m| {
            b.iter(|| black_box(Message::decode(black_box(m)).unwrap()))
        });
        g.bench_with_input(
            BenchmarkId::new("seedbed decode+owned", name),
            &bytes,
            |b, m| b.iter(|| black_box(seedbed_owned(black_box(m)))),
        );
        g.bench_with_input(
            BenchmarkId::new("rqbit (librqbit-bencode)", name),
            &bytes,
            |b, m| b.iter(|| black_box(rqbit::decode(black_box(m)))),
        );
        g.bench_with_input(
            BenchmarkId::new("mainline (serde_bencode)", name),
            &bytes,
            |b, m| b.iter(|| black_box(mainline_decode(black_box(m)))),
        );
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("dht encode");
    for (name, bytes) in messages() {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let msg = Message::decode(&bytes).unwrap();
        let mut buf = Vec::with_capacity(1024);
        g.bench_function(BenchmarkId::new("seedbed", name), |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).encode(&mut buf);
                black_box(buf.len())
            })
        });
        let rq = rqbit::encodable(rqbit::decode(&bytes));
        let mut buf = Vec::with_capacity(1024);
        g.bench_function(BenchmarkId::new("rqbit (librqbit-bencode)", name), |b| {
            b.iter(|| {
                buf.clear();
                match &rq {
                    rqbit::Encodable::GetPeers(m) => {
                        librqbit_bencode::bencode_serialize_to_writer(black_box(m), &mut buf)
                            .unwrap()
                    }
                    rqbit::Encodable::Response(m) => {
                        librqbit_bencode::bencode_serialize_to_writer(black_box(m), &mut buf)
                            .unwrap()
                    }
                }
                black_box(buf.len())
            })
        });
        let ml: mainline_shapes::DhtMessage = serde_bencode::from_bytes(&bytes).unwrap();
        g.bench_function(BenchmarkId::new("mainline (serde_bencode)", name), |b| {
            b.iter(|| black_box(serde_bencode::to_bytes(black_box(&ml)).unwrap().len()))
        });
    }
    g.finish();
}

fn bench_routing(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9);
    let own = rng.id();
    let now = std::time::Instant::now();
    let mut ours = RoutingTable::new(NodeId(own), TableConfig::default(), now);
    let mut ours20 = RoutingTable::new(
        NodeId(own),
        TableConfig {
            k: 20,
            ..TableConfig::default()
        },
        now,
    );
    let mut theirs = mainline::RoutingTable::new(mainline::Id::from_bytes(own).unwrap());
    for i in 0..200_000u32 {
        let id = rng.id();
        let addr = SocketAddrV4::new(std::net::Ipv4Addr::from(0x0a00_0000 + i), 6881);
        let info = NodeInfo::new(NodeId(id), SocketAddr::V4(addr));
        ours.insert(info, now, true);
        ours20.insert(info, now, true);
        theirs.add(mainline::Node::new(
            mainline::Id::from_bytes(id).unwrap(),
            addr,
        ));
    }
    println!(
        "routing tables: seedbed K=8 {} nodes in {} buckets, seedbed K=20 {} nodes, mainline {} nodes",
        ours.len(),
        ours.bucket_count(),
        ours20.len(),
        theirs.size()
    );
    let targets: Vec<[u8; 20]> = (0..1024).map(|_| rng.id()).collect();
    let mut g = c.benchmark_group("dht routing closest");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    let mut out = Vec::with_capacity(20);
    g.bench_function("seedbed closest 8", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            ours.closest_into(&NodeId(targets[i]), 8, false, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("seedbed closest 20 (K=20 table)", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            ours20.closest_into(&NodeId(targets[i]), 20, false, &mut out);
            black_box(out.len())
        })
    });
    let ids: Vec<mainline::Id> = targets
        .iter()
        .map(|t| mainline::Id::from_bytes(t).unwrap())
        .collect();
    g.bench_function("mainline closest (K=20)", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(theirs.closest(ids[i]).len())
        })
    });
    g.finish();
}

/// The generated group function has no doc comment of its own.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::bench_decode,
        super::bench_encode,
        super::bench_routing
    );
}
criterion_main!(group::benches);
