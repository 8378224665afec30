//! Limits at and past their value, hostile lengths, and properties of the
//! layout of parsed torrents.

use seedbed_bencode::{Encode, OwnedValue};
use seedbed_metainfo::{Error, FileSpan, Info, ParseOptions, Torrent, BLOCK_SIZE};

use proptest::prelude::*;

fn list<T: Into<OwnedValue>>(items: impl IntoIterator<Item = T>) -> OwnedValue {
    OwnedValue::List(items.into_iter().map(Into::into).collect())
}

/// A multi-file v1 torrent with the given file lengths and piece length;
/// file `i` is `d/f{i}` unless `names` says otherwise.
fn v1_torrent(lengths: &[i64], piece_length: i64, names: Option<&[&str]>) -> Vec<u8> {
    let total: i64 = lengths.iter().fold(0i64, |a, &b| a.saturating_add(b));
    let pieces = if piece_length > 0 {
        total / piece_length + i64::from(total % piece_length != 0)
    } else {
        1
    };
    let files: Vec<OwnedValue> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let mut f = OwnedValue::dict();
            f.insert("length", len);
            let name = names.map_or(format!("f{i}"), |n| n[i].to_owned());
            f.insert("path", list(["d".to_owned(), name]));
            f
        })
        .collect();
    let mut info = OwnedValue::dict();
    info.insert("files", OwnedValue::List(files));
    info.insert("name", "t");
    info.insert("piece length", piece_length);
    info.insert("pieces", vec![7u8; 20 * pieces.clamp(0, 100_000) as usize]);
    let mut root = OwnedValue::dict();
    root.insert("announce", "http://t.example/announce");
    root.insert("info", info);
    root.to_bencode().to_vec()
}

fn single(length: i64, piece_length: i64, pieces_len: usize) -> Vec<u8> {
    let mut info = OwnedValue::dict();
    info.insert("length", length);
    info.insert("name", "x");
    info.insert("piece length", piece_length);
    info.insert("pieces", vec![1u8; pieces_len]);
    let mut root = OwnedValue::dict();
    root.insert("info", info);
    root.to_bencode().to_vec()
}

