//! Reading .torrent files: seedbed-metainfo beside lava_torrent and
//! librqbit-core, in one run.
//!
//! Each library parses a torrent and computes its v1 info hash. Inputs:
//! the `valid` v1 and hybrid .torrent files of `../shared/corpus` (skipped
//! with a message when the corpus is absent). Groups:
//!
//! - `common`: the files every library accepts with the same v1 hash
//!   (lava_torrent rejects some real-world files and mis-hashes unsorted
//!   ones); for hybrid torrents seedbed (default options) also parses the
//!   v2 file tree, checks it is canonical and agrees with the v1 list, and
//!   checks the piece layers (BEP 52 merkle roots), which the others skip.
//!   `seedbed-no-layer-check` is seedbed with
//!   `ParseOptions::verify_piece_layers(false)`: everything but the merkle
//!   check. Neither computes a hybrid's SHA-256 info hash: seedbed does that
//!   on the first `info_hash_v2` call, and only the v1 hash is asked here;
//! - `common_v1`: the same without hybrid torrents, so all three do the
//!   same work: decode, file list, SHA-1 of the exact `info` bytes.
//!   librqbit-core hashes with OpenSSL (its `sha1-crypto-hash` default),
//!   seedbed with RustCrypto `sha1` (SHA-NI when the CPU has it);
//! - `common_v1_split`: where that time goes. `sha1-info-only` is the
//!   RustCrypto SHA-1 of the `info` bytes alone (the floor for every
//!   library); `librqbit-core-parse-only` is librqbit-core's serde decode
//!   without its hash (what `torrent_from_bytes` does before hashing).
//!   Parse cost = full time − hash time;
//! - `all_valid`: every valid file, seedbed only.
//!
//! Throughput is in input bytes per second. On a shared machine the load
//! changes between functions: compare ratios within one group, over more
//! than one run.
//!
//! `cargo bench --bench metainfo -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seedbed_metainfo::{ParseOptions, Torrent};
use sha1::{Digest, Sha1};

/// Parses one torrent and returns its v1 info hash.
type ParseFn = fn(&Bytes) -> Option<[u8; 20]>;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Every valid file of every MANIFEST.tsv, with its bytes.
fn valid_files() -> Vec<(String, Bytes)> {
    let root = corpus_root();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        eprintln!(
            "SKIPPED metainfo benchmark: no corpus at {}",
            root.display()
        );
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = dirs.flatten().map(|e| e.path()).collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
            continue;
        };
        for line in manifest.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() > 1 && cols[1] == "valid" {
                let path = dir.join(cols[0]);
                out.push((
                    path.display().to_string(),
                    Bytes::from(std::fs::read(&path).unwrap()),
                ));
            }
        }
    }
    out
}

/// Input as `Bytes` (what a caller that read a file into a `Vec` has, at no
/// copy); the parse borrows slices of it.
fn seedbed_hash(bytes: &Bytes) -> Option<[u8; 20]> {
    let t = Torrent::from_bytes(bytes.clone()).ok()?;
    t.info_hash_v1().map(|h| h.0)
}

/// seedbed without the BEP 52 piece-layer check (a documented option;
/// [`Torrent::verify_piece_layers`] runs it later).
fn seedbed_hash_no_layer_check(bytes: &Bytes) -> Option<[u8; 20]> {
    const OPTS: ParseOptions = ParseOptions::new().verify_piece_layers(false);
    let t = Torrent::from_bytes_with(bytes.clone(), &OPTS).ok()?;
    t.info_hash_v1().map(|h| h.0)
}

fn lava_hash(bytes: &Bytes) -> Option<[u8; 20]> {
    let t = lava_torrent::torrent::v1::Torrent::read_from_bytes(&bytes[..]).ok()?;
    t.info_hash_bytes().try_into().ok()
}

fn rqbit_hash(bytes: &Bytes) -> Option<[u8; 20]> {
    let t = librqbit_core::torrent_metainfo::torrent_from_bytes(bytes).ok()?;
    Some(t.info_hash.0)
}

/// librqbit-core's `torrent_from_bytes` without the hash: the same serde
/// decode into borrowed buffers.
fn rqbit_parse_only(bytes: &Bytes) -> Option<usize> {
    let t: librqbit_core::torrent_metainfo::TorrentMetaV1Borrowed<'_> =
        librqbit_bencode::from_bytes(bytes).ok()?;
    Some(t.info.raw_bytes.as_ref().len())
}

