#![no_main]
//! Decoding never panics; an accepted input re-encodes canonically, and the
//! canonical bytes decode (strictly) to the same value.

use libfuzzer_sys::fuzz_target;
use seedbed_bencode::{decode, decode_with, DecodeOptions, Encode};

fuzz_target!(|data: &[u8]| {
    let lenient = decode(data);
    let strict = decode_with(data, &DecodeOptions::new().canonical(true));
    if let Ok(doc) = &strict {
        // Canonical input re-encodes to itself.
        assert_eq!(doc.root().to_bencode(), data);
        assert!(lenient.is_ok());
    }
    if let Ok(doc) = lenient {
        let root = doc.root();
        assert_eq!(root.raw(), data);
        let canonical = root.to_bencode();
        let again = decode_with(&canonical, &DecodeOptions::new().canonical(true))
            .expect("canonical output decodes strictly");
        assert_eq!(again.root().to_bencode(), canonical);
        // Equal to the first value once both are owned (duplicates dropped).
        assert_eq!(again.root().to_owned_value(), root.to_owned_value());
    }
});
