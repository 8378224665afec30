//! Choosing what to download, on loopback between our sessions: skipped
//! files are not created (their bytes in shared pieces wait in the part
//! file) and come back when wanted; sequential order and deadlines show in
//! the order pieces are verified.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Fixture, Recorder};
use seedbed_session::{
    AddTorrentOptions, Event, FilePriority, Session, SessionConfig, Status, TorrentHandle,
};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits (polling) until `f` holds, up to `LIMIT`.
async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + LIMIT;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited too long: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A leecher session (resume data in `resume`) with `opts` for `f`'s
/// torrent into `f.dst()`, connected to `seed`.
async fn leecher(
    f: &Fixture,
    config: SessionConfig,
    opts: AddTorrentOptions,
) -> (Session, TorrentHandle, Recorder) {
    let session = Session::new(config).await.unwrap();
    let handle = session.add_torrent(&f.torrent, opts).await.unwrap();
    let events = Recorder::new(&handle);
    (session, handle, events)
}

fn pieces_verified(events: &Recorder) -> Vec<u32> {
    events
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::PieceVerified { piece } => Some(*piece),
            _ => None,
        })
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files 0 `a/b/big.bin` (2,500,000 bytes), 1 `a/small.txt` (1,000, inside
/// the piece where big.bin ends and top.bin starts), 2 `c/empty`, 3
/// `top.bin`. Only big.bin is wanted: the shared piece's bytes of
/// small.txt and top.bin go to the part file, no other file appears, and
/// the torrent is finished without every piece. A restart trusts it all
/// without reading. Then small.txt is wanted (its bytes come from the part
/// file, nothing is downloaded), then top.bin (downloaded; the part file
/// goes), then the empty file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_files_wait_in_the_part_file_until_wanted() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let info = f.torrent.info();
        let names: Vec<&str> = info.real_files().map(|(_, e)| e.path().as_str()).collect();
        assert_eq!(
            names,
            [
                "content/a/b/big.bin",
                "content/a/small.txt",
                "content/c/empty",
                "content/top.bin"
            ]
        );
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let seed = seeder.listen_addr().unwrap();
        let resume = f.src().join("resume");
        let config = SessionConfig {
            resume_dir: Some(resume.clone()),
            ..common::config()
        };
        let opts = || {
            AddTorrentOptions::new(f.dst())
                .trackers(false)
                .seed(false)
                .only_files([0])
        };
        let out = f.dst().join("content");
        let part = f.dst().join(".content.parts");

        let (leech, handle, events) = leecher(&f, config.clone(), opts().peers([seed])).await;
        common::wait_complete(&handle, LIMIT).await;
        assert_eq!(handle.status(), Status::Finished);
        assert!(events.wait_for(LIMIT, |e| *e == Event::Completed).await);
        let stats = handle.stats();
        assert!(stats.pieces_have < stats.num_pieces, "{stats:?}");
        assert_eq!(
            read(&out.join("a/b/big.bin")),
            read(&f.content.join("a/b/big.bin"))
        );
        for skipped in ["a/small.txt", "c/empty", "top.bin"] {
            assert!(!out.join(skipped).exists(), "{skipped} was created");
        }
        assert!(
            part.exists(),
            "the shared piece's other bytes are in the part file"
        );
        assert!(std::fs::metadata(&part).unwrap().len() <= u64::from(common::PIECE));
        let have = stats.pieces_have;
        leech.shutdown().await;

        // Restart: everything trusted, nothing read (the part file too).
        let (leech, handle, events) = leecher(&f, config.clone(), opts()).await;
        common::wait_complete(&handle, LIMIT).await;
        assert!(
            events
                .wait_for(LIMIT, |e| *e == Event::Checked { pieces: have })
                .await
        );
        assert_eq!(handle.disk_stats().read, 0);
        assert_eq!(
            handle.file_priorities(),
            [
                FilePriority::Normal,
                FilePriority::Skip,
                FilePriority::Skip,
                FilePriority::Skip
            ]
        );

        // small.txt: its bytes are all in the verified shared piece.
        handle.set_file_priority(1, FilePriority::Normal).unwrap();
        let small = out.join("a/small.txt");
        until("small.txt", || small.exists()).await;
        assert_eq!(read(&small), read(&f.content.join("a/small.txt")));
        assert_eq!(handle.stats().downloaded, 0);
        assert_eq!(handle.status(), Status::Finished);
        assert!(part.exists(), "top.bin's first bytes are still there");

        // top.bin: downloaded now; its first bytes come from the part file.
        handle.set_file_priority(3, FilePriority::High).unwrap();
        until("downloading", || handle.status() == Status::Downloading).await;
        handle.add_peers([seed]);
        common::wait_complete(&handle, LIMIT).await;
        assert_eq!(read(&out.join("top.bin")), read(&f.content.join("top.bin")));
        assert!(!part.exists(), "no file keeps bytes in the part file");
        assert!(!out.join("c/empty").exists());
        handle.set_file_priority(2, FilePriority::Normal).unwrap();
        until("c/empty", || out.join("c/empty").exists()).await;
        f.assert_downloaded();
        assert!(matches!(
            handle.set_file_priority(4, FilePriority::Normal),
            Err(seedbed_session::Error::FileIndex { index: 4, files: 4 })
        ));
        common::shut_down([leech, seeder]).await;
    })
    .await;
}

