//! uTP (BEP 29): packet parsing and encoding, bytes per second through a
//! connection pair on the sans-IO core (no loss, no IO), and a stream pair
//! over loopback UDP through the tokio drivers of seedbed-utp and of
//! librqbit-utp (rqbit's uTP crate), in the same run.
//!
//! `cargo bench --bench utp`; quote ratios of one run.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seedbed::utp::{
    Config, Connection, Header, Packet, PacketType, SelectiveAck, SeqNr, UtpSocket,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn data_packet(payload: &[u8]) -> Vec<u8> {
    Packet {
        header: Header {
            packet_type: PacketType::Data,
            connection_id: 0x1234,
            timestamp_micros: 123_456,
            timestamp_difference_micros: 789,
            window: 1 << 20,
            seq_nr: SeqNr(40_000),
            ack_nr: SeqNr(7),
        },
        selective_ack: None,
        payload,
    }
    .to_vec()
}

fn packets(c: &mut Criterion) {
    let payload = vec![0xa5u8; Config::default().max_payload()];
    let data = data_packet(&payload);
    let mask = [0b1011_0110u8, 0, 0xff, 1, 0, 0, 0, 0x80];
    let state = Packet {
        header: Header {
            packet_type: PacketType::State,
            connection_id: 0x1234,
            timestamp_micros: 1,
            timestamp_difference_micros: 2,
            window: 3,
            seq_nr: SeqNr(4),
            ack_nr: SeqNr(5),
        },
        selective_ack: Some(SelectiveAck::new(&mask).unwrap()),
        payload: &[],
    }
    .to_vec();
    let mut g = c.benchmark_group("utp/packet");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_data_1426", |b| {
        b.iter(|| Packet::parse(black_box(&data)).unwrap().payload.len())
    });
    g.bench_function("parse_state_sack64", |b| {
        b.iter(|| {
            Packet::parse(black_box(&state))
                .unwrap()
                .selective_ack
                .is_some()
        })
    });
    let parsed = Packet::parse(&data).unwrap();
    let mut out = vec![0u8; 1500];
    g.bench_function("encode_data_1426", |b| {
        b.iter(|| black_box(&parsed).encode(black_box(&mut out)).unwrap())
    });
    g.finish();
}

/// Moves `total` bytes from a to b through two connections joined back to
/// back: every datagram is handled at once, the clock steps 10 µs per
/// round, both connections' timers fire when due.
fn transfer(total: usize) -> Duration {
    let config = Config {
        recv_buffer: 4 << 20,
        send_buffer: 4 << 20,
        ..Config::default()
    };
    let start = Instant::now();
    let mut now = start;
    let mut buf = vec![0u8; config.max_packet_size()];
    let mut a = Connection::connect(config, now, 1, SeqNr(1));
    let n = a.poll_transmit(now, &mut buf).unwrap();
    let mut b =
        Connection::accept(config, now, &Packet::parse(&buf[..n]).unwrap(), SeqNr(2)).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    let mut read_buf = vec![0u8; 1 << 20];
    let (mut written, mut read) = (0usize, 0usize);
    let t0 = Instant::now();
    while read < total {
        while written < total {
            let want = (total - written).min(chunk.len());
            match a.write(&chunk[..want]) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        now += Duration::from_micros(10);
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle(now, &buf[..n]).unwrap();
        }
        while let Ok(n) = b.read(&mut read_buf) {
            if n == 0 {
                break;
            }
            read += n;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, &buf[..n]).unwrap();
        }
        // Both timers: the receiver's delayed ack is one.
        for c in [&mut a, &mut b] {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
    }
    t0.elapsed()
}

fn sans_io(c: &mut Criterion) {
    const TOTAL: usize = 32 << 20;
    let mut g = c.benchmark_group("utp/sans_io");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    g.bench_function("seedbed_pair_32MiB", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| transfer(TOTAL)).sum())
    });
    g.finish();
}

const LOOPBACK_TOTAL: usize = 16 << 20;

async fn pump<R, W>(mut reader: R, mut writer: W) -> Duration
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let t0 = Instant::now();
    let w = tokio::spawn(async move {
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        while sent < LOOPBACK_TOTAL {
            writer.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
        writer.flush().await.unwrap();
        writer
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    while got < LOOPBACK_TOTAL {
        let n = reader.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream ended early");
        got += n;
    }
    let elapsed = t0.elapsed();
    let _writer = w.await.unwrap();
    elapsed
}

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("utp/loopback");
    g.throughput(Throughput::Bytes(LOOPBACK_TOTAL as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));

    g.bench_function("seedbed_16MiB", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let a = UtpSocket::bind("127.0.0.1:0").await.unwrap();
                    let s = UtpSocket::bind("127.0.0.1:0").await.unwrap();
                    let (out, inc) = tokio::join!(a.connect(s.local_addr()), s.accept());
                    let (inc, _) = inc.unwrap();
                    total += pump(inc, out.unwrap()).await;
                }
                total
            })
        })
    });

    g.bench_function("librqbit_utp_16MiB", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
                    let a = librqbit_utp::UtpSocketUdp::new_udp(any).await.unwrap();
                    let s = librqbit_utp::UtpSocketUdp::new_udp(any).await.unwrap();
                    let (out, inc) = tokio::join!(a.connect(s.bind_addr()), s.accept());
                    let (inc, out) = (inc.unwrap(), out.unwrap());
                    let (reader, _w) = inc.split();
                    let (_r, writer) = out.split();
                    total += pump(reader, writer).await;
                }
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, packets, sans_io, loopback);
criterion_main!(benches);
