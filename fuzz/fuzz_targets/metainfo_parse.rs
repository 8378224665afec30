#![no_main]
//! Parsing a .torrent never panics; an accepted torrent keeps its
//! invariants: the raw info bytes reparse to the same hashes, safe paths, pieces tiled by
//! file spans and blocks.

use libfuzzer_sys::fuzz_target;
use seedbed_metainfo::{Info, ParseOptions, Torrent};

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions::new().max_pieces(1 << 16).max_files(1 << 12);
    let _ = Info::from_bytes_with(data.to_vec(), &opts);
    let Ok(t) = Torrent::from_bytes_with(data.to_vec(), &opts) else {
        return;
    };
    let info = t.info();
    assert!(t.raw().len() >= info.raw().len());
    for f in info.files() {
        for c in f.path().components() {
            assert!(!c.is_empty() && c != "." && c != "..");
            assert!(!c.contains(['/', '\\', '\0']));
        }
    }
    let g = info.geometry();
    assert_eq!(
        g.total_length(),
        info.files().iter().map(|f| f.length()).sum::<u64>()
    );
    for p in g.pieces().take(64) {
        let sum: u64 = info.piece_spans(p).map(|s| s.len).sum();
        assert_eq!(sum, u64::from(g.piece_len(p)));
        let blocks: u32 = g.blocks(p).map(|b| b.len()).sum();
        assert_eq!(blocks, g.piece_len(p));
    }
    // The raw info bytes parse again to the same torrent (ut_metadata path).
    let again = Info::from_bytes_with(info.raw().clone(), &opts).expect("info bytes reparse");
    assert_eq!(again.info_hash_v1(), info.info_hash_v1());
    assert_eq!(again.info_hash_v2(), info.info_hash_v2());
});
