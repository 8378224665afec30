//! BEP 10 extended handshake, BEP 9 ut_metadata and BEP 11 ut_pex parsers:
//! never panic; whatever they accept re-encodes and decodes equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_peer_wire::{Bytes, ExtendedHandshake, Limits, MetadataMessage, PexMessage};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = Limits::new();
    match sel % 3 {
        0 => {
            if let Ok(hs) = ExtendedHandshake::decode(input, &limits) {
                let bytes = hs.to_bytes();
                let back = ExtendedHandshake::decode(&bytes, &limits).expect("re-decodes");
                assert_eq!(back, hs);
                assert_eq!(back.to_bytes(), bytes);
            }
        }
        1 => {
            let payload = Bytes::copy_from_slice(input);
            if let Ok(m) = MetadataMessage::decode(&payload, &limits) {
                let bytes = m.to_bytes();
                let back = MetadataMessage::decode(&bytes, &limits).expect("re-decodes");
                assert_eq!(back, m);
            }
        }
        _ => {
            if let Ok(m) = PexMessage::decode(input) {
                let bytes = m.to_bytes();
                let back = PexMessage::decode(&bytes).expect("re-decodes");
                assert_eq!(back, m);
            }
        }
    }
});
