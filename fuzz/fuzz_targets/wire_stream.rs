//! The peer wire message stream decoder: never panics; every accepted
//! message re-encodes and decodes equal; a stream accepted whole re-encodes
//! to the input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_peer_wire::{BytesMut, Limits, Message, MessageDecoder};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits: small ones reach the limit paths.
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::new().max_message_len(1 << 16);
    if sel & 1 != 0 {
        limits = limits.num_pieces(u32::from(sel >> 1) * 3);
    }
    if sel & 0x80 != 0 {
        limits = limits.max_block_len(64).max_extended_len(64);
    }
    let mut dec = MessageDecoder::new(limits);
    let mut buf = BytesMut::from(input);
    let mut msgs = Vec::new();
    let complete = loop {
        match dec.decode_eof(&mut buf) {
            Ok(Some(m)) => msgs.push(m),
            Ok(None) => break true,
            Err(e) => {
                assert!(e.offset().is_some_and(|o| o <= input.len() as u64));
                break false;
            }
        }
    };
    let mut re = Vec::new();
    for m in &msgs {
        let wire = m.to_bytes();
        assert_eq!(wire.len(), m.encoded_len());
        let mut one = BytesMut::from(&wire[..]);
        let back: Option<Message> = MessageDecoder::new(limits)
            .decode(&mut one)
            .expect("re-decodes");
        assert_eq!(back.as_ref(), Some(m));
        assert!(one.is_empty());
        re.extend_from_slice(&wire);
    }
    if complete {
        assert_eq!(re, input);
    } else {
        assert_eq!(re, &input[..re.len()]);
    }
});
