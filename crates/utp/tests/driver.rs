//! The tokio driver over real loopback UDP: a stream pair moving a few MiB
//! both ways at once (data verified), the peer-wire codecs running over a
//! `UtpStream` unchanged, the shared-socket mode (one UDP socket for uTP
//! and a KRPC-like protocol, routed by the first byte), EOF on drop, and a
//! SYN nobody answers, the socket buffers set, and 64 MiB one way in a
//! bounded time. Every test is bounded by a timeout.
#![cfg(feature = "tokio")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId,
};
use seedbed_utp::{Config, EndpointConfig, UtpSocket, UtpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

const LOCALHOST: &str = "127.0.0.1:0";

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

/// Writes `data` and shuts down, while reading everything the other side
/// sends; returns what was read.
async fn talk(stream: UtpStream, data: Vec<u8>) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(100_000) {
            w.write_all(chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    let _w = writer.await.unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_pair_moves_mebibytes_both_ways() {
    within(60, async {
        let a = UtpSocket::bind(LOCALHOST).await.unwrap();
        let b = UtpSocket::bind(LOCALHOST).await.unwrap();
        let to_b = common::data(1, 4 << 20);
        let to_a = common::data(2, 3 << 20);
        let b_addr = b.local_addr();
        let accept = tokio::spawn(async move {
            let (s, from) = b.accept().await.unwrap();
            (s, from, b)
        });
        let sa = a.connect(b_addr).await.unwrap();
        let (sb, from, _b) = accept.await.unwrap();
        assert_eq!(from, a.local_addr());
        assert_eq!(sa.peer_addr(), b_addr);
        let (ta, tb) = (to_b.clone(), to_a.clone());
        let side_a = tokio::spawn(talk(sa, ta));
        let side_b = tokio::spawn(talk(sb, tb));
        let got_a = side_a.await.unwrap();
        let got_b = side_b.await.unwrap();
        assert!(
            got_b == to_b,
            "a to b: {} of {} bytes",
            got_b.len(),
            to_b.len()
        );
        assert!(
            got_a == to_a,
            "b to a: {} of {} bytes",
            got_a.len(),
            to_a.len()
        );
    })
    .await;
}

#[tokio::test]
async fn peer_wire_codecs_run_over_utp_unchanged() {
    within(30, async {
        let a = UtpSocket::bind(LOCALHOST).await.unwrap();
        let b = UtpSocket::bind(LOCALHOST).await.unwrap();
        let info_hash = InfoHash([7; 20]);
        let b_addr = b.local_addr();
        let server = tokio::spawn(async move {
            let (s, _) = b.accept().await.unwrap();
            let mut framed = Framed::new(s, HandshakeCodec::new());
            let theirs = match framed.next().await {
                Some(Ok(HandshakeEvent::Complete(h))) => h,
                other => panic!("no handshake: {other:?}"),
            };
            framed
                .send(Handshake::new(
                    theirs.info_hash,
                    PeerId(*b"-SB0001-serverserver"),
                ))
                .await
                .unwrap();
            let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(8)));
            let Some(Ok(Message::Request(req))) = framed.next().await else {
                panic!("no request")
            };
            let block = common::data(u64::from(req.begin), req.length as usize);
            framed
                .send(Message::Piece(seedbed_peer_wire::Block {
                    piece: req.piece,
                    begin: req.begin,
                    data: Bytes::from(block),
                }))
                .await
                .unwrap();
            // The client closes; we see the end of the stream.
            assert!(framed.next().await.is_none());
        });
        let s = a.connect(b_addr).await.unwrap();
        let mut framed = Framed::new(s, HandshakeCodec::new());
        framed
            .send(Handshake::new(info_hash, PeerId(*b"-SB0001-clientclient")))
            .await
            .unwrap();
        match framed.next().await {
            Some(Ok(HandshakeEvent::Complete(h))) => assert_eq!(h.info_hash, info_hash),
            other => panic!("no handshake: {other:?}"),
        }
        let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(8)));
        let req = BlockRequest {
            piece: 3,
            begin: 16384,
            length: 16384,
        };
        framed.send(Message::Request(req)).await.unwrap();
        match framed.next().await {
            Some(Ok(Message::Piece(block))) => {
                assert_eq!(block.data[..], common::data(16384, 16384)[..]);
            }
            other => panic!("no piece: {other:?}"),
        }
        SinkExt::<Message>::close(&mut framed).await.unwrap();
        drop(framed);
        server.await.unwrap();
    })
    .await;
}