/// A file wanted at run time makes a connected peer interesting again:
/// the leecher, done with big.bin and not interested in the seeder, says
/// `interested` when top.bin is wanted, and its peer list shows it while
/// top.bin comes in (slowed by a download limit so it can be seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_wanted_at_run_time_makes_the_peer_interesting_again() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let opts = AddTorrentOptions::new(f.dst())
            .trackers(false)
            .seed(true)
            .only_files([0])
            .peers([seeder.listen_addr().unwrap()]);
        let (leech, handle, _events) = leecher(&f, common::config(), opts).await;
        common::wait_complete(&handle, LIMIT).await;
        until("connected and not interested", || {
            let peers = handle.peers();
            peers.len() == 1 && !peers[0].am_interested
        })
        .await;

        handle.set_download_limit(200_000);
        handle.set_file_priority(3, FilePriority::Normal).unwrap();
        until("interested in the seeder again", || {
            handle.peers().iter().any(|p| p.am_interested)
        })
        .await;
        assert_eq!(handle.status(), Status::Downloading);
        common::wait_complete(&handle, LIMIT).await;
        let out = f.dst().join("content");
        assert_eq!(read(&out.join("top.bin")), read(&f.content.join("top.bin")));
        until("not interested once top.bin is done", || {
            handle.peers().iter().all(|p| !p.am_interested)
        })
        .await;
        common::shut_down([leech, seeder]).await;
    })
    .await;
}

/// Sequential: with one seeder and one hashing thread, pieces are
/// verified in index order, but for those of the seeder's allowed fast set
/// (BEP 6), fetched while it still choked us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_pieces_are_verified_in_order() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let config = SessionConfig {
            hashing_threads: 1,
            ..common::config()
        };
        let opts = AddTorrentOptions::new(f.dst())
            .trackers(false)
            .seed(false)
            .sequential(true)
            .peers([seeder.listen_addr().unwrap()]);
        let (leech, handle, events) = leecher(&f, config, opts).await;
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        let n = f.torrent.info().geometry().num_pieces();
        until("every PieceVerified", || {
            pieces_verified(&events).len() >= n as usize
        })
        .await;
        let order = pieces_verified(&events);
        let fast = seedbed_peer_wire::allowed_fast_set(
            &f.torrent.info_hash(),
            std::net::Ipv4Addr::LOCALHOST,
            n,
            4,
        );
        let in_order: Vec<u32> = order
            .iter()
            .copied()
            .filter(|p| !fast.contains(p))
            .collect();
        let expected: Vec<u32> = (0..n).filter(|p| !fast.contains(p)).collect();
        assert_eq!(in_order, expected, "verified: {order:?}");
        assert_eq!(order.len(), n as usize);
        common::shut_down([leech, seeder]).await;
    })
    .await;
}

/// A deadline range (a player about to read the start of top.bin): its
/// pieces are verified before every other piece, in order, but for those
/// of the allowed fast set fetched while the seeder still choked us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_pieces_are_verified_first() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let config = SessionConfig {
            hashing_threads: 1,
            ..common::config()
        };
        let opts = AddTorrentOptions::new(f.dst()).trackers(false).seed(false);
        let (leech, handle, events) = leecher(&f, config, opts).await;
        // top.bin is file 3; its first 300,000 bytes.
        handle.prioritize_range(3, 0..300_000).unwrap();
        assert!(matches!(
            handle.prioritize_range(9, 0..1),
            Err(seedbed_session::Error::FileIndex { .. })
        ));
        let info = f.torrent.info();
        let top = info.real_files().nth(3).unwrap().1;
        let g = info.geometry();
        let wanted: Vec<u32> = g
            .pieces_in(top.offset(), 300_000)
            .map(|p| p.get())
            .collect();
        assert_eq!(wanted.len(), 5);
        let n = g.num_pieces();
        assert!(matches!(
            handle.set_piece_deadline(n, Duration::ZERO),
            Err(seedbed_session::Error::PieceIndex { .. })
        ));
        handle.add_peers([seeder.listen_addr().unwrap()]);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        until("every PieceVerified", || {
            pieces_verified(&events).len() >= n as usize
        })
        .await;
        let order = pieces_verified(&events);
        let fast = seedbed_peer_wire::allowed_fast_set(
            &f.torrent.info_hash(),
            std::net::Ipv4Addr::LOCALHOST,
            n,
            4,
        );
        let first: Vec<u32> = order
            .iter()
            .copied()
            .filter(|p| !fast.contains(p) || wanted.contains(p))
            .take(wanted.len())
            .collect();
        let mut expect = wanted.clone();
        // A deadline piece in the fast set may come first.
        expect.sort_by_key(|p| !fast.contains(p));
        assert_eq!(first, expect, "verified: {order:?}");
        common::shut_down([leech, seeder]).await;
    })
    .await;
}

