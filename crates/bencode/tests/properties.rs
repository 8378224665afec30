//! Property tests: decode(encode(v)) == v, and accepted inputs' raw spans.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use seedbed_bencode::{decode, decode_prefix, decode_with, DecodeOptions, Encode, OwnedValue};

fn value() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| OwnedValue::Bytes(Bytes::from(b))),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(OwnedValue::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from),
                inner,
                0..8
            )
            .prop_map(|m: BTreeMap<Bytes, OwnedValue>| OwnedValue::Dict(m)),
        ]
    })
}

/// Writes `v` the way a sloppy encoder might: keys in the given rotation
/// (so possibly unsorted) and leading zeros on lengths.
fn write_lenient(v: &OwnedValue, rot: usize, zeros: bool, out: &mut Vec<u8>) {
    let len_prefix = |n: usize, out: &mut Vec<u8>| {
        if zeros {
            out.push(b'0');
        }
        out.extend_from_slice(n.to_string().as_bytes());
        out.push(b':');
    };
    match v {
        OwnedValue::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        OwnedValue::Bytes(b) => {
            len_prefix(b.len(), out);
            out.extend_from_slice(b);
        }
        OwnedValue::List(l) => {
            out.push(b'l');
            for x in l {
                write_lenient(x, rot, zeros, out);
            }
            out.push(b'e');
        }
        OwnedValue::Dict(d) => {
            out.push(b'd');
            let mut entries: Vec<_> = d.iter().collect();
            if !entries.is_empty() {
                let k = rot % entries.len();
                entries.rotate_left(k);
            }
            for (k, x) in entries {
                len_prefix(k.len(), out);
                out.extend_from_slice(k);
                write_lenient(x, rot, zeros, out);
            }
            out.push(b'e');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(v in value()) {
        let bytes = v.to_bencode();
        prop_assert_eq!(bytes.len(), v.encoded_len());
        let strict = DecodeOptions::new().canonical(true);
        let doc = decode_with(&bytes, &strict).unwrap();
        prop_assert_eq!(doc.root().to_owned_value(), v.clone());
        prop_assert!(doc.root() == v);
        prop_assert_eq!(doc.root().raw(), &bytes[..]);
        // Re-encoding a decoded value gives the same bytes.
        prop_assert_eq!(doc.root().to_bencode(), bytes);
    }

    #[test]
    fn lenient_inputs_keep_their_exact_span(v in value(), rot in 0usize..8, zeros: bool, trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
        let mut input = Vec::new();
        write_lenient(&v, rot, zeros, &mut input);
        let doc = decode(&input).unwrap();
        prop_assert_eq!(doc.root().raw(), &input[..]);
        prop_assert_eq!(doc.root().to_owned_value(), v.clone());
        prop_assert_eq!(doc.root().to_bencode(), v.to_bencode());
        let value_len = input.len();
        input.extend_from_slice(&trailing);
        let (doc, rest) = decode_prefix(&input).unwrap();
        prop_assert_eq!(doc.root().span(), 0..value_len);
        prop_assert_eq!(rest, &trailing[..]);
        let opts = DecodeOptions::new().allow_trailing(true);
        prop_assert_eq!(decode_with(&input, &opts).unwrap().root().span(), 0..value_len);
    }

    #[test]
    fn any_accepted_input_spans_the_input(input in proptest::collection::vec(
        prop_oneof![Just(b'i'), Just(b'l'), Just(b'd'), Just(b'e'), Just(b':'), Just(b'-'), b'0'..=b'9', any::<u8>()], 0..48)) {
        if let Ok(doc) = decode(&input) {
            prop_assert_eq!(doc.root().raw(), &input[..]);
            let canonical = doc.root().to_bencode();
            let again = decode(&canonical).unwrap();
            prop_assert_eq!(again.root().to_owned_value(), doc.root().to_owned_value());
        }
        if let Ok((doc, rest)) = decode_prefix(&input) {
            prop_assert_eq!(doc.root().raw().len() + rest.len(), input.len());
            prop_assert_eq!(doc.root().span().start, 0);
        }
    }
}

/// The pull reader sees what the document decoder sees: the same values in
/// pre-order with the same offsets, and the same error for any input.
mod reader_agrees {
    use super::*;
    use seedbed_bencode::{Item, Kind, Reader, Value};

    fn walk_doc(v: Value<'_, '_>, out: &mut Vec<String>) {
        match v.kind() {
            Kind::Int(i) => out.push(format!("{} i{i}", v.span().start)),
            Kind::Bytes(b) => out.push(format!("{} b{b:?}", v.span().start)),
            Kind::List(l) => {
                out.push(format!("{} l", v.span().start));
                for x in l.iter() {
                    walk_doc(x, out);
                }
                out.push(format!("{} end", v.span().end));
            }
            Kind::Dict(d) => {
                out.push(format!("{} d", v.span().start));
                for (k, x) in d.iter() {
                    out.push(format!("key {k:?} {}", k.len().to_string().len()));
                    walk_doc(x, out);
                }
                out.push(format!("{} end", v.span().end));
            }
        }
    }

    fn walk_reader(
        input: &[u8],
        opts: &DecodeOptions,
    ) -> Result<Vec<String>, seedbed_bencode::Error> {
        let mut r = Reader::new(input, opts);
        let mut out = Vec::new();
        // Open containers: (is a dictionary, the next item is a key).
        let mut stack: Vec<(bool, bool)> = Vec::new();
        loop {
            match r.next()? {
                None => {
                    if stack.pop().is_none() {
                        break;
                    }
                    out.push(format!("{} end", r.offset()));
                }
                Some((at, item)) => {
                    if let Some((true, key @ true)) = stack.last_mut() {
                        *key = false;
                        let Item::Bytes(k) = item else {
                            panic!("key not bytes")
                        };
                        out.push(format!("key {k:?} {}", k.len().to_string().len()));
                        continue;
                    }
                    match item {
                        Item::Int(i) => out.push(format!("{at} i{i}")),
                        Item::Bytes(b) => out.push(format!("{at} b{b:?}")),
                        Item::List => {
                            out.push(format!("{at} l"));
                            stack.push((false, false));
                            continue;
                        }
                        Item::Dict => {
                            out.push(format!("{at} d"));
                            stack.push((true, true));
                            continue;
                        }
                    }
                }
            }
            // A value completed: a dictionary's next item is a key again.
            match stack.last_mut() {
                Some((is_dict, key)) => *key = *is_dict,
                None => break,
            }
        }
        r.finish()?;
        Ok(out)
    }

    fn compare(input: &[u8], opts: &DecodeOptions) {
        let doc = decode_with(input, opts).map(|d| {
            let mut out = Vec::new();
            walk_doc(d.root(), &mut out);
            out
        });
        let read = walk_reader(input, opts);
        assert_eq!(read, doc, "input {:?}", String::from_utf8_lossy(input));
    }

    proptest! {
        #[test]
        fn on_encoded_values(v in value(), rot in 0usize..8, zeros: bool) {
            let mut lenient = Vec::new();
            write_lenient(&v, rot, zeros, &mut lenient);
            for opts in [
                DecodeOptions::new(),
                DecodeOptions::new().canonical(true),
                DecodeOptions::new().max_depth(3),
                DecodeOptions::new().max_items(10),
            ] {
                compare(&v.to_bencode(), &opts);
                compare(&lenient, &opts);
            }
        }

        #[test]
        fn on_cut_and_corrupted_values(v in value(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()) {
            let bytes = v.to_bencode();
            let n = cut.index(bytes.len() + 1);
            compare(&bytes[..n], &DecodeOptions::new());
            let mut bad = bytes.clone();
            let i = flip.0.index(bad.len());
            bad[i] = flip.1;
            compare(&bad, &DecodeOptions::new());
            compare(&bad, &DecodeOptions::new().canonical(true));
        }

        #[test]
        fn on_random_bytes(bytes in proptest::collection::vec(prop_oneof![
            Just(b'd'), Just(b'l'), Just(b'e'), Just(b'i'), Just(b':'), Just(b'-'),
            (b'0'..=b'9'), any::<u8>()
        ], 0..64)) {
            compare(&bytes, &DecodeOptions::new());
        }
    }
}
