//! Torrent creation and magnet links in seedbed-metainfo.
//!
//! - `create`: hashing 64 MiB held in memory into v1, v2 and hybrid
//!   torrents (piece length 256 KiB) with one and two threads, so the
//!   numbers are the hashing pipeline without disk reads. Whole-process
//!   comparisons with mktorrent and libtorrent on a 1 GiB file are in
//!   `scripts/bench-create.sh`.
//! - `merkle`: the streaming BEP 52 hasher alone, 16 MiB.
//! - `magnet`: parsing and formatting a typical link.
//!
//! Throughput is in content bytes (or link bytes) per second.
//!
//! `cargo bench --bench create -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seedbed_metainfo::create::merkle::FileHasher;
use seedbed_metainfo::{Content, Magnet, TorrentBuilder, TorrentVersion};

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn create(c: &mut Criterion) {
    let bytes = data(64 << 20);
    let content = Content::single_file("bench.bin", bytes.len() as u64).expect("valid content");
    let mut g = c.benchmark_group("create");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    for (name, version) in [
        ("v1", TorrentVersion::V1),
        ("v2", TorrentVersion::V2),
        ("hybrid", TorrentVersion::Hybrid),
    ] {
        for threads in [1, 2] {
            let builder = TorrentBuilder::new(version)
                .piece_length(256 * 1024)
                .threads(threads);
            g.bench_with_input(
                BenchmarkId::new(name, format!("{threads}-threads")),
                &builder,
                |b, builder| {
                    b.iter(|| {
                        builder
                            .build(&content, |_| Ok(&bytes[..]), |_, _| {})
                            .expect("hashes")
                    })
                },
            );
        }
    }
    g.finish();
}

fn merkle(c: &mut Criterion) {
    let bytes = data(16 << 20);
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("file_hasher_16MiB", |b| {
        b.iter(|| {
            let mut h = FileHasher::new(256 * 1024).expect("valid piece length");
            h.update(black_box(&bytes));
            h.finish()
        })
    });
    g.finish();
}

fn magnet(c: &mut Criterion) {
    let link = "magnet:?xt=urn:btih:a38d02c287893842a32825aa866e00828a318f07\
                &xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e\
                &dn=Ubuntu+11.04+%28Final%29&tr=udp%3A%2F%2Ftracker.openbittorrent.com%3A80\
                &tr=udp%3A%2F%2Ftracker.publicbt.com%3A80&ws=http%3A%2F%2Fmirror.example%2Fiso%2F\
                &x.pe=127.0.0.1:6881&so=0,2-4";
    let parsed: Magnet = link.parse().expect("valid link");
    let mut g = c.benchmark_group("magnet");
    g.throughput(Throughput::Bytes(link.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| black_box(link).parse::<Magnet>().expect("valid link"))
    });
    g.bench_function("format", |b| b.iter(|| black_box(&parsed).to_string()));
    g.finish();
}

criterion_group!(benches, create, merkle, magnet);
criterion_main!(benches);
