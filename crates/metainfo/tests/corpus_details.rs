//! Per-file expectations from the corpus MANIFEST notes: sanitised paths
//! (libtorrent's rules), symlinks, pad files, trackers, web seeds, nodes,
//! descriptive keys, and the error each invalid file gets.

use seedbed_metainfo::{Error, Torrent, Version};
use seedbed_testbed::corpus;

fn load(rel: &str) -> Option<Result<Torrent, Error>> {
    let dir = corpus()?;
    let bytes = std::fs::read(dir.join(rel)).unwrap();
    Some(Torrent::from_bytes(bytes))
}

fn ok(rel: &str) -> Option<Torrent> {
    load(rel).map(|r| r.unwrap_or_else(|e| panic!("{rel}: {e}")))
}

fn paths(t: &Torrent) -> Vec<String> {
    t.info()
        .real_files()
        .map(|(_, f)| f.path().as_str().to_owned())
        .collect()
}

fn symlinks(t: &Torrent) -> Vec<String> {
    t.info()
        .files()
        .iter()
        .filter_map(|f| f.symlink_target().map(|s| s.as_str().to_owned()))
        .collect()
}

#[test]
fn libtorrent_sanitised_paths() {
    let cases: &[(&str, &[&str])] = &[
        (
            "libtorrent/absolute_filename.torrent",
            &["temp/abcde", "temp/foobar"],
        ),
        (
            "libtorrent/duplicate_files.torrent",
            &["temp/foo/bar.txt", "temp/foo/bar.1.txt"],
        ),
        ("libtorrent/parent_path.torrent", &["temp/bar"]),
        ("libtorrent/slash_path.torrent", &["temp/_/_/bar"]),
        ("libtorrent/slash_path2.torrent", &["temp/abc....def/_/bar"]),
        ("libtorrent/slash_path3.torrent", &["temp....abc"]),
        (
            "libtorrent/hidden_parent_path.torrent",
            &["temp/foo......bar/bar"],
        ),
        ("libtorrent/backslash_path.torrent", &["temp/_/_/bar"]),
        (
            "libtorrent/invalid_directory_name.torrent",
            &["test2/_/foo", "test2/_/foo.1"],
        ),
        ("libtorrent/single_multi_file.torrent", &["temp/foo/bar"]),
        ("libtorrent/empty_path.torrent", &["temp/_/_"]),
        (
            "libtorrent/empty_path_multi.torrent",
            &["temp/abcde", "temp/_", "temp/_.1"],
        ),
        ("libtorrent/v2_invalid_filename.torrent", &["_estMB"]),
        (
            "libtorrent/v2_invalid_filename2.torrent",
            &["test/_", "test/_.1", "test/stress_test2"],
        ),
        (
            "libtorrent/symlink_filtered_path.torrent",
            &["temp/a/_/bar"],
        ),
        (
            "aria2/test.torrent",
            &[
                "aria2-test/aria2/src/aria2c",
                "aria2-test/aria2-0.2.2.tar.bz2",
            ],
        ),
        ("aria2/utf8.torrent", &["name in utf-8/path in utf-8"]),
        (
            "deluge/dir_with_single_file.torrent",
            &["dir_with_single_file/single_file.txt"],
        ),
        (
            "transmission/utils/bitcomet.utf-8.special.torrent",
            &[
                "modified test-utf8/別の世界f1.txt",
                "modified test-utf8/別の世界f2.txt",
            ],
        ),
        (
            "transmission/libtransmission/bad-utf8-path.torrent",
            &["bad-utf8-path/πfile.😀😀😀", "bad-utf8-path/file_.foo"],
        ),
        (
            "deluge/v2_test.torrent",
            &[
                "torrent_test/small.txt",
                "torrent_test/還在一個人無聊嗎~還不趕緊上來聊天美.txt",
            ],
        ),
    ];
    for (rel, want) in cases {
        let Some(t) = ok(rel) else { return };
        let got = paths(&t);
        let got: Vec<&str> = got.iter().map(String::as_str).take(want.len()).collect();
        assert_eq!(&got, want, "{rel}");
    }
}

