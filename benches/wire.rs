//! Peer wire decoding: a stream of 16 KiB `piece` messages and a stream of
//! small messages (`have`, `request`), decoded from one buffer, in bytes/s
//! and messages/s; seedbed's `MessageDecoder` beside
//! librqbit-peer-protocol's `Message::deserialize` in the same run.
//!
//! ```text
//! cargo bench --bench wire -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Three decoders, the same input, the same checks on our side:
//!
//! * `seedbed` (`MessageDecoder::decode`) consumes a `BytesMut` and returns
//!   owned messages: piece data is split off zero-copy as `Bytes`, which
//!   costs an atomic reference count increment per payload, and its drop a
//!   decrement, and the caller moves an 88-byte `Message` (the BEP 52
//!   `Hashes` variant sets its size). It is the API of the tokio codec.
//! * `seedbed_borrowed` (`MessageDecoder::decode_borrowed`) borrows `&[u8]`
//!   and returns `MessageRef`s with `&[u8]` payloads: the like-for-like
//!   comparison with librqbit, which also borrows.
//! * `librqbit_peer_protocol` (`Message::deserialize`) borrows `&[u8]`. It
//!   checks less than we do: no maximum message or block length, and an
//!   unknown id is an error.
//!
//! Each gets a fresh copy of the input per iteration, made and freed
//! outside the timed section, so all start from the same cache state.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use seedbed::wire::{Block, BlockRequest, Limits, Message, MessageDecoder, MessageRef};

const PIECES: usize = 256;
const SMALL: usize = 100_000;

fn piece_stream() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..PIECES as u32 {
        Message::Piece(Block {
            piece: i / 16,
            begin: (i % 16) * 16384,
            data: Bytes::from(vec![i as u8; 16384]),
        })
        .encode(&mut wire);
    }
    wire
}

fn small_stream() -> Vec<u8> {
    let mut wire = Vec::new();
    for i in 0..(SMALL / 2) as u32 {
        Message::Have { piece: i }.encode(&mut wire);
        Message::Request(BlockRequest {
            piece: i,
            begin: 0,
            length: 16384,
        })
        .encode(&mut wire);
    }
    wire
}

/// Returns the (empty) buffer so that freeing the input happens outside
/// the timed section, as for librqbit, whose input outlives the loop.
fn seedbed_decode(mut buf: BytesMut) -> (usize, BytesMut) {
    let mut dec = MessageDecoder::new(Limits::new());
    let mut n = 0;
    while let Some(m) = dec.decode(&mut buf).expect("valid stream") {
        black_box(&m);
        n += 1;
    }
    (n, buf)
}

fn seedbed_decode_borrowed(wire: &[u8]) -> usize {
    let mut dec = MessageDecoder::new(Limits::new());
    let mut pos = 0;
    let mut n = 0;
    while let Some((m, len)) = dec.decode_borrowed(&wire[pos..]).expect("valid stream") {
        black_box(&m);
        pos += len;
        n += 1;
    }
    n
}

fn rqbit_decode(wire: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while pos < wire.len() {
        let (m, len) =
            librqbit_peer_protocol::Message::deserialize(&wire[pos..], &[]).expect("valid stream");
        black_box(&m);
        pos += len;
        n += 1;
    }
    n
}

/// The benchmark measures zero-copy decoding: check once that piece data
/// points into the input buffer.
fn assert_zero_copy(wire: &[u8]) {
    let mut buf = BytesMut::from(wire);
    let range = buf.as_ptr_range();
    let mut dec = MessageDecoder::new(Limits::new());
    while let Some(m) = dec.decode(&mut buf).expect("valid stream") {
        if let Message::Piece(b) = m {
            assert!(range.contains(&b.data.as_ptr()), "piece payload was copied");
        }
    }
    let range = wire.as_ptr_range();
    let mut dec = MessageDecoder::new(Limits::new());
    let mut pos = 0;
    while let Some((m, len)) = dec.decode_borrowed(&wire[pos..]).expect("valid stream") {
        if let MessageRef::Piece { data, .. } = m {
            assert!(range.contains(&data.as_ptr()), "piece payload was copied");
        }
        pos += len;
    }
}

fn bench(c: &mut Criterion) {
    let pieces = piece_stream();
    let small = small_stream();
    assert_zero_copy(&pieces);
    assert_eq!(seedbed_decode(BytesMut::from(&pieces[..])).0, PIECES);
    assert_eq!(seedbed_decode_borrowed(&pieces), PIECES);
    assert_eq!(rqbit_decode(&pieces), PIECES);
    assert_eq!(seedbed_decode(BytesMut::from(&small[..])).0, SMALL);
    assert_eq!(seedbed_decode_borrowed(&small), SMALL);
    assert_eq!(rqbit_decode(&small), SMALL);

    for (name, wire, count) in [
        ("pieces_16k", &pieces, PIECES),
        ("have_request", &small, SMALL),
    ] {
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(wire.len() as u64)),
            ("msgs", Throughput::Elements(count as u64)),
        ] {
            let mut g = c.benchmark_group(format!("wire_decode/{name}/{unit}"));
            g.throughput(throughput);
            // Both decoders get a fresh copy of the input per iteration,
            // made (and freed) outside the timed section, as a socket
            // read buffer would be.
            g.bench_function("seedbed", |b| {
                b.iter_batched(
                    || BytesMut::from(&wire[..]),
                    seedbed_decode,
                    BatchSize::PerIteration,
                )
            });
            g.bench_function("seedbed_borrowed", |b| {
                b.iter_batched(
                    || wire.to_vec(),
                    |input| (seedbed_decode_borrowed(&input), input),
                    BatchSize::PerIteration,
                )
            });
            g.bench_function("librqbit_peer_protocol", |b| {
                b.iter_batched(
                    || wire.to_vec(),
                    |input| (rqbit_decode(&input), input),
                    BatchSize::PerIteration,
                )
            });
            g.finish();
        }
    }
}

/// The generated group function has no doc comment of its own.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
