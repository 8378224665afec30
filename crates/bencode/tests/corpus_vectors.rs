//! Every row of libtorrent's and anacrolix's bencode vectors
//! (`../shared/corpus/{libtorrent/bdecode_vectors.tsv,anacrolix/bencode_vectors.tsv}`)
//! gives the expected outcome.

use std::path::PathBuf;

use seedbed_bencode::{decode, decode_prefix, decode_with, DecodeOptions, Encode, Error};
use seedbed_testbed::corpus;

struct Row {
    name: String,
    input: Vec<u8>,
    expect: String,
    error_kind: String,
    error_pos: Option<usize>,
    notes: String,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Builds the inputs of `GEN:` rows from their notes.
fn generated(notes: &str) -> Vec<u8> {
    let spec = notes
        .split("GEN: \"")
        .nth(1)
        .unwrap_or_else(|| panic!("unknown GEN row: {notes}"));
    let (prefix, rest) = spec.split_once('"').unwrap();
    let rest = rest.trim_start_matches(" followed by ");
    let count: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
    let byte = if rest.contains("NUL") {
        0
    } else if rest.contains("underscore") {
        b'_'
    } else {
        panic!("unknown GEN filler: {notes}")
    };
    let mut v = prefix.as_bytes().to_vec();
    v.resize(v.len() + count, byte);
    v
}

fn rows(path: PathBuf) -> Vec<Row> {
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (c_name, c_hex, c_expect, c_notes) = (
        col("name").unwrap(),
        col("input_hex").unwrap(),
        col("expect").unwrap(),
        col("notes").unwrap(),
    );
    let (c_err, c_pos) = (col("libtorrent_error"), col("error_pos"));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let notes = f[c_notes].to_string();
            let input = if f[c_hex] == "-" {
                generated(&notes)
            } else {
                unhex(f[c_hex])
            };
            Row {
                name: f[c_name].to_string(),
                input,
                expect: f[c_expect].to_string(),
                error_kind: c_err.map(|c| f[c].to_string()).unwrap_or_default(),
                error_pos: c_pos.and_then(|c| f[c].parse().ok()),
                notes,
            }
        })
        .collect()
}

/// The options a row's test ran with (libtorrent limits named in notes).
fn options_for(row: &Row) -> DecodeOptions {
    match row.name.as_str() {
        "depth_1024_lists" => DecodeOptions::new().max_depth(100),
        "item_limit" => DecodeOptions::new().max_items(1000),
        _ => DecodeOptions::new(),
    }
}