#[test]
fn raw_paths_and_names_are_kept() {
    let Some(t) = ok("transmission/libtransmission/bad-utf8-path.torrent") else {
        return;
    };
    let f = &t.info().files()[1];
    let lossy = String::from_utf8_lossy(f.raw_path().last().unwrap());
    assert_eq!(lossy, "file\u{fffd}.foo");
    let Some(t) = ok("libtorrent/v2_invalid_filename.torrent") else {
        return;
    };
    assert_eq!(t.info().name(), "_estMB");
    assert_eq!(t.info().name_bytes(), b"\x82est/MB");
    let Some(t) = ok("libtorrent/invalid_name2.torrent") else {
        return;
    };
    assert_eq!(t.info().name(), "b61560c2918f463768cd122b6d2fdd47b77bdb35");
    assert_eq!(
        t.info().files()[0].path().as_str(),
        "b61560c2918f463768cd122b6d2fdd47b77bdb35/foo/bar.txt"
    );
    let Some(t) = ok("libtorrent/invalid_name3.torrent") else {
        return;
    };
    assert_eq!(t.info().name(), "foobar ");
    let Some(t) = ok("libtorrent/invalid_filename.torrent") else {
        return;
    };
    assert_eq!(t.info().name(), "est2");
    assert_eq!(paths(&t).len(), 2);
    let Some(t) = ok("libtorrent/invalid_filename2.torrent") else {
        return;
    };
    assert_eq!(paths(&t).len(), 3);
    let Some(t) = ok("deluge/unicode_file.torrent") else {
        return;
    };
    assert_eq!(t.info().name().as_bytes(), t.info().name_bytes());
    assert!(t.info().name().starts_with("সুকুমার"));
    let Some(t) = ok("libtorrent/long_name.torrent") else {
        return;
    };
    assert_eq!(t.info().name().len(), 249);
    assert_eq!(t.info().name_bytes().len(), 300);
}

#[test]
fn symlinks_and_pads() {
    let Some(t) = ok("libtorrent/symlink1.torrent") else {
        return;
    };
    assert_eq!(symlinks(&t), ["temp/a/b/bar"]);
    assert_eq!(t.info().files()[1].length(), 0);
    assert!(t.info().files()[1].attr().is_symlink());
    let Some(t) = ok("libtorrent/symlink_zero_size.torrent") else {
        return;
    };
    assert_eq!(symlinks(&t), ["temp/a/b/bar"]);
    let Some(t) = ok("libtorrent/symlink_filtered_path.torrent") else {
        return;
    };
    assert_eq!(symlinks(&t), ["temp/a/_/bar"]);
    let Some(t) = ok("libtorrent/symlink2.torrent") else {
        return;
    };
    let s = symlinks(&t);
    assert_eq!(s[0], "Some.framework/Versions/A/SDL2");
    assert_eq!(s[s.len() - 1], "Some.framework/Versions/A");
    for rel in [
        "libtorrent/v2_symlinks.torrent",
        "libtorrent/overlapping_symlinks.torrent",
    ] {
        let Some(t) = ok(rel) else { return };
        assert!(t.info().num_files() > 3);
        assert_eq!(
            &symlinks(&t)[..3],
            [
                "SDL2.framework/Versions/Current/Headers",
                "SDL2.framework/Versions/Current/Resources",
                "SDL2.framework/Versions/Current/SDL2"
            ],
            "{rel}"
        );
    }
    let Some(t) = ok("libtorrent/pad_file.torrent") else {
        return;
    };
    let f = t.info().files();
    assert_eq!(f.len(), 2);
    assert!(!f[0].is_pad() && f[1].is_pad());
    let Some(t) = ok("libtorrent/pad_file_no_path.torrent") else {
        return;
    };
    assert_eq!(t.info().files()[1].path().as_str(), ".pad/2124");
    let Some(t) = ok("libtorrent/sample.torrent") else {
        return;
    };
    let f = t.info().files();
    assert_eq!(f[0].path().as_str(), "sample/text_file2.txt");
    assert!(f[1].is_pad());
    assert_eq!(f[2].path().as_str(), "sample/text_file.txt");
}

