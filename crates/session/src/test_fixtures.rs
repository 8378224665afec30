//! Fixtures shared by the unit tests of several modules.

use seedbed_metainfo::{Info, Torrent, TorrentBuilder, TorrentVersion};

/// A torrent of three files of 40,000, 30,000 and 20,000 bytes (`a`, `b`,
/// `c` in folder `t`) in 16 KiB pieces: pieces 0-2 hold the first, 2-4 the
/// second, 4-5 the third. Returns the folder holding the data (removed on
/// drop) and the `info`.
pub(crate) fn three_files(version: TorrentVersion) -> (tempfile::TempDir, Info) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("t");
    std::fs::create_dir_all(&base).unwrap();
    for (name, len) in [("a", 40_000), ("b", 30_000), ("c", 20_000)] {
        std::fs::write(base.join(name), vec![1u8; len]).unwrap();
    }
    let created = TorrentBuilder::new(version)
        .piece_length(16_384)
        .build_from_path(&base, |_, _| {})
        .unwrap();
    let t = Torrent::from_bytes(created.into_bytes()).unwrap();
    (dir, t.info().clone())
}