/// Three files, 64 KiB pieces: `a.bin` 300,000 bytes (pieces 0-4),
/// `b.bin` 200,000 (pieces 4-7), `c.bin` 150,000 (pieces 7-9); pieces 4
/// and 7 hold two files each.
fn three_files(root: &Path) -> std::path::PathBuf {
    let base = root.join("three");
    std::fs::create_dir_all(&base).unwrap();
    for (name, seed, len) in [
        ("a.bin", 11, 300_000),
        ("b.bin", 12, 200_000),
        ("c.bin", 13, 150_000),
    ] {
        std::fs::write(base.join(name), common::data(seed, len)).unwrap();
    }
    base
}

/// Waits (polling) until the stats hold `wanted_bytes_have`, then checks
/// every figure of the wanted bytes.
async fn wanted_figures(handle: &TorrentHandle, have: u64, wanted: u64) {
    until(&format!("{have} of {wanted} wanted bytes"), || {
        handle.stats().wanted_bytes_have == have
    })
    .await;
    let s = handle.stats();
    assert_eq!(
        (s.wanted_bytes_have, s.wanted_bytes),
        (have, wanted),
        "{s:?}"
    );
    assert_eq!(s.total_bytes, 650_000);
}

/// `Stats::wanted_bytes` and `wanted_bytes_have` with file 1 (b.bin)
/// skipped: at the start (nothing on disk), halfway (a.bin put in place
/// and rechecked: pieces 0-3 verify, piece 4 does not, as b.bin's bytes
/// are missing), done (pieces 4 and 7 count only their a.bin and c.bin
/// bytes), after b.bin is wanted again (its bytes in verified pieces 4
/// and 7 count at once, the rest once downloaded) and after a.bin is
/// skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wanted_bytes_follow_file_priorities() {
    common::within(LIMIT, async {
        let f = Fixture::new(three_files, "three.torrent", |content, file| {
            common::build_torrent(content, seedbed_metainfo::TorrentVersion::V1, None, file)
        });
        let info = f.torrent.info();
        let names: Vec<&str> = info.real_files().map(|(_, e)| e.path().as_str()).collect();
        assert_eq!(names, ["three/a.bin", "three/b.bin", "three/c.bin"]);
        assert_eq!(info.geometry().num_pieces(), 10);
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let opts = AddTorrentOptions::new(f.dst())
            .trackers(false)
            .seed(false)
            .paused(true)
            .file_priorities([FilePriority::Normal, FilePriority::Skip]);
        let (leech, handle, events) = leecher(&f, common::config(), opts).await;

        // Start: nothing on disk.
        until("paused", || handle.status() == Status::Paused).await;
        wanted_figures(&handle, 0, 450_000).await;
        assert_eq!(handle.stats().bytes_have, 0);

        // Halfway: a.bin in place. Piece 4 holds b.bin's first 27,680
        // bytes, which are missing: it fails, so only pieces 0-3 count.
        let out = f.dst().join("three");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::copy(f.content.join("a.bin"), out.join("a.bin")).unwrap();
        handle.force_recheck();
        assert!(
            events
                .wait_for(LIMIT, |e| *e == Event::Checked { pieces: 4 })
                .await
        );
        wanted_figures(&handle, 4 * 65_536, 450_000).await;
        assert_eq!(handle.stats().bytes_have, 4 * 65_536);

        // Done: pieces 0-4 and 7-9; 4 and 7 count their wanted part only.
        handle.resume();
        handle.add_peers([seeder.listen_addr().unwrap()]);
        common::wait_complete(&handle, LIMIT).await;
        wanted_figures(&handle, 450_000, 450_000).await;
        let s = handle.stats();
        assert_eq!(s.pieces_have, 8, "{s:?}");
        assert_eq!(s.bytes_have, 7 * 65_536 + (650_000 - 9 * 65_536));
        assert!(!out.join("b.bin").exists());

        // b.bin wanted: at once, its bytes in pieces 4 and 7 count
        // (327,680 - 300,000 and 500,000 - 458,752).
        handle.set_file_priority(1, FilePriority::Normal).unwrap();
        let s = handle.stats();
        assert_eq!(s.wanted_bytes, 650_000, "{s:?}");
        assert_eq!(s.wanted_bytes_have, 450_000 + 27_680 + 41_248, "{s:?}");
        // The torrent downloads again (from the seeder it knows; so fast
        // that the status may be `Finished` again before a poll sees
        // `Downloading`).
        handle.add_peers([seeder.listen_addr().unwrap()]);
        wanted_figures(&handle, 650_000, 650_000).await;
        common::assert_same_tree(&f.content, &out);

        // a.bin skipped: what is left wanted is all there.
        handle.set_file_priority(0, FilePriority::Skip).unwrap();
        wanted_figures(&handle, 350_000, 350_000).await;
        common::shut_down([leech, seeder]).await;
    })
    .await;
}