/// One UDP socket, two protocols: a reader routes datagrams starting with
/// `d` (bencode, KRPC) to one channel and the rest to uTP, as the session
/// will with the DHT.
#[tokio::test]
async fn shared_socket_carries_utp_beside_krpc() {
    within(30, async {
        let udp = Arc::new(UdpSocket::bind(LOCALHOST).await.unwrap());
        let shared_addr = udp.local_addr().unwrap();
        let (utp_tx, utp_rx) = mpsc::channel::<(SocketAddr, Bytes)>(1024);
        let (krpc_tx, mut krpc_rx) = mpsc::channel::<(SocketAddr, Bytes)>(16);
        let reader = {
            let udp = udp.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                        continue;
                    };
                    let d = Bytes::copy_from_slice(&buf[..n]);
                    let tx = if d.first() == Some(&b'd') {
                        &krpc_tx
                    } else {
                        &utp_tx
                    };
                    if tx.send((from, d)).await.is_err() {
                        return;
                    }
                }
            })
        };
        let shared =
            UtpSocket::with_socket(udp.clone(), utp_rx, EndpointConfig::default()).unwrap();
        assert_eq!(shared.local_addr(), shared_addr);

        // A KRPC-like datagram reaches the other protocol.
        let dht = UdpSocket::bind(LOCALHOST).await.unwrap();
        dht.send_to(
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
            shared_addr,
        )
        .await
        .unwrap();
        let (from, d) = krpc_rx.recv().await.unwrap();
        assert_eq!(from, dht.local_addr().unwrap());
        assert_eq!(d[0], b'd');

        // uTP both ways: a plain socket dials the shared one...
        let other = UtpSocket::bind(LOCALHOST).await.unwrap();
        let (dialled, accepted) = tokio::join!(other.connect(shared_addr), shared.accept());
        let dialled = dialled.unwrap();
        let (accepted, from) = accepted.unwrap();
        assert_eq!(from, other.local_addr());
        let payload = common::data(3, 500_000);
        let (got_shared, got_other) = tokio::join!(
            talk(accepted, payload.clone()),
            talk(dialled, b"pong".to_vec())
        );
        assert_eq!(got_shared, b"pong");
        assert!(got_other == payload);
        // ... and the shared one dials out.
        let (out, inc) = tokio::join!(shared.connect(other.local_addr()), other.accept());
        let mut out = out.unwrap();
        let (mut inc, _) = inc.unwrap();
        out.write_all(b"hello").await.unwrap();
        out.shutdown().await.unwrap();
        let mut got = Vec::new();
        inc.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        reader.abort();
    })
    .await;
}

#[tokio::test]
async fn dropping_a_stream_ends_the_other_side() {
    within(30, async {
        let a = UtpSocket::bind(LOCALHOST).await.unwrap();
        let b = UtpSocket::bind(LOCALHOST).await.unwrap();
        let b_addr = b.local_addr();
        let (sa, accepted) = tokio::join!(a.connect(b_addr), b.accept());
        let mut sa = sa.unwrap();
        let (mut sb, _) = accepted.unwrap();
        sa.write_all(b"bye").await.unwrap();
        drop(sa);
        let mut got = Vec::new();
        sb.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
    })
    .await;
}

#[tokio::test]
async fn unanswered_syn_times_out() {
    within(30, async {
        let config = EndpointConfig {
            connection: Config {
                initial_timeout: Duration::from_millis(100),
                max_syn_retransmits: 1,
                ..Config::default()
            },
            ..EndpointConfig::default()
        };
        let a = UtpSocket::bind_with_config(LOCALHOST, config)
            .await
            .unwrap();
        // A UDP socket that never answers.
        let silent = UdpSocket::bind(LOCALHOST).await.unwrap();
        let err = a.connect(silent.local_addr().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    })
    .await;
}

#[tokio::test]
async fn abandoned_connect_leaves_nothing_behind() {
    within(30, async {
        let a = UtpSocket::bind(LOCALHOST).await.unwrap();
        let silent = UdpSocket::bind(LOCALHOST).await.unwrap();
        // The caller gives up before the SYN's retransmits run out (as the
        // session does when it falls back to TCP).
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            a.connect(silent.local_addr().unwrap()),
        )
        .await;
        assert!(attempt.is_err(), "nothing answers");
        assert_eq!(a.stats().connections, 0, "the SYN was withdrawn");
        // The silent side got the SYN, then a RESET: no retransmits.
        let mut buf = [0u8; 1500];
        let mut kinds = Vec::new();
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(1500), silent.recv_from(&mut buf)).await
        {
            kinds.push(
                seedbed_utp::Packet::parse(&buf[..n])
                    .unwrap()
                    .header
                    .packet_type,
            );
        }
        assert_eq!(
            kinds,
            [seedbed_utp::PacketType::Syn, seedbed_utp::PacketType::Reset]
        );
    })
    .await;
}