#[test]
fn v2_details() {
    let Some(t) = ok("libtorrent/v2_only.torrent") else {
        return;
    };
    assert_eq!(t.info().version(), Version::V2);
    assert!(t.info_hash_v1().is_none());
    assert_eq!(
        t.info_hash_v2().unwrap().to_hex(),
        "95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192"
    );
    let root = t.info().files()[0].pieces_root().unwrap();
    assert_eq!(
        seedbed_metainfo::InfoHashV2(*root).to_hex(),
        "515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008"
    );
    assert_eq!(t.piece_layer(0).unwrap().len(), 16 * 32);
    let g = t.info().geometry();
    assert_eq!(g.num_pieces(), 16);
    for p in g.pieces() {
        let i = p.as_usize();
        assert_eq!(
            t.piece_hash_v2(p).unwrap()[..],
            t.piece_layer(0).unwrap()[i * 32..i * 32 + 32]
        );
    }
    assert!(t.info().piece_hash_v1(g.last_piece()).is_none());
    let Some(t) = ok("libtorrent/v2_multipiece_file.torrent") else {
        return;
    };
    assert_eq!(t.info().version(), Version::Hybrid);
    assert_eq!(
        t.info_hash_v2().unwrap().to_hex(),
        "108ac2c3718ce722e6896edc56c4afa98f1d711ecaace7aad74fca418ebd03de"
    );
    let Some(t) = ok("libtorrent/v2.torrent") else {
        return;
    };
    assert_eq!(
        seedbed_metainfo::InfoHashV2(*t.info().files()[0].pieces_root().unwrap()).to_hex(),
        "60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242"
    );
    let Some(t) = ok("anacrolix/testdata/bittorrent-v2-hybrid-test.torrent") else {
        return;
    };
    assert_eq!(
        t.info_hash_v1().unwrap().to_hex(),
        "631a31dd0a46257d5078c0dee4e66e26f73e42ac"
    );
    assert_eq!(
        t.info_hash_v2().unwrap().to_hex(),
        "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb"
    );
    // issue-949: files are piece-aligned; the last v1 piece is a full piece
    // (the tail pad counts).
    let Some(t) = ok("anacrolix/testdata/issue-949.torrent") else {
        return;
    };
    let g = t.info().geometry();
    assert_eq!(g.piece_len(g.last_piece()), 4 << 20);
    for (_, f) in t.info().real_files() {
        if f.length() > 0 {
            assert_eq!(f.offset() % u64::from(g.piece_length()), 0);
        }
    }
    // v2-only: alignment pads are added between files, pieces never
    // straddle two files.
    let Some(t) = ok("anacrolix/testdata/bittorrent-v2-test.torrent") else {
        return;
    };
    let info = t.info();
    assert_eq!(info.num_pieces(), 371);
    for p in info.geometry().pieces() {
        let real: Vec<_> = info
            .piece_spans(p)
            .filter(|s| !info.files()[s.file].is_pad())
            .collect();
        assert_eq!(real.len(), 1, "piece {p}");
    }
    // A v2 file's piece layer exists for files of more than one piece.
    let Some(t) = ok("libtorrent/v2_incomplete_piece_layer.torrent") else {
        return;
    };
    let layers = (0..t.info().files().len())
        .filter(|&i| t.piece_layer(i).is_some())
        .count();
    assert_eq!(layers, 2);
}

