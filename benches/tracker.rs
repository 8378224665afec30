//! Tracker protocol codecs: seedbed-tracker-proto beside aquatic's protocol
//! crates, in one run.
//!
//! - UDP announce request: decode + encode (98 bytes);
//! - UDP announce response with 50 IPv4 peers: decode + encode (320 bytes);
//!   ours into `SocketAddr`s and as a zero-copy view, aquatic's raw and
//!   with its peers turned into `SocketAddr`s (the same work as ours);
//! - HTTP announce response with 50 compact IPv4 peers: parse (aquatic via
//!   serde_bencode);
//! - HTTP announce query string: parse (tracker side).
//!
//! `cargo bench --bench tracker -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_main, Criterion, Throughput};
use seedbed::tracker::http::parse_announce_response;
use seedbed::tracker::udp::{
    AnnounceRequest as UdpAnnounce, AnnounceResponse as UdpAnnounceResponse, AnnounceResponseView,
    ConnectionId, Request, Response, TransactionId,
};
use seedbed::tracker::{AnnounceRequest, AnnounceResponse, Event, InfoHash, Peer, PeerId, PeerKey};

fn announce() -> AnnounceRequest {
    let mut r = AnnounceRequest::new(
        InfoHash(*b"\x12\x34\x56\x78\x9a\xbc\xde\xf0abcdefgh\x00\x01\x02\x03"),
        PeerId(*b"-SB0001-0123456789ab"),
        6881,
    );
    r.uploaded = 123_456_789;
    r.downloaded = 987_654_321;
    r.left = 1 << 30;
    r.event = Event::Started;
    r.numwant = Some(50);
    r.key = Some(PeerKey(0x1234_5678));
    r
}

fn peers() -> Vec<SocketAddr> {
    (0..50u8)
        .map(|i| SocketAddr::from(([10, 0, i, 1], 6881 + u16::from(i))))
        .collect()
}

fn udp(c: &mut Criterion) {
    let req = Request::Announce(UdpAnnounce::from_request(
        ConnectionId(0x0102_0304_0506_0708),
        TransactionId(0xdead_beef),
        &announce(),
        Default::default(),
    ));
    let req_bytes = req.to_bytes();
    let mut g = c.benchmark_group("udp_announce_request");
    g.throughput(Throughput::Bytes(req_bytes.len() as u64));
    let mut out = Vec::with_capacity(256);
    g.bench_function("seedbed", |b| {
        b.iter(|| {
            let r = Request::parse(black_box(&req_bytes)).unwrap();
            out.clear();
            r.write(&mut out);
            black_box(&out);
        })
    });
    g.bench_function("aquatic_udp_protocol", |b| {
        b.iter(|| {
            let r = aquatic_udp_protocol::Request::parse_bytes(black_box(&req_bytes), 74).unwrap();
            out.clear();
            r.write_bytes(&mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();

    let resp = Response::Announce(UdpAnnounceResponse {
        transaction_id: TransactionId(0xdead_beef),
        interval: 1800,
        leechers: 10,
        seeders: 40,
        peers: peers(),
    });
    let resp_bytes = resp.to_bytes();
    let mut g = c.benchmark_group("udp_announce_response_50_peers");
    g.throughput(Throughput::Bytes(resp_bytes.len() as u64));
    g.bench_function("seedbed", |b| {
        b.iter(|| {
            let r = Response::parse(black_box(&resp_bytes), false).unwrap();
            out.clear();
            r.write(&mut out);
            black_box(&out);
        })
    });
    g.bench_function("seedbed_view", |b| {
        b.iter(|| {
            let r = AnnounceResponseView::parse(black_box(&resp_bytes), false).unwrap();
            out.clear();
            r.write(&mut out);
            black_box(&out);
        })
    });
    g.bench_function("aquatic_udp_protocol", |b| {
        b.iter(|| {
            let r =
                aquatic_udp_protocol::Response::parse_bytes(black_box(&resp_bytes), true).unwrap();
            out.clear();
            r.write_bytes(&mut out).unwrap();
            black_box(&out);
        })
    });
    // Like-for-like with `seedbed`: the peers also become `SocketAddr`s.
    g.bench_function("aquatic_udp_protocol+socketaddr", |b| {
        b.iter(|| {
            let r =
                aquatic_udp_protocol::Response::parse_bytes(black_box(&resp_bytes), true).unwrap();
            if let aquatic_udp_protocol::Response::AnnounceIpv4(a) = &r {
                let peers: Vec<SocketAddr> = a
                    .peers
                    .iter()
                    .map(|p| {
                        let (ip, port) = (p.ip_address, p.port);
                        SocketAddr::from((ip.0, port.0.get()))
                    })
                    .collect();
                black_box(&peers);
            }
            out.clear();
            r.write_bytes(&mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();
}

fn http(c: &mut Criterion) {
    let resp = AnnounceResponse {
        interval: 1800,
        min_interval: None,
        tracker_id: None,
        complete: Some(40),
        incomplete: Some(10),
        warning_message: None,
        peers: peers().into_iter().map(Peer::from).collect(),
    };
    let mut body = Vec::new();
    resp.encode_http(true, &mut body);
    let mut g = c.benchmark_group("http_announce_response_parse_50_peers");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("seedbed", |b| {
        b.iter(|| black_box(parse_announce_response(black_box(&body)).unwrap()))
    });
    g.bench_function("aquatic_http_protocol", |b| {
        b.iter(|| {
            black_box(
                aquatic_http_protocol::response::Response::parse_bytes(black_box(&body)).unwrap(),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("http_announce_response_encode_50_peers");
    let mut out = Vec::with_capacity(1024);
    g.bench_function("seedbed", |b| {
        b.iter(|| {
            out.clear();
            black_box(&resp).encode_http(true, &mut out);
            black_box(&out);
        })
    });
    let aq = aquatic_http_protocol::response::Response::parse_bytes(&body).unwrap();
    g.bench_function("aquatic_http_protocol", |b| {
        b.iter(|| {
            out.clear();
            black_box(&aq).write_bytes(&mut out).unwrap();
            black_box(&out);
        })
    });
    g.finish();

    let mut req = announce();
    req.key = None; // aquatic reads `key` as text; keep the inputs identical
    let query = req.to_query();
    let mut g = c.benchmark_group("http_announce_query_parse");
    g.throughput(Throughput::Bytes(query.len() as u64));
    g.bench_function("seedbed", |b| {
        b.iter(|| black_box(AnnounceRequest::from_query(black_box(query.as_bytes())).unwrap()))
    });
    g.bench_function("aquatic_http_protocol", |b| {
        b.iter(|| {
            black_box(
                aquatic_http_protocol::request::AnnounceRequest::parse_query_string(black_box(
                    &query,
                ))
                .unwrap(),
            )
        })
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::udp, super::http);
}
use group::benches;
criterion_main!(benches);
