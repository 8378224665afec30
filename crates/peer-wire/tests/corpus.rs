//! Every row of the anacrolix peer-protocol fuzz regressions
//! (`shared/corpus/anacrolix/peer_wire_fuzz.tsv`): decoding never panics,
//! and either stops with an error or re-encodes the input exactly.

use std::path::PathBuf;

use bytes::BytesMut;
use seedbed_peer_wire::{Limits, MessageDecoder};

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("FAIL: corpus not found at {}", dir.display());
    }
    println!("SKIPPED: corpus not found");
    None
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn anacrolix_peer_wire_fuzz_regressions() {
    let Some(dir) = corpus_dir() else { return };
    let text = std::fs::read_to_string(dir.join("anacrolix/peer_wire_fuzz.tsv")).expect("read tsv");
    let mut rows = 0;
    let mut accepted = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, input) = (cols[0], unhex(cols[2]));
        assert_eq!(cols[3], "no-panic", "{name}: unexpected expectation");
        rows += 1;
        // As anacrolix's harness: max message length 0x100, decode until
        // the end of input, stop at the first error.
        let mut dec = MessageDecoder::new(Limits::new().max_message_len(0x100));
        let mut buf = BytesMut::from(&input[..]);
        let mut msgs = Vec::new();
        let outcome = loop {
            match dec.decode_eof(&mut buf) {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok(()) => {
                accepted += 1;
                let mut re = Vec::new();
                for m in &msgs {
                    m.encode(&mut re);
                }
                assert_eq!(re, input, "{name}: re-encoding differs");
            }
            Err(e) => {
                // A clear error that points into the input.
                let off = e.offset().expect("stream errors have offsets");
                assert!(off < input.len() as u64, "{name}: offset {off} past input");
                println!("{name}: {e}");
            }
        }
    }
    assert_eq!(rows, 7);
    // 44a1b6410e7ce227 is a complete allowed-fast message.
    assert_eq!(accepted, 1);
}