#[test]
fn trackers_seeds_nodes() {
    let Some(t) = ok("aria2/test.torrent") else {
        return;
    };
    assert_eq!(t.trackers().len(), 3);
    assert_eq!(t.comment(), Some("REDNOAH.COM RULES"));
    assert_eq!(t.created_by(), Some("aria2"));
    assert_eq!(t.creation_date(), Some(1123456789));
    let Some(t) = ok("aria2/single.torrent") else {
        return;
    };
    assert_eq!(
        t.trackers(),
        [vec!["http://aria.rednoah.com/announce.php".to_string()]]
    );
    let Some(t) = ok("aria2/utf8.torrent") else {
        return;
    };
    assert_eq!(t.comment(), Some("This is utf8 comment."));
    assert!(!t.info().is_private(), "top-level private is not BEP 27");
    let Some(t) = ok("libtorrent/whitespace_url.torrent") else {
        return;
    };
    assert_eq!(t.trackers()[0][0], "udp://test.com/announce");
    let Some(t) = ok("lava_torrent/files/ubuntu-16.04.4-desktop-amd64.iso.torrent") else {
        return;
    };
    assert_eq!(
        t.trackers(),
        [
            vec!["http://torrent.ubuntu.com:6969/announce".to_string()],
            vec!["http://ipv6.torrent.ubuntu.com:6969/announce".to_string()]
        ]
    );
    assert_eq!(
        t.announce(),
        Some("http://torrent.ubuntu.com:6969/announce")
    );
    assert_eq!(t.comment(), Some("Ubuntu CD releases.ubuntu.com"));
    let Some(t) = ok("webtorrent/parse-torrent/leaves-duplicate-tracker.torrent") else {
        return;
    };
    assert_eq!(
        t.trackers(),
        [vec!["http://tracker.example.com/announce".to_string()]]
    );
    let Some(t) = ok("webtorrent/parse-torrent/leaves-empty-announce-list.torrent") else {
        return;
    };
    assert_eq!(
        t.trackers(),
        [vec!["udp://tracker.publicbt.com:80/announce".to_string()]]
    );
    let Some(t) = ok("webtorrent/fixtures/leaves-metadata.torrent") else {
        return;
    };
    assert!(t.trackers().is_empty() && t.web_seeds().is_empty());
    assert_eq!(t.info().geometry().last_piece_length(), 1569);
    let Some(t) = ok("anacrolix/testdata/bootstrap.dat.torrent") else {
        return;
    };
    let all: Vec<&String> = t.trackers().iter().flatten().collect();
    assert!(all
        .iter()
        .any(|u| *u == "udp://tracker.openbittorrent.com:80"));

    let Some(t) = ok("anacrolix/metainfo/SKODAOCTAVIA336x280_archive.torrent") else {
        return;
    };
    assert_eq!(t.web_seeds().len(), 3);
    let Some(t) = ok("anacrolix/metainfo/flat-url-list.torrent") else {
        return;
    };
    assert_eq!(t.web_seeds(), ["https://archive.org/download/"]);
    let Some(t) = ok("libtorrent/duplicate_web_seeds.torrent") else {
        return;
    };
    assert_eq!(t.web_seeds().len(), 3);
    for rel in [
        "libtorrent/url_list.torrent",
        "libtorrent/url_list2.torrent",
        "libtorrent/url_list3.torrent",
        "libtorrent/empty_httpseed.torrent",
    ] {
        let Some(t) = ok(rel) else { return };
        assert!(t.web_seeds().is_empty(), "{rel}");
        assert!(t.http_seeds().is_empty(), "{rel}");
    }
    let Some(t) = ok("libtorrent/httpseed.torrent") else {
        return;
    };
    assert_eq!(t.http_seeds(), ["http://foobar.com/"]);
    let Some(t) = ok("transmission/libtransmission/webseed-getright-list.torrent") else {
        return;
    };
    assert_eq!(
        t.web_seeds(),
        ["http://www.webseed-one.com/", "http://webseed-two.com/"]
    );

    let Some(t) = ok("libtorrent/dht_nodes.torrent") else {
        return;
    };
    let nodes: Vec<(String, u16)> = t.nodes().iter().map(|n| (n.host.clone(), n.port)).collect();
    assert_eq!(
        nodes,
        [
            ("127.0.0.1".to_string(), 6881),
            ("192.168.1.1".to_string(), 6881)
        ]
    );
    let Some(t) = ok("anacrolix/metainfo/issue_65a.torrent") else {
        return;
    };
    assert_eq!(t.nodes().len(), 6);
    assert_eq!(t.nodes()[0].host, "185.34.3.132");
    let Some(t) = ok("anacrolix/metainfo/trackerless.torrent") else {
        return;
    };
    assert!(t.nodes().is_empty());

    let Some(t) = ok("libtorrent/creation_date.torrent") else {
        return;
    };
    assert_eq!(t.creation_date(), Some(1234567));
    let Some(t) = ok("libtorrent/no_creation_date.torrent") else {
        return;
    };
    assert_eq!(t.creation_date(), None);
    let Some(t) = ok("rqbit/private.torrent") else {
        return;
    };
    assert!(t.info().is_private());
    let Some(t) = ok("lava_torrent/samples/symlink.torrent") else {
        return;
    };
    assert!(!t.info().is_private());
}

#[test]
fn unknown_keys_stay_reachable() {
    let Some(t) = ok("libtorrent/collection.torrent") else {
        return;
    };
    let doc = t.decode().unwrap();
    let c = doc.root().as_dict().unwrap().get("collections").unwrap();
    let names: Vec<&[u8]> = c
        .as_list()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_bytes())
        .collect();
    assert_eq!(names, [&b"bar"[..], b"foo"]);
    let Some(t) = ok("libtorrent/similar2.torrent") else {
        return;
    };
    let doc = t.info().decode().unwrap();
    let s = doc.root().as_dict().unwrap().get("similar").unwrap();
    assert_eq!(
        s.as_list().unwrap().get(0).unwrap().as_bytes(),
        Some(&[b'a'; 20][..])
    );
}