/// `net.core.rmem_max` (Linux), the cap of an unprivileged `SO_RCVBUF`.
fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn driver_sets_the_socket_buffers() {
    use rustix::net::sockopt::{socket_recv_buffer_size, socket_send_buffer_size};
    let Some(cap) = rmem_max() else {
        println!("SKIPPED: no /proc/sys/net/core/rmem_max");
        return;
    };
    // At the setting (64 KiB, the least allowed) and at the default.
    for size in [64 << 10, EndpointConfig::default().socket_buffer] {
        let socket = Arc::new(UdpSocket::bind(LOCALHOST).await.unwrap());
        let (_tx, rx) = mpsc::channel(1);
        let config = EndpointConfig {
            socket_buffer: size,
            ..EndpointConfig::default()
        };
        let _utp = UtpSocket::with_socket(socket.clone(), rx, config).unwrap();
        // Linux doubles the value for its bookkeeping, and caps the
        // request at rmem_max (a fresh machine: 208 KiB).
        let want = (size as usize).min(cap);
        let got = socket_recv_buffer_size(&*socket).unwrap();
        assert!(
            got >= want,
            "SO_RCVBUF {got} for a request of {size} (cap {cap})"
        );
        assert!(socket_send_buffer_size(&*socket).unwrap() >= (size as usize).min(cap) / 2);
    }
    // 0 leaves the system's default alone.
    let plain = UdpSocket::bind(LOCALHOST).await.unwrap();
    let default = socket_recv_buffer_size(&plain).unwrap();
    let socket = Arc::new(UdpSocket::bind(LOCALHOST).await.unwrap());
    let (_tx, rx) = mpsc::channel(1);
    let config = EndpointConfig {
        socket_buffer: 0,
        ..EndpointConfig::default()
    };
    let _utp = UtpSocket::with_socket(socket.clone(), rx, config).unwrap();
    assert_eq!(socket_recv_buffer_size(&*socket).unwrap(), default);
}

/// 64 MiB one way through the drivers with default settings, well inside
/// a generous bound (the rate is the benchmark's business: `cargo bench
/// --bench utp`, `scripts/bench_utp.py`). A stream stalled by lost acks
/// or requests waiting for 500 ms timeouts, or by a socket buffer that
/// drops bursts, takes far longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_moves_64_mib_over_loopback() {
    const TOTAL: usize = 64 << 20;
    let started = std::time::Instant::now();
    within(30, async {
        let a = UtpSocket::bind(LOCALHOST).await.unwrap();
        let b = UtpSocket::bind(LOCALHOST).await.unwrap();
        let (out, inc) = tokio::join!(a.connect(b.local_addr()), b.accept());
        let mut writer = out.unwrap();
        let (mut reader, _) = inc.unwrap();
        let w = tokio::spawn(async move {
            let chunk = common::data(5, 1 << 20);
            for _ in 0..TOTAL / chunk.len() {
                writer.write_all(&chunk).await.unwrap();
            }
            writer.shutdown().await.unwrap();
            writer
        });
        let expected = common::data(5, 1 << 20);
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0usize;
        loop {
            let n = reader.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            // Spot checks: the first bytes of each read are where they
            // belong in the repeated 1 MiB pattern.
            let at = got % expected.len();
            let k = n.min(expected.len() - at).min(64);
            assert_eq!(buf[..k], expected[at..at + k], "byte {got}");
            got += n;
        }
        assert_eq!(got, TOTAL);
        let writer = w.await.unwrap();
        println!("sender {:?}", writer.stats());
    })
    .await;
    println!("64 MiB in {:.2} s", started.elapsed().as_secs_f64());
}

/// Path MTU discovery through the real socket: probes go out with the
/// don't-fragment bit set for them alone, loopback carries them, and the
/// sender's packets grow from `min_mtu` to within 8 bytes of `mtu`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_mtu_discovery_grows_packets_to_the_configured_mtu() {
    let config = EndpointConfig {
        connection: Config {
            mtu: 9000,
            min_mtu: 1280,
            ..Config::default()
        },
        ..EndpointConfig::default()
    };
    within(30, async {
        let a = UtpSocket::bind_with_config(LOCALHOST, config)
            .await
            .unwrap();
        let b = UtpSocket::bind_with_config(LOCALHOST, config)
            .await
            .unwrap();
        let (out, inc) = tokio::join!(a.connect(b.local_addr()), b.accept());
        let (mut writer, mut reader) = (out.unwrap(), inc.unwrap().0);
        let to_b = common::data(9, 8 << 20);
        let sent = to_b.clone();
        let w = tokio::spawn(async move {
            writer.write_all(&sent).await.unwrap();
            writer.flush().await.unwrap();
            let stats = writer.stats().unwrap();
            writer.shutdown().await.unwrap();
            stats
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert!(got == to_b, "{} of {} bytes", got.len(), to_b.len());
        let stats = w.await.unwrap();
        assert!(stats.mtu > 9000 - 8, "{stats:?}");
        assert!((1..=14).contains(&stats.mtu_probes), "{stats:?}");
        assert_eq!(stats.losses, 0, "{stats:?}");
    })
    .await;
}