fn check(row: &Row) {
    let opts = options_for(row);
    let strict = opts.clone().canonical(true);
    let lenient = decode_with(&row.input, &opts);
    let canonical = decode_with(&row.input, &strict);
    let ctx = format!("row {} ({})", row.name, row.notes);
    match row.expect.as_str() {
        "ok" if row.notes.contains("should report overflow") => {
            assert!(
                matches!(lenient, Err(Error::IntegerOverflow { .. })),
                "{ctx}: {lenient:?}"
            );
        }
        "ok" => {
            let doc = lenient.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(doc.root().raw(), &row.input[..], "{ctx}: root span");
            // Every "ok" row here is canonical except where noted by the
            // source as a soft error, so strict agrees.
            let strict_doc = canonical.unwrap_or_else(|e| panic!("{ctx}: strict: {e}"));
            assert_eq!(
                strict_doc.root().to_bencode(),
                row.input,
                "{ctx}: re-encode"
            );
        }
        "ok-soft-error" => {
            let doc = lenient.unwrap_or_else(|e| panic!("{ctx}: lenient: {e}"));
            assert_eq!(doc.root().raw(), &row.input[..], "{ctx}");
            let e = canonical.expect_err(&ctx);
            assert!(
                matches!(e, Error::UnsortedKey { .. } | Error::LeadingZero { .. }),
                "{ctx}: {e}"
            );
        }
        "ok-lazy-overflow" => {
            // libtorrent defers the overflow; an i64 decoder reports it.
            assert!(
                matches!(lenient, Err(Error::IntegerOverflow { .. })),
                "{ctx}: {lenient:?}"
            );
        }
        "error" => {
            let e = lenient.expect_err(&ctx);
            assert!(canonical.is_err(), "{ctx}");
            match row.error_kind.as_str() {
                "overflow" => {
                    assert!(matches!(e, Error::IntegerOverflow { .. }), "{ctx}: {e}")
                }
                "depth_exceeded" => {
                    assert!(matches!(e, Error::DepthLimit { .. }), "{ctx}: {e}")
                }
                "limit_exceeded" if row.name == "item_limit" => {
                    assert!(matches!(e, Error::ItemLimit { .. }), "{ctx}: {e}")
                }
                // libtorrent pretends the buffer is huge there; with the
                // real buffer the string simply runs past the end.
                "limit_exceeded" => {
                    assert!(matches!(e, Error::UnexpectedEof { .. }), "{ctx}: {e}")
                }
                // A lone `e` is an EOF to libtorrent (nothing open); we
                // report the unexpected byte. Kinds are compared where the
                // source asserts a position.
                "unexpected_eof" if row.error_pos.is_some() => {
                    assert!(matches!(e, Error::UnexpectedEof { .. }), "{ctx}: {e}")
                }
                _ => {}
            }
            if let (Some(pos), false) = (
                row.error_pos,
                matches!(row.error_kind.as_str(), "overflow" | "limit_exceeded"),
            ) {
                assert_eq!(e.offset(), Some(pos), "{ctx}: {e}");
            }
        }
        "error-trailing" => {
            assert!(
                matches!(lenient, Err(Error::TrailingBytes { count: 1, .. })),
                "{ctx}: {lenient:?}"
            );
            let doc = decode_with(&row.input, &opts.allow_trailing(true)).expect(&ctx);
            assert_eq!(doc.root().as_int(), Some(42));
        }
        "stream" => {
            assert!(matches!(lenient, Err(Error::TrailingBytes { .. })), "{ctx}");
            let mut rest = &row.input[..];
            let mut n = 0;
            while !rest.is_empty() {
                let (_, r) = decode_prefix(rest).expect(&ctx);
                rest = r;
                n += 1;
            }
            assert!(n >= 2, "{ctx}");
        }
        // anacrolix fuzz regressions: a canonical decoder rejects them; the
        // lenient one must not panic, and what it accepts re-encodes to a
        // canonical form that decodes strictly.
        "invalid" => {
            assert!(canonical.is_err(), "{ctx}");
            if let Ok(doc) = lenient {
                let out = doc.root().to_bencode();
                assert!(decode_with(&out, &strict).is_ok(), "{ctx}");
            }
        }
        "no-panic" => {
            let _ = lenient;
        }
        other => panic!("{ctx}: unknown expectation {other}"),
    }
}

#[test]
fn libtorrent_bdecode_vectors() {
    let Some(dir) = corpus() else { return };
    let rows = rows(dir.join("libtorrent/bdecode_vectors.tsv"));
    assert!(rows.len() >= 60);
    for row in &rows {
        check(row);
    }
}

#[test]
fn anacrolix_bencode_vectors() {
    let Some(dir) = corpus() else { return };
    let rows = rows(dir.join("anacrolix/bencode_vectors.tsv"));
    assert!(rows.len() >= 30);
    for row in &rows {
        check(row);
    }
}

#[test]
fn offsets_from_the_vectors() {
    // nested_mixed_list: element byte offsets 1, 4, 9, 17.
    let doc = decode(b"li1e3:fooli1ei2eed1:xi1eee").unwrap();
    let starts: Vec<usize> = doc
        .root()
        .as_list()
        .unwrap()
        .iter()
        .map(|v| v.span().start)
        .collect();
    assert_eq!(starts, [1, 4, 9, 17]);
    // dict_offsets: payload offsets 3, 8, 13, 19 (content after the colon).
    let input = b"d3:foo3:bar4:test4:teste";
    let doc = decode(input).unwrap();
    let mut offsets = Vec::new();
    for (k, v) in doc.root().as_dict().unwrap() {
        offsets.push(k.as_ptr() as usize - input.as_ptr() as usize);
        offsets.push(v.as_bytes().unwrap().as_ptr() as usize - input.as_ptr() as usize);
    }
    assert_eq!(offsets, [3, 8, 13, 19]);
}