#[test]
fn raw_info_bytes_are_hashed() {
    // Transmission: the info dict is bytes 225..567 of the file, unsorted.
    let Some(t) = ok("transmission/libtransmission/unordered-info-dict.torrent") else {
        return;
    };
    assert_eq!(t.info().raw().as_ref(), &t.raw()[225..=567]);
    assert_eq!(
        t.info_hash().to_hex(),
        "e44a814ac5ed962f9181638d1136a6aface3f734"
    );
    let Some(t) = ok("transmission/libtransmission/Android-x86 8.1 r6 iso.torrent") else {
        return;
    };
    let start = t.info().raw().as_ptr() as usize - t.raw().as_ptr() as usize;
    assert_eq!((start, t.info().raw().len()), (336, 26583));
    // Info::from_bytes on the raw bytes gives the same hashes (ut_metadata).
    let again = seedbed_metainfo::Info::from_bytes(t.info().raw().clone()).unwrap();
    assert_eq!(again.info_hash_v1(), t.info_hash_v1());
    assert_eq!(again.info_hash_v2(), t.info_hash_v2());
}

/// Each invalid file fails for its own reason, mapped from the source's
/// error.
#[test]
fn invalid_files_fail_for_the_right_reason() {
    use seedbed_bencode::Error as B;
    type Check = fn(&Error) -> bool;
    let missing = |e: &Error| matches!(e, Error::Bencode(B::MissingKey { .. }));
    let wrong = |e: &Error| matches!(e, Error::Bencode(B::WrongType { .. }));
    let cases: &[(&str, Check)] = &[
        (
            "anacrolix/metainfo/minimal-trailing-newline.torrent",
            missing,
        ),
        ("libtorrent/invalid_info.torrent", wrong),
        ("libtorrent/invalid_name.torrent", wrong),
        ("libtorrent/no_name.torrent", missing),
        ("webtorrent/fixtures/corrupt.torrent", missing),
        ("libtorrent/missing_path_list.torrent", missing),
        ("libtorrent/invalid_path_list.torrent", |e| {
            matches!(e, Error::Invalid { .. })
        }),
        ("libtorrent/invalid_symlink.torrent", |e| {
            matches!(e, Error::Invalid { .. })
        }),
        ("libtorrent/invalid_piece_len.torrent", wrong),
        ("libtorrent/missing_piece_len.torrent", missing),
        ("libtorrent/negative_piece_len.torrent", |e| {
            matches!(e, Error::InvalidPieceLength { .. })
        }),
        ("libtorrent/v2_no_power2_piece.torrent", |e| {
            matches!(e, Error::InvalidPieceLength { .. })
        }),
        ("libtorrent/v2_piece_size.torrent", |e| {
            matches!(e, Error::InvalidPieceLength { .. })
        }),
        ("libtorrent/invalid_pieces.torrent", wrong),
        ("libtorrent/invalid_file_size.torrent", wrong),
        ("libtorrent/negative_file_size.torrent", |e| {
            matches!(e, Error::Bencode(B::InvalidValue { .. }))
        }),
        ("libtorrent/negative_size.torrent", |e| {
            matches!(e, Error::Bencode(B::InvalidValue { .. }))
        }),
        ("libtorrent/zero.torrent", |e| {
            matches!(e, Error::InvalidTotalSize { .. })
        }),
        ("libtorrent/zero2.torrent", |e| {
            matches!(e, Error::InvalidTotalSize { .. })
        }),
        ("libtorrent/no_files.torrent", |e| {
            matches!(e, Error::NoFiles)
        }),
        ("libtorrent/string.torrent", |e| {
            matches!(e, Error::NotADictionary { .. })
        }),
        ("libtorrent/unaligned_pieces.torrent", |e| {
            matches!(e, Error::PiecesNotMultipleOf20 { len: 24 })
        }),
        (
            "transmission/libtransmission/invalid-pieces-length.torrent",
            |e| matches!(e, Error::PiecesNotMultipleOf20 { len: 119 }),
        ),
        ("transmission/libtransmission/too-few-pieces.torrent", |e| {
            matches!(
                e,
                Error::PieceCountMismatch {
                    expected: 7,
                    found: 6
                }
            )
        }),
        (
            "transmission/libtransmission/too-many-pieces.torrent",
            |e| {
                matches!(
                    e,
                    Error::PieceCountMismatch {
                        expected: 5,
                        found: 6
                    }
                )
            },
        ),
        (
            "transmission/libtransmission/empty-pieces-key.torrent",
            |e| matches!(e, Error::PieceCountMismatch { found: 0, .. }),
        ),
        (
            "transmission/libtransmission/missing-pieces-key.torrent",
            missing,
        ),
        ("transmission/libtransmission/bad-pieces-key.torrent", wrong),
        ("libtorrent/many_pieces.torrent", |e| {
            matches!(e, Error::TooManyPieces { .. })
        }),
        ("libtorrent/v2_large_offset.torrent", |e| {
            matches!(e, Error::TooManyPieces { .. })
        }),
        ("libtorrent/v2_large_file.torrent", |e| {
            matches!(e, Error::TooManyPieces { .. })
        }),
        ("libtorrent/duplicate_files2.torrent", |e| {
            matches!(e, Error::TooManyDuplicateNames { limit: 100 })
        }),
        ("libtorrent/bad_name.torrent", |e| {
            matches!(e, Error::Invalid { .. })
        }),
        ("libtorrent/v2_deep_recursion.torrent", |e| {
            matches!(e, Error::Bencode(B::DepthLimit { .. }))
        }),
        ("libtorrent/v2_overlong_integer.torrent", |e| {
            matches!(e, Error::NonCanonicalV2 { .. })
        }),
        ("libtorrent/v2_unordered_files.torrent", |e| {
            matches!(e, Error::NonCanonicalV2 { .. })
        }),
        ("libtorrent/v2_empty_filename.torrent", |e| {
            matches!(e, Error::Invalid { .. })
        }),
        ("libtorrent/v2_invalid_file.torrent", |e| {
            matches!(e, Error::Invalid { .. })
        }),
        ("libtorrent/v2_invalid_pad_file.torrent", |e| {
            matches!(e, Error::PadFileInV2 { .. })
        }),
        ("libtorrent/v2_zero_root.torrent", |e| {
            matches!(e, Error::MissingPiecesRoot { .. })
        }),
        ("libtorrent/v2_zero_root_small.torrent", |e| {
            matches!(e, Error::MissingPiecesRoot { .. })
        }),
        (
            "libtorrent/v2_missing_file_root_invalid_symlink.torrent",
            |e| matches!(e, Error::MissingPiecesRoot { .. } | Error::Invalid { .. }),
        ),
        ("libtorrent/v2_mismatching_metadata.torrent", |e| {
            matches!(e, Error::InconsistentHybrid { .. })
        }),
        ("libtorrent/v2_bad_file_alignment.torrent", |e| {
            matches!(e, Error::InconsistentHybrid { .. })
        }),
        ("libtorrent/v2_invalid_piece_layer.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_invalid_piece_layer_root.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_invalid_piece_layer_size.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_invalid_root_hash.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_non_multiple_piece_layer.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_piece_layer_invalid_file_hash.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
        ("libtorrent/v2_unknown_piece_layer_entry.torrent", |e| {
            matches!(e, Error::InvalidPieceLayer { .. })
        }),
    ];
    let mut wrong_reason = Vec::new();
    for (rel, check) in cases {
        let Some(r) = load(rel) else { return };
        match r {
            Ok(_) => wrong_reason.push(format!("{rel}: loaded")),
            Err(e) if !check(&e) => wrong_reason.push(format!("{rel}: {e:?}")),
            Err(_) => {}
        }
    }
    assert!(wrong_reason.is_empty(), "{}", wrong_reason.join("\n"));

    // Transmission's stricter rules: these load (as in libtorrent) and fail
    // the documented strict check.
    for rel in [
        "transmission/libtransmission/dup-files.torrent",
        "transmission/libtransmission/dup-pieces-key.torrent",
    ] {
        let Some(r) = load(rel) else { return };
        let t = r.unwrap();
        assert!(
            matches!(t.info().check_strict(), Err(Error::Strict(_))),
            "{rel}"
        );
    }
    // Piece layers are checked in a separate, documented step that parsing
    // runs by default: with it off, the bad layer loads and the step fails.
    let Some(dir) = corpus() else { return };
    let bytes = std::fs::read(dir.join("libtorrent/v2_invalid_root_hash.torrent")).unwrap();
    let opts = seedbed_metainfo::ParseOptions::new().verify_piece_layers(false);
    let t = Torrent::from_bytes_with(bytes, &opts).unwrap();
    assert!(matches!(
        t.verify_piece_layers(),
        Err(Error::InvalidPieceLayer { file: Some(_), .. })
    ));
}
