//! BEP 52 hash transfer messages (`hash request`, `hashes`, `hash reject`)
//! from hostile bytes: decoding, `HashRequest::validate`, `Hashes::split`
//! and the merkle proof folding (`root_from_proof`, `uncle_positions`)
//! never panic and never allocate past the limits; a split answer rebuilds
//! into the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_metainfo::create::merkle::{root_from_proof, uncle_positions};
use seedbed_peer_wire::{BytesMut, HashRequest, Hashes, Limits, Message, MessageDecoder};

fn request_rules(r: &HashRequest) {
    let valid = r.validate(HashRequest::MAX_LENGTH).is_ok();
    assert!(r.answer_len() >= u64::from(r.length));
    if valid {
        assert!(r.length >= 2 && r.length.is_power_of_two() && r.index % r.length == 0);
        // The proof positions are computed lazily and never overflow.
        for (layer, pos) in uncle_positions(
            r.base_layer,
            u64::from(r.index),
            u64::from(r.length),
            r.proof_layers,
        )
        .take(70)
        {
            assert!(layer >= r.base_layer);
            let _ = pos;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the hash limit: small ones reach its paths.
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = Limits::new()
        .max_message_len(1 << 16)
        .max_hashes(u32::from(sel) * 3);
    let mut dec = MessageDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    while let Ok(Some(m)) = dec.decode_eof(&mut buf) {
        match m {
            Message::HashRequest(r) | Message::HashReject(r) => request_rules(&r),
            Message::Hashes(h) => {
                assert!(h.hashes.len() / 32 <= usize::from(sel) * 3);
                request_rules(&h.request);
                if let Ok((base, proof)) = h.split() {
                    assert_eq!(base.len() as u64, u64::from(h.request.length));
                    assert_eq!((base.len() + proof.len()) as u64, h.request.answer_len());
                    assert_eq!(Hashes::new(h.request, &base, &proof), h);
                    let _ = root_from_proof(&base, u64::from(h.request.index), &proof);
                }
            }
            _ => {}
        }
    }
});
