//! Creating torrents: v1 (BEP 3), v2 (BEP 52) and hybrid, from a file, a
//! directory, or any list of files with readers.
//!
//! The `info` dictionary is byte-identical to the one of an independent
//! creator for the same content and piece length: mktorrent for v1 (files
//! sorted by their full path, no attributes) and libtorrent for v2 and
//! hybrid (files sorted by path components, `attr` `x` on executable files,
//! and in hybrid torrents a BEP 47 pad file `.pad/<length>` with `attr` `p`
//! after every file that does not end on a piece boundary, the last one
//! included, except for single-file torrents).
//!
//! Hashing runs on all cores ([`TorrentBuilder::threads`]) and reports
//! progress to a callback on the calling thread. From disk
//! ([`TorrentBuilder::build_from_path`], Unix) every hashing thread reads
//! its own batches of pieces with positional reads; from readers
//! ([`TorrentBuilder::build`]) the calling thread reads and the workers
//! hash. Without a creation date
//! the output depends only on the content and the options.
//!
//! ```
//! use seedbed_metainfo::{Content, ContentFile, TorrentBuilder, TorrentVersion};
//!
//! let content = Content::multi_file(
//!     "photos",
//!     vec![
//!         ContentFile::new(["a.jpg"], 40_000),
//!         ContentFile::new(["raw", "b.nef"], 5),
//!     ],
//! )?;
//! let data: [&[u8]; 2] = [&[1; 40_000], b"hello"];
//! let created = TorrentBuilder::new(TorrentVersion::Hybrid)
//!     .piece_length(32 * 1024)
//!     .tracker("udp://tracker.example:6969/announce")
//!     .build(&content, |i| Ok(data[i]), |_hashed, _total| {})?;
//! assert!(created.info_hash_v1().is_some() && created.info_hash_v2().is_some());
//! println!("{}", created.magnet());
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```

mod builder;
mod content;
#[cfg(unix)]
mod disk;
mod hashing;
pub mod merkle;
mod plan;

pub use builder::{
    auto_piece_length, CreatedTorrent, TorrentBuilder, TorrentVersion, MAX_PIECE_LENGTH,
    MIN_PIECE_LENGTH,
};
pub use content::{Content, ContentFile};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::magnet::Magnet;
    use bytes::Bytes;
    use seedbed_bencode::decode;

    fn content() -> (Content, Vec<Vec<u8>>) {
        let lens = [70_000usize, 100, 0, 40_000, 16_384, 5, 32_768];
        let names: [&[&str]; 7] = [
            &["big.bin"],
            &["small.txt"],
            &["empty"],
            &["sub", "mid.bin"],
            &["sub", "deeper", "exact16k"],
            &["a", "z"],
            &["B.bin"],
        ];
        let data: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| (i * 7 + k * 13) as u8).collect())
            .collect();
        let files = names
            .iter()
            .zip(lens)
            .map(|(p, n)| ContentFile::new(p.iter().map(|s| Bytes::from(s.to_string())), n as u64))
            .collect();
        (Content::multi_file("d", files).unwrap(), data)
    }

    fn build(v: TorrentVersion, threads: usize) -> CreatedTorrent {
        let (c, data) = content();
        TorrentBuilder::new(v)
            .piece_length(32 * 1024)
            .threads(threads)
            .tracker("http://t/a")
            .build(&c, |i| Ok(&data[i][..]), |_, _| {})
            .unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn disk_reader_matches_generic_reader_and_sees_changes() {
        let (c, data) = content();
        let dir = std::env::temp_dir().join(format!("seedbed-create-unit-{}", std::process::id()));
        let root = dir.join("d");
        // Several jobs per file: a 3 MiB file beside the small ones.
        let mut files = c.files().to_vec();
        let mut data = data;
        files.push(ContentFile::new(
            [Bytes::from_static(b"large.bin")],
            3 << 20,
        ));
        data.push((0..3u32 << 20).map(|i| (i % 251) as u8).collect());
        let c = Content::multi_file("d", files).unwrap();
        for (f, bytes) in c.files().iter().zip(&data) {
            let mut p = root.clone();
            for comp in f.path() {
                p.push(std::str::from_utf8(comp).unwrap());
            }
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        for v in [
            TorrentVersion::V1,
            TorrentVersion::V2,
            TorrentVersion::Hybrid,
        ] {
            let b = TorrentBuilder::new(v).piece_length(16 * 1024).threads(2);
            let mut last = 0;
            let from_disk = b.build_from_path(&root, |done, _| last = done).unwrap();
            assert_eq!(last, c.total_length());
            let scanned = Content::scan(&root).unwrap();
            let disk = scanned.disk.clone().unwrap();
            let generic = b
                .build(&scanned, |i| std::fs::File::open(&disk[i]), |_, _| {})
                .unwrap();
            assert_eq!(from_disk, generic, "{v:?}");
        }
        // A file that changes size after the scan is an error, not a
        // wrong torrent.
        let scanned = Content::scan(&root).unwrap();
        let disk = scanned.disk.clone().unwrap();
        let big = disk.iter().position(|p| p.ends_with("big.bin")).unwrap();
        std::fs::write(&disk[big], [1u8; 10]).unwrap();
        let b = TorrentBuilder::new(TorrentVersion::Hybrid).piece_length(16 * 1024);
        let (plan, threads) = b.plan(&scanned).unwrap();
        let r = disk::hash_files(&plan, &scanned, &disk, threads, |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })));
        std::fs::remove_file(&disk[big]).unwrap();
        let r = disk::hash_files(&plan, &scanned, &disk, threads, |_, _| {});
        assert!(matches!(r, Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn thread_count_does_not_change_output() {
        for v in [
            TorrentVersion::V1,
            TorrentVersion::V2,
            TorrentVersion::Hybrid,
        ] {
            let a = build(v, 1);
            let b = build(v, 3);
            assert_eq!(a, b);
            let doc = decode(a.as_bytes()).unwrap();
            let info = doc.root().as_dict().unwrap().get("info").unwrap();
            assert_eq!(info.raw(), a.info_bytes());
        }
    }

    #[test]
    fn v2_roots_match_streaming_hasher() {
        let (c, data) = content();
        let t = build(TorrentVersion::V2, 2);
        let doc = decode(t.as_bytes()).unwrap();
        let info = doc.root().as_dict().unwrap().get("info").unwrap();
        let tree = info.as_dict().unwrap().get("file tree").unwrap();
        let layers = doc.root().as_dict().unwrap().get("piece layers").unwrap();
        for (f, bytes) in c.files().iter().zip(&data) {
            let mut node = tree;
            for comp in f.path() {
                node = node.as_dict().unwrap().get(comp).unwrap();
            }
            let leaf = node.as_dict().unwrap().get("").unwrap().as_dict().unwrap();
            let mut h = merkle::FileHasher::new(32 * 1024).unwrap();
            h.update(bytes);
            let want = h.finish();
            let root = leaf
                .get("pieces root")
                .map(|v| v.as_bytes().unwrap().to_vec());
            assert_eq!(root, want.root.map(|r| r.to_vec()));
            if !want.piece_layer.is_empty() {
                let layer = layers
                    .as_dict()
                    .unwrap()
                    .get(want.root.unwrap())
                    .unwrap()
                    .as_bytes()
                    .unwrap();
                assert_eq!(layer, want.piece_layer.concat());
                assert!(merkle::verify_piece_layer(
                    layer,
                    f.length(),
                    32 * 1024,
                    &want.root.unwrap()
                ));
            }
        }
    }

    #[test]
    fn progress_reaches_total() {
        let (c, data) = content();
        let mut last = (0, 0);
        let mut calls = 0;
        TorrentBuilder::new(TorrentVersion::Hybrid)
            .piece_length(16 * 1024)
            .build(
                &c,
                |i| Ok(&data[i][..]),
                |done, total| {
                    assert!(done >= last.0 && done <= total);
                    last = (done, total);
                    calls += 1;
                },
            )
            .unwrap();
        assert_eq!(last, (c.total_length(), c.total_length()));
        assert!(calls >= 2);
    }

    #[test]
    fn short_and_long_readers_are_errors() {
        let (c, mut data) = content();
        data[3].pop();
        let r = TorrentBuilder::new(TorrentVersion::V1).build(&c, |i| Ok(&data[i][..]), |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })), "{r:?}");
        data[3].extend([1, 2]);
        let r = TorrentBuilder::new(TorrentVersion::V2).build(&c, |i| Ok(&data[i][..]), |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })), "{r:?}");
    }

    #[test]
    fn content_invariants() {
        let f = |p: &[&str]| ContentFile::new(p.iter().map(|s| Bytes::from(s.to_string())), 1);
        assert!(Content::multi_file("x", vec![f(&["a"]), f(&["a", "b"])]).is_err());
        assert!(Content::multi_file("x", vec![f(&["a"]), f(&["a"])]).is_err());
        assert!(Content::multi_file("x", vec![f(&[".."])]).is_err());
        assert!(Content::multi_file("x", vec![f(&["a/b"])]).is_err());
        assert!(Content::multi_file("x", vec![]).is_err());
        assert!(Content::multi_file("", vec![f(&["a"])]).is_err());
        assert!(Content::single_file("x", 0).is_err());
        assert!(Content::multi_file("x", vec![f(&["a", "b"]), f(&["ab"])]).is_ok());
        let r = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(1000)
            .build(
                &Content::single_file("x", 1).unwrap(),
                |_| Ok(&b"a"[..]),
                |_, _| {},
            );
        assert!(matches!(r, Err(Error::InvalidPieceLength { .. })));
    }

    #[test]
    fn auto_piece_length_follows_libtorrent() {
        // Values observed with python3-libtorrent 2.0.8.
        for (size, pl) in [
            (1, 16384),
            (2_684_355, 16384),
            (2_684_356, 32768),
            (10_737_418, 32768),
            (10_737_419, 65536),
            (687_194_768, 524_288),
            (703_687_441_777, 8 << 20),
            (703_687_441_778, 16 << 20),
            (u64::MAX, 16 << 20),
        ] {
            assert_eq!(auto_piece_length(size), pl, "{size}");
        }
    }

    #[test]
    fn single_file_hybrid_has_no_pad_and_magnet_works() {
        let data = vec![9u8; 50_000];
        let c = Content::single_file("one.bin", data.len() as u64).unwrap();
        let t = TorrentBuilder::new(TorrentVersion::Hybrid)
            .piece_length(16 * 1024)
            .tracker("udp://t:1")
            .web_seed("http://w/")
            .private(true)
            .comment("c")
            .creation_date(5)
            .build(&c, |_| Ok(&data[..]), |_, _| {})
            .unwrap();
        let doc = decode(t.as_bytes()).unwrap();
        let info = doc
            .root()
            .as_dict()
            .unwrap()
            .get("info")
            .unwrap()
            .as_dict()
            .unwrap();
        assert_eq!(info.get("length").unwrap().as_int(), Some(50_000));
        assert!(info.get("files").is_none());
        assert_eq!(info.get("private").unwrap().as_int(), Some(1));
        assert_eq!(
            info.get("pieces").unwrap().as_bytes().unwrap().len(),
            4 * 20
        );
        let m = t.magnet();
        assert_eq!(Magnet::from(&t.to_torrent().unwrap()), m);
        assert_eq!(m.info_hash_v1(), t.info_hash_v1());
        assert_eq!(m.info_hash_v2(), t.info_hash_v2());
        assert_eq!(m.name(), Some("one.bin"));
        assert_eq!(m.trackers(), ["udp://t:1"]);
        assert_eq!(m.web_seeds(), ["http://w/"]);
    }
}
