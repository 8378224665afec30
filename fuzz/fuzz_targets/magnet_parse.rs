#![no_main]
//! Magnet parsing never panics, and an accepted link is a fixed point of
//! format-then-parse: parse(format(parse(x))) == parse(x), and formatting
//! that again gives the same text.

use libfuzzer_sys::fuzz_target;
use seedbed_metainfo::Magnet;

fuzz_target!(|data: &[u8]| {
    // Raw bytes; behind the scheme so that they reach the parameter
    // parser; and behind a valid exact topic so that the round trip is
    // checked for most inputs.
    let mut prefixed = b"magnet:?".to_vec();
    prefixed.extend_from_slice(data);
    let mut with_hash = b"magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd&".to_vec();
    with_hash.extend_from_slice(data);
    for input in [data, &prefixed[..], &with_hash[..]] {
        if let Ok(m) = Magnet::parse_bytes(input) {
            let text = m.to_string();
            let again: Magnet = text.parse().expect("formatted magnet parses");
            assert_eq!(again, m);
            assert_eq!(again.to_string(), text);
        }
    }
});
