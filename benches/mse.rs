//! Message Stream Encryption costs: RC4 over 16 KiB blocks (the size of a
//! `piece` message's block) in bytes/s, from which the CPU seconds per GiB
//! of encrypted traffic follow (1 GiB / throughput, per direction and per
//! side); and a whole MSE handshake (two 768-bit Diffie-Hellman key pairs
//! and shared secrets, four RC4 key setups with their 1024-byte discard)
//! through the sans-IO machines.
//!
//! ```text
//! cargo bench --bench mse -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `rc4_crate_in_place` is what `MseStream` does on reads (RustCrypto's
//! `rc4`, in the caller's buffer); `rc4_crate_copying` what it does on
//! writes (encrypt-while-copying into its own buffer). `rc4_textbook` is
//! the byte-at-a-time loop of the RC4 description, the way libtorrent's
//! own RC4 (from libtomcrypt) is written: the baseline the crate has to
//! match.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_main, Criterion, Throughput};
use seedbed::metainfo::InfoHash;
use seedbed::wire::mse::{Config, Initiator, PrivateKey, Rc4Stream, Responder, Secrets, SkeyHash};

const BLOCK: usize = 16 * 1024;

/// The RC4 of the textbook (KSA, PRGA), 1024 bytes discarded.
struct TextbookRc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl TextbookRc4 {
    fn new(key: &[u8]) -> Self {
        let mut s = [0u8; 256];
        for (i, x) in s.iter_mut().enumerate() {
            *x = i as u8;
        }
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
            s.swap(i, usize::from(j));
        }
        let mut r = TextbookRc4 { s, i: 0, j: 0 };
        r.apply(&mut [0u8; 1024]);
        r
    }

    fn apply(&mut self, data: &mut [u8]) {
        let (mut i, mut j, s) = (self.i, self.j, &mut self.s);
        for b in data {
            i = i.wrapping_add(1);
            j = j.wrapping_add(s[usize::from(i)]);
            s.swap(usize::from(i), usize::from(j));
            *b ^= s[usize::from(s[usize::from(i)].wrapping_add(s[usize::from(j)]))];
        }
        self.i = i;
        self.j = j;
    }
}

fn rc4(c: &mut Criterion) {
    let key = [0x5au8; 20];
    let mut g = c.benchmark_group("mse_rc4_16KiB");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    let mut buf = vec![0x33u8; BLOCK];
    let mut ours = Rc4Stream::new(&key);
    g.bench_function("rc4_crate_in_place", |b| {
        b.iter(|| ours.apply(black_box(&mut buf)))
    });
    let src = vec![0x44u8; BLOCK];
    let mut ours = Rc4Stream::new(&key);
    g.bench_function("rc4_crate_copying", |b| {
        b.iter(|| ours.apply_to(black_box(&src), black_box(&mut buf)))
    });
    let mut textbook = TextbookRc4::new(&key);
    g.bench_function("rc4_textbook", |b| {
        b.iter(|| textbook.apply(black_box(&mut buf)))
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let ih = InfoHash([7; 20]);
    let config = Config::default();
    let secrets = |k: u8| {
        Secrets::new(
            PrivateKey::from_bytes(&[k; 20]).unwrap(),
            vec![k; 100],
            vec![],
        )
    };
    let lookup = |h: &SkeyHash| (*h == SkeyHash::of(&ih)).then_some(ih);
    c.bench_function("mse_handshake_both_sides", |b| {
        b.iter(|| {
            let mut a = Initiator::new(&config, ih, &[0x13; 68], secrets(1)).unwrap();
            let mut r = Responder::new(&config, secrets(2)).unwrap();
            let (mut to_r, mut to_a) = (BytesMut::new(), BytesMut::new());
            let (mut done_a, mut done_r) = (false, false);
            while !(done_a && done_r) {
                if let Some(out) = a.poll_transmit() {
                    to_r.extend_from_slice(&out);
                }
                done_r |= r.receive(&mut to_r, lookup).unwrap().is_some();
                if let Some(out) = r.poll_transmit() {
                    to_a.extend_from_slice(&out);
                }
                done_a |= a.receive(&mut to_a).unwrap().is_some();
            }
            black_box((to_a, to_r))
        })
    });
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    rc4(&mut c);
    handshake(&mut c);
}

criterion_main!(benches);
