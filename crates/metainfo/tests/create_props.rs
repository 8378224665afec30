//! Properties of created torrents, checked with the crate's own reader:
//! for random contents, every version, piece length and thread count,
//!
//! - the output does not depend on the number of hashing threads;
//! - the reader loads it, its v2 piece layers verify, and its real files
//!   are the content's files;
//! - every v1 piece hash is the SHA-1 of the bytes the reader maps to that
//!   piece (pad files as zeros);
//! - every v2 `pieces root` is the streaming hasher's root of the file.

use bytes::Bytes;
use proptest::prelude::*;
use seedbed_metainfo::create::merkle::FileHasher;
use seedbed_metainfo::{Content, ContentFile, Torrent, TorrentBuilder, TorrentVersion};
use sha1::{Digest, Sha1};

/// Lengths near block and piece boundaries, plus arbitrary ones.
fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(16_383),
        Just(16_384),
        Just(16_385),
        Just(32_768),
        Just(65_536),
        0u64..140_000,
    ]
}

fn file_data(index: usize, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8 ^ index as u8)
        .collect()
}

fn content() -> impl Strategy<Value = Content> {
    let path = proptest::collection::vec("[abAB_.-]{1,3}", 1..4);
    prop_oneof![
        (1u64..140_000).prop_map(|len| Content::single_file("one.bin", len).expect("valid")),
        proptest::collection::vec((path, length()), 1..7).prop_filter_map(
            "paths must be unique, not nested in files, not . or ..",
            |files| {
                let files = files
                    .into_iter()
                    .map(|(p, len)| ContentFile::new(p.into_iter().map(Bytes::from), len))
                    .collect();
                Content::multi_file("multi", files).ok()
            },
        ),
    ]
}

fn check(
    content: &Content,
    version: TorrentVersion,
    piece_length: u32,
) -> Result<(), TestCaseError> {
    let data: Vec<Vec<u8>> = content
        .files()
        .iter()
        .enumerate()
        .map(|(i, f)| file_data(i, f.length()))
        .collect();
    let build = |threads| {
        TorrentBuilder::new(version)
            .piece_length(piece_length)
            .threads(threads)
            .build(content, |i| Ok(&data[i][..]), |_, _| {})
            .expect("builds")
    };
    let created = build(1);
    prop_assert_eq!(&created, &build(3));

    let t = Torrent::from_bytes(created.as_bytes().to_vec()).expect("the reader loads it");
    t.verify_piece_layers().expect("piece layers verify");
    let info = t.info();
    prop_assert_eq!(t.info_hash_v1(), created.info_hash_v1());
    prop_assert_eq!(t.info_hash_v2(), created.info_hash_v2());

    // The reader's real files are ours, by raw path.
    let index_of = |raw: &[Bytes]| {
        content.files().iter().position(|f| {
            if content.is_single_file() {
                true
            } else {
                f.path() == raw
            }
        })
    };
    let real: Vec<_> = info.files().iter().filter(|f| !f.is_pad()).collect();
    prop_assert_eq!(real.len(), content.files().len());
    for f in &real {
        let i = index_of(f.raw_path()).expect("a content file");
        prop_assert_eq!(f.length(), content.files()[i].length());
        if version != TorrentVersion::V1 {
            let mut h = FileHasher::new(piece_length).expect("valid piece length");
            h.update(&data[i]);
            prop_assert_eq!(f.pieces_root().copied(), h.finish().root);
        }
    }

    if version != TorrentVersion::V2 {
        let g = info.geometry();
        for p in g.pieces() {
            let mut sha = Sha1::new();
            for span in info.piece_spans(p) {
                let f = &info.files()[span.file];
                let (off, len) = (span.offset as usize, span.len as usize);
                if f.is_pad() {
                    sha.update(vec![0u8; len]);
                } else {
                    let i = index_of(f.raw_path()).expect("a content file");
                    sha.update(&data[i][off..off + len]);
                }
            }
            let got: [u8; 20] = sha.finalize().into();
            prop_assert_eq!(Some(&got), info.piece_hash_v1(p));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn created_torrents_hold(
        content in content(),
        version in prop_oneof![
            Just(TorrentVersion::V1),
            Just(TorrentVersion::V2),
            Just(TorrentVersion::Hybrid)
        ],
        shift in 0u32..3,
    ) {
        check(&content, version, 16_384 << shift)?;
    }
}
