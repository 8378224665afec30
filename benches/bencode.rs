//! Bencode decoding: seedbed beside serde_bencode, bendy, bt_bencode and
//! librqbit-bencode, in one run.
//!
//! Each library decodes into its own generic value type. Inputs: every
//! .torrent file of `../shared/corpus` (skipped with a message when the
//! corpus is absent), one 1 MB string, a list of 100,000 integers, and a
//! dictionary of 10,000 keys. Throughput is in input bytes per second.
//!
//! `cargo bench --bench bencode`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn corpus_files() -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "torrent") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    if paths.is_empty() {
        eprintln!("SKIPPED corpus benchmark: no corpus at {}", root.display());
    }
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn synthetic() -> Vec<(&'static str, Vec<u8>)> {
    let mut string = b"1000000:".to_vec();
    string.resize(8 + 1_000_000, b'x');
    let mut ints = b"l".to_vec();
    for i in 0..100_000i64 {
        ints.extend_from_slice(format!("i{}e", i * 7919 - 350_000).as_bytes());
    }
    ints.push(b'e');
    let mut dict = b"d".to_vec();
    for i in 0..10_000 {
        let k = format!("key{i:06}");
        dict.extend_from_slice(format!("{}:{}i{}e", k.len(), k, i).as_bytes());
    }
    dict.push(b'e');
    vec![
        ("string_1mb", string),
        ("list_100k_ints", ints),
        ("dict_10k_keys", dict),
    ]
}

type Decoder = fn(&[u8]) -> bool;

fn decoders() -> Vec<(&'static str, Decoder)> {
    vec![
        ("seedbed", |b| {
            let opts = seedbed_bencode::DecodeOptions::new().allow_trailing(true);
            seedbed_bencode::decode_with(black_box(b), &opts)
                .map(|d| black_box(d.item_count()))
                .is_ok()
        }),
        ("serde_bencode", |b| {
            serde_bencode::from_bytes::<serde_bencode::value::Value>(black_box(b))
                .map(black_box)
                .is_ok()
        }),
        ("bendy", |b| {
            use bendy::decoding::{Decoder, FromBencode};
            // bendy's `from_bencode` allows no nesting by default; give it
            // the same depth limit as ours.
            let mut d = Decoder::new(black_box(b)).with_max_depth(100);
            let ok = match d.next_object() {
                Ok(Some(o)) => bendy::value::Value::decode_bencode_object(o)
                    .map(black_box)
                    .is_ok(),
                _ => false,
            };
            ok
        }),
        ("bt_bencode", |b| {
            bt_bencode::from_slice::<bt_bencode::Value>(black_box(b))
                .map(black_box)
                .is_ok()
        }),
        ("librqbit_bencode", |b| {
            librqbit_bencode::dyn_from_bytes::<librqbit_bencode::ByteBuf<'_>>(black_box(b))
                .map(black_box)
                .is_ok()
        }),
    ]
}

fn bench_corpus(c: &mut Criterion) {
    let files = corpus_files();
    if files.is_empty() {
        return;
    }
    let total: usize = files.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Bytes(total as u64));
    for (name, f) in decoders() {
        let ok = files.iter().filter(|b| f(b)).count();
        eprintln!("{name}: decodes {ok} of {} corpus files", files.len());
        g.bench_function(name, |b| {
            b.iter(|| {
                for file in &files {
                    black_box(f(file));
                }
            })
        });
    }
    g.finish();
}

fn bench_synthetic(c: &mut Criterion) {
    for (input_name, input) in synthetic() {
        let mut g = c.benchmark_group(input_name);
        g.throughput(Throughput::Bytes(input.len() as u64));
        for (name, f) in decoders() {
            if !f(&input) {
                eprintln!("{name} rejects {input_name}; its figure measures the rejection");
            }
            g.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, i| {
                b.iter(|| f(i))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_corpus, bench_synthetic);
criterion_main!(benches);