#[test]
fn max_torrent_size_at_and_past() {
    let t = v1_torrent(&[10, 20], 16384, None);
    let at = ParseOptions::new().max_torrent_size(t.len());
    assert!(Torrent::from_bytes_with(t.clone(), &at).is_ok());
    let past = ParseOptions::new().max_torrent_size(t.len() - 1);
    assert_eq!(
        Torrent::from_bytes_with(t.clone(), &past).unwrap_err(),
        Error::TooLarge {
            size: t.len(),
            limit: t.len() - 1
        }
    );
    // The same limit applies to bare info bytes (ut_metadata).
    let info = Torrent::from_bytes(t).unwrap().info().raw().clone();
    let at = ParseOptions::new().max_torrent_size(info.len());
    assert!(Info::from_bytes_with(info.clone(), &at).is_ok());
    let past = ParseOptions::new().max_torrent_size(info.len() - 1);
    assert!(matches!(
        Info::from_bytes_with(info, &past),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn max_files_at_and_past() {
    let t = v1_torrent(&[1, 2, 3], 16384, None);
    assert!(Torrent::from_bytes_with(t.clone(), &ParseOptions::new().max_files(3)).is_ok());
    assert_eq!(
        Torrent::from_bytes_with(t, &ParseOptions::new().max_files(2)).unwrap_err(),
        Error::TooManyFiles { limit: 2 }
    );
}

#[test]
fn max_files_v2_tree() {
    // v2-only, three one-byte files with made-up (non-zero) roots.
    let mut tree = OwnedValue::dict();
    for name in ["a", "b", "c"] {
        let mut leaf = OwnedValue::dict();
        leaf.insert("length", 1);
        leaf.insert("pieces root", vec![9u8; 32]);
        let mut file = OwnedValue::dict();
        file.insert("", leaf);
        tree.insert(name, file);
    }
    let mut info = OwnedValue::dict();
    info.insert("file tree", tree);
    info.insert("meta version", 2);
    info.insert("name", "v2");
    info.insert("piece length", 16384);
    let mut root = OwnedValue::dict();
    root.insert("info", info);
    let t = root.to_bencode().to_vec();
    let ok = Torrent::from_bytes_with(t.clone(), &ParseOptions::new().max_files(3)).unwrap();
    // Two alignment pads between the three files; three real files.
    assert_eq!(ok.info().num_files(), 3);
    assert_eq!(ok.info().files().len(), 5);
    assert_eq!(ok.info().num_pieces(), 3);
    assert!(ok.info_hash_v1().is_none());
    assert_eq!(
        Torrent::from_bytes_with(t, &ParseOptions::new().max_files(2)).unwrap_err(),
        Error::TooManyFiles { limit: 2 }
    );
}

#[test]
fn max_pieces_at_and_past() {
    let t = single(5 * 16384, 16384, 5 * 20);
    assert!(Torrent::from_bytes_with(t.clone(), &ParseOptions::new().max_pieces(5)).is_ok());
    assert_eq!(
        Torrent::from_bytes_with(t, &ParseOptions::new().max_pieces(4)).unwrap_err(),
        Error::TooManyPieces { count: 5, limit: 4 }
    );
}

#[test]
fn max_depth_at_and_past() {
    // root dict (1) > info (2) > files (3) > file dict (4) > path list (5).
    let t = v1_torrent(&[1], 16384, None);
    assert!(Torrent::from_bytes_with(t.clone(), &ParseOptions::new().max_depth(5)).is_ok());
    let err = Torrent::from_bytes_with(t, &ParseOptions::new().max_depth(4)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Bencode(seedbed_bencode::Error::DepthLimit { limit: 4, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn max_duplicate_names_at_and_past() {
    let t = v1_torrent(&[1, 1, 1], 16384, Some(&["a.txt", "a.txt", "a.txt"]));
    let ok =
        Torrent::from_bytes_with(t.clone(), &ParseOptions::new().max_duplicate_names(2)).unwrap();
    let paths: Vec<&str> = ok
        .info()
        .files()
        .iter()
        .map(|f| f.path().as_str())
        .collect();
    assert_eq!(paths, ["t/d/a.txt", "t/d/a.1.txt", "t/d/a.2.txt"]);
    assert!(ok.info().check_strict().is_err());
    assert_eq!(
        Torrent::from_bytes_with(t, &ParseOptions::new().max_duplicate_names(1)).unwrap_err(),
        Error::TooManyDuplicateNames { limit: 1 }
    );
}

#[test]
fn defaults_are_documented_values() {
    assert_eq!(ParseOptions::DEFAULT_MAX_TORRENT_SIZE, 10 * 1024 * 1024);
    assert_eq!(ParseOptions::DEFAULT_MAX_PIECES, 2_097_152);
    assert_eq!(ParseOptions::DEFAULT_MAX_DEPTH, 100);
    assert_eq!(ParseOptions::default(), ParseOptions::new());
}

#[test]
fn pieces_not_a_multiple_of_20() {
    for len in [1, 19, 21, 39] {
        let t = single(16384, 16384, len);
        assert_eq!(
            Torrent::from_bytes(t).unwrap_err(),
            Error::PiecesNotMultipleOf20 { len }
        );
    }
    assert!(Torrent::from_bytes(single(16384, 16384, 20)).is_ok());
    assert!(matches!(
        Torrent::from_bytes(single(16384, 16384, 40)),
        Err(Error::PieceCountMismatch {
            expected: 1,
            found: 2
        })
    ));
}

#[test]
fn huge_declared_lengths() {
    // A file of i64::MAX bytes: far too many pieces, refused before any
    // allocation.
    assert!(matches!(
        Torrent::from_bytes(single(i64::MAX, 16384, 20)),
        Err(Error::TooManyPieces { .. })
    ));
    // Two files whose sum overflows.
    let t = v1_torrent(&[i64::MAX, i64::MAX], 1 << 30, None);
    assert!(matches!(
        Torrent::from_bytes(t),
        Err(Error::InvalidTotalSize { .. })
    ));
    // Piece length over u32, negative, zero.
    for pl in [1i64 << 40, -1, 0] {
        assert!(matches!(
            Torrent::from_bytes(single(10, pl, 20)),
            Err(Error::InvalidPieceLength { .. })
        ));
    }
    // A string length prefix far past the end of the input.
    let mut t = b"d4:infod6:pieces99999999999:".to_vec();
    t.extend_from_slice(&[0; 64]);
    assert!(matches!(Torrent::from_bytes(t), Err(Error::Bencode(_))));
    // A string length prefix that overflows.
    assert!(Torrent::from_bytes(&b"d4:info99999999999999999999999:e"[..]).is_err());
    // With the piece limit raised to u32::MAX, geometry still refuses counts
    // past u32.
    let opts = ParseOptions::new().max_pieces(u32::MAX);
    assert!(Torrent::from_bytes_with(single(i64::MAX, 1, 20), &opts).is_err());
}

#[test]
fn empty_and_odd_inputs() {
    for input in [
        &b""[..],
        b"de",
        b"le",
        b"i1e",
        b"d4:infoi1ee",
        b"d4:infodee",
        b"d4:infod4:name1:ae",
    ] {
        assert!(Torrent::from_bytes(input).is_err(), "{input:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Parsed layouts: every piece's file spans add up to the piece length,
    /// in order and without overlap; blocks tile each piece.
    #[test]
    fn parsed_layout_tiles_pieces(
        lengths in proptest::collection::vec(0i64..70_000, 1..12),
        pl_shift in 4u32..18,
    ) {
        prop_assume!(lengths.iter().sum::<i64>() > 0);
        let pl = 1i64 << pl_shift;
        let t = Torrent::from_bytes(v1_torrent(&lengths, pl, None)).unwrap();
        let info = t.info();
        let g = info.geometry();
        prop_assert_eq!(g.total_length(), lengths.iter().sum::<i64>() as u64);
        prop_assert_eq!(info.total_size(), g.total_length());
        let mut covered = 0u64;
        for p in g.pieces() {
            let spans: Vec<FileSpan> = info.piece_spans(p).collect();
            let sum: u64 = spans.iter().map(|s| s.len).sum();
            prop_assert_eq!(sum, u64::from(g.piece_len(p)));
            for w in spans.windows(2) {
                prop_assert!(w[0].file < w[1].file);
                prop_assert_eq!(w[1].offset, 0);
            }
            for s in &spans {
                prop_assert!(s.offset + s.len <= info.files()[s.file].length());
            }
            covered += sum;
            let blocks: u32 = g.blocks(p).map(|b| b.len()).sum();
            prop_assert_eq!(blocks, g.piece_len(p));
            prop_assert!(g.blocks(p).all(|b| b.len() <= BLOCK_SIZE));
            prop_assert!(info.piece_hash_v1(p).is_some());
        }
        prop_assert_eq!(covered, g.total_length());
    }

    /// Mutated and truncated torrents never panic.
    #[test]
    fn mutations_never_panic(
        lengths in proptest::collection::vec(0i64..40_000, 1..5),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut t = v1_torrent(&lengths, 16384, None);
        for (i, b) in edits {
            let i = i.index(t.len());
            t[i] = b;
        }
        let _ = Torrent::from_bytes(t.clone());
        let n = cut.index(t.len() + 1);
        let _ = Torrent::from_bytes(t[..n].to_vec());
    }
}
