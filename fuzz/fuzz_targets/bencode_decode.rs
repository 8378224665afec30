#![no_main]
//! Decoding never panics; an accepted input re-encodes canonically, and the
//! canonical bytes decode (strictly) to the same value. The pull reader
//! accepts and rejects exactly what the document decoder does, with the same
//! error.

use libfuzzer_sys::fuzz_target;
use seedbed_bencode::{decode, decode_with, DecodeOptions, Encode, Error, Reader};

/// Reads every value and checks the end, as `decode_with` does.
fn read_all(data: &[u8], opts: &DecodeOptions) -> Result<(), Error> {
    let mut r = Reader::new(data, opts);
    while r.next()?.is_some() || r.depth() > 0 {}
    r.finish().map(|_| ())
}

fuzz_target!(|data: &[u8]| {
    let lenient = decode(data);
    let strict = decode_with(data, &DecodeOptions::new().canonical(true));
    assert_eq!(
        read_all(data, &DecodeOptions::new()).err(),
        lenient.as_ref().err().cloned()
    );
    assert_eq!(
        read_all(data, &DecodeOptions::new().canonical(true)).err(),
        strict.as_ref().err().cloned()
    );
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