fn bench(c: &mut Criterion) {
    let files = valid_files();
    // v1 and hybrid files: the ones with a v1 info hash to compare.
    let v1: Vec<&(String, Bytes)> = files
        .iter()
        .filter(|(_, b)| seedbed_hash(b).is_some())
        .collect();
    let common: Vec<&Bytes> = v1
        .iter()
        .filter(|(_, b)| {
            let ours = seedbed_hash(b);
            ours.is_some() && lava_hash(b) == ours && rqbit_hash(b) == ours
        })
        .map(|(_, b)| b)
        .collect();
    let rejected_by = |f: fn(&Bytes) -> Option<[u8; 20]>| {
        v1.iter().filter(|(_, b)| f(b) != seedbed_hash(b)).count()
    };
    eprintln!(
        "metainfo bench: {} valid files, {} with a v1 hash; lava_torrent differs or fails on {}, librqbit-core on {}; {} in the common set",
        files.len(),
        v1.len(),
        rejected_by(lava_hash),
        rejected_by(rqbit_hash),
        common.len()
    );
    if files.is_empty() {
        return;
    }

    // Hybrid torrents cost us the v2 file tree and the BEP 52 piece-layer
    // check, which the others skip; `common_v1` leaves them out.
    let v1_only: Vec<&Bytes> = common
        .iter()
        .copied()
        .filter(|b| Torrent::from_bytes((*b).clone()).is_ok_and(|t| t.info_hash_v2().is_none()))
        .collect();
    let libs: [(&str, ParseFn); 3] = [
        ("seedbed", seedbed_hash),
        ("lava_torrent", lava_hash),
        ("librqbit-core", rqbit_hash),
    ];
    let mut with_no_check = libs.to_vec();
    with_no_check.insert(1, ("seedbed-no-layer-check", seedbed_hash_no_layer_check));
    for (group, inputs, libs) in [
        ("metainfo/common", &common, with_no_check),
        ("metainfo/common_v1", &v1_only, libs.to_vec()),
    ] {
        let bytes: u64 = inputs.iter().map(|b| b.len() as u64).sum();
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(bytes));
        for (name, f) in libs {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    for input in inputs.iter() {
                        black_box(f(black_box(input)));
                    }
                })
            });
        }
        g.finish();
    }

    // The same v1 inputs, split into hashing and parsing.
    let infos: Vec<Bytes> = v1_only
        .iter()
        .map(|b| {
            Torrent::from_bytes((*b).clone())
                .unwrap()
                .info()
                .raw()
                .clone()
        })
        .collect();
    let bytes: u64 = v1_only.iter().map(|b| b.len() as u64).sum();
    let mut g = c.benchmark_group("metainfo/common_v1_split");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(BenchmarkId::from_parameter("seedbed"), |b| {
        b.iter(|| {
            for input in v1_only.iter() {
                black_box(seedbed_hash(black_box(input)));
            }
        })
    });
    g.bench_function(BenchmarkId::from_parameter("sha1-info-only"), |b| {
        b.iter(|| {
            for info in &infos {
                black_box(Sha1::digest(black_box(info)));
            }
        })
    });
    g.bench_function(BenchmarkId::from_parameter("librqbit-core"), |b| {
        b.iter(|| {
            for input in v1_only.iter() {
                black_box(rqbit_hash(black_box(input)));
            }
        })
    });
    g.bench_function(
        BenchmarkId::from_parameter("librqbit-core-parse-only"),
        |b| {
            b.iter(|| {
                for input in v1_only.iter() {
                    black_box(rqbit_parse_only(black_box(input)));
                }
            })
        },
    );
    g.finish();

    let all_bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
    let mut g = c.benchmark_group("metainfo/all_valid");
    g.throughput(Throughput::Bytes(all_bytes));
    g.bench_function(BenchmarkId::from_parameter("seedbed"), |b| {
        b.iter(|| {
            for (_, input) in &files {
                black_box(
                    Torrent::from_bytes(black_box(input).clone())
                        .unwrap()
                        .info_hash(),
                );
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
