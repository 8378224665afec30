//! What a program can show (`TorrentHandle::peers`, `file_progress`,
//! `piece_map`, `trackers`), checked against what really happened in
//! loopback downloads: between two sessions of ours through opentracker
//! (with a dead tracker in the first tier), from python3-libtorrent, and on
//! partial data found on disk.
//!
//! Without opentracker or python3-libtorrent the tests that need them
//! print `SKIPPED: ...` and return, unless `CI=true`, when they fail.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Fixture, PIECE};
use seedbed_metainfo::{TorrentBuilder, TorrentVersion};
use seedbed_session::{
    AddTorrentOptions, PieceState, Session, SessionConfig, Status, TorrentHandle, TrackerStatus,
    Transport,
};

const TEST_TIME: Duration = Duration::from_secs(120);

/// Waits (polling) up to `limit` for `f` to hold.
async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_complete_files(handle: &TorrentHandle) {
    let files = handle.file_progress();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        assert_eq!(f.verified, f.size, "{}", f.path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_files_pieces_and_trackers_of_a_download_between_our_sessions() {
    if !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        // The torrent's first tier is a tracker nobody answers; the second
        // is opentracker.
        let f = Fixture::v1();
        let (_tracker, good) = common::opentracker(&[f.torrent.info_hash()]).await;
        let dead = format!("http://127.0.0.1:{}/announce", common::free_port());
        let file = f.src().join("tiers.torrent");
        let created = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(PIECE)
            .tracker(dead.clone())
            .tracker(good.clone())
            .build_from_path(&f.content, |_, _| {})
            .unwrap();
        std::fs::write(&file, created.as_bytes()).unwrap();
        let torrent = seedbed_metainfo::Torrent::from_bytes(created.into_bytes()).unwrap();
        assert_eq!(torrent.info_hash(), f.torrent.info_hash());

        let config = || SessionConfig {
            tracker_timeout: Duration::from_secs(3),
            ..common::config()
        };
        let seeder = Session::new(config()).await.unwrap();
        let seed = seeder
            .add_torrent(&torrent, AddTorrentOptions::new(f.src()))
            .await
            .unwrap();
        common::wait_complete(&seed, Duration::from_secs(30)).await;
        assert_complete_files(&seed);
        common::wait_tracker_peer(&good, torrent.info_hash(), true, Duration::from_secs(20)).await;

        let leecher = Session::new(config()).await.unwrap();
        let leech = leecher
            .add_torrent(&torrent, AddTorrentOptions::new(f.dst()))
            .await
            .unwrap();
        common::wait_complete(&leech, Duration::from_secs(60)).await;
        f.assert_downloaded();
        let stats = leech.stats();

        // Trackers, as both sides see them, once the `completed` announce
        // is answered.
        let settled = |h: &TorrentHandle, seeders: u32| {
            let t = h.trackers();
            matches!(t[0].status, TrackerStatus::Error(_))
                && t[1].status == TrackerStatus::Working
                && t[1].seeders >= Some(seeders)
        };
        until(Duration::from_secs(10), "the completed announce", || {
            settled(&seed, 1) && settled(&leech, 2)
        })
        .await;
        for (who, h) in [("seeder", &seed), ("leecher", &leech)] {
            let t = h.trackers();
            assert_eq!(t.len(), 2, "{who}: {t:?}");
            assert_eq!((t[0].url.as_str(), t[0].tier), (dead.as_str(), 0), "{who}");
            assert_eq!((t[1].url.as_str(), t[1].tier), (good.as_str(), 1), "{who}");
            assert!(
                matches!(&t[0].status, TrackerStatus::Error(msg) if !msg.is_empty()),
                "{who}: {:?}",
                t[0].status
            );
            assert_eq!(t[1].status, TrackerStatus::Working, "{who}");
            assert!(t[1].seeders >= Some(1), "{who}: {:?}", t[1]);
            for x in &t {
                assert!(
                    x.last_announce.is_some_and(|a| a <= Instant::now()),
                    "{who}: {x:?}"
                );
                assert!(
                    x.next_announce.is_some_and(|n| n > Instant::now()),
                    "{who}: {x:?}"
                );
            }
        }
        // The leecher learnt the seeder from the tracker.
        assert!(leech.trackers()[1].peers >= 1, "{:?}", leech.trackers());

        // Files and pieces: all verified; one peer has each piece.
        assert_complete_files(&leech);
        let map = leech.piece_map();
        assert_eq!(map.len(), stats.num_pieces as usize);
        assert_eq!(map.count(PieceState::Have), map.len());
        assert!(
            map.availability.iter().all(|a| *a == 1),
            "{:?}",
            map.availability
        );
        assert_eq!(map.min_missing_availability(), None);

        // Peers: the leecher dialled the seeder; both run seedbed. The peer
        // tasks apply the last `have` just after completion.
        let seeder_addr = seeder.listen_addr().unwrap();
        until(
            Duration::from_secs(5),
            "not interested after completion",
            || {
                leech.peers().iter().all(|p| !p.am_interested)
                    && seed.peers().iter().all(|p| !p.peer_interested)
            },
        )
        .await;
        let ours = leech.peers();
        assert_eq!(ours.len(), 1, "{ours:?}");
        let p = &ours[0];
        assert_eq!(p.addr, seeder_addr);
        assert_eq!(p.peer_id, seeder.peer_id());
        assert_eq!(p.client, "seedbed 0.1.0");
        // Dialled over uTP first, the default (Transports::Both).
        assert_eq!(p.transport, Transport::Utp);
        assert!(!p.encrypted);
        assert!(p.outgoing);
        let theirs = seed.peers();
        assert_eq!(theirs.len(), 1, "{theirs:?}");
        assert_eq!(theirs[0].transport, Transport::Utp);
        assert!(!theirs[0].outgoing);
        assert_eq!(p.progress, 1.0);
        assert!(!p.peer_choking, "the seeder unchoked us");
        assert!(!p.am_interested, "nothing left to want");
        assert!(!p.snubbed);
        assert_eq!(p.requests_out, 0);
        assert_eq!(p.downloaded, stats.downloaded);
        assert_eq!(p.downloaded, stats.total_bytes, "one seeder: no duplicate");
        assert_eq!(p.uploaded, 0);

        let theirs = seed.peers();
        assert_eq!(theirs.len(), 1, "{theirs:?}");
        let q = &theirs[0];
        assert_eq!(q.addr.ip(), seeder_addr.ip());
        assert_eq!(q.peer_id, leecher.peer_id());
        assert!(!q.outgoing);
        assert!(!q.am_choking, "the leecher was unchoked");
        assert!(!q.peer_interested, "the leecher has everything");
        assert_eq!(q.uploaded, stats.total_bytes);
        assert_eq!(q.downloaded, 0);
        until(Duration::from_secs(5), "the leecher's haves", || {
            seed.peers()[0].progress == 1.0
        })
        .await;

        // Rates: the once-a-second average saw the transfer, and the peer's
        // agrees with the torrent's (one peer carried everything).
        until(Duration::from_secs(3), "a rate update", || {
            leech.peers()[0].download_rate > 0.0 && seed.peers()[0].upload_rate > 0.0
        })
        .await;
        let (p, s) = (&leech.peers()[0], leech.stats());
        assert!(
            (p.download_rate - s.download_rate).abs() <= 0.05 * s.download_rate + 1.0,
            "peer {} vs torrent {}",
            p.download_rate,
            s.download_rate
        );
        let (q, s) = (&seed.peers()[0], seed.stats());
        assert!(
            (q.upload_rate - s.upload_rate).abs() <= 0.05 * s.upload_rate + 1.0,
            "peer {} vs torrent {}",
            q.upload_rate,
            s.upload_rate
        );
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// Data found on disk: every piece that lies wholly in the files present
/// is verified, the rest missing, and each file counts the bytes of its
/// verified pieces. No peer is connected, so no piece is available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_progress_and_piece_map_of_partial_data_on_disk() {
    common::within(TEST_TIME, async {
        let f = Fixture::v1();
        // The destination holds everything but top.bin.
        let copy = f.dst().join("content");
        for (rel, path) in common::files_below(&f.content) {
            if rel.ends_with("top.bin") {
                continue;
            }
            let to = copy.join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(path, to).unwrap();
        }
        let session = Session::new(SessionConfig {
            listen: None,
            ..common::config()
        })
        .await
        .unwrap();
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst()).trackers(false).seed(false),
            )
            .await
            .unwrap();
        until(Duration::from_secs(30), "the check", || {
            handle.status() == Status::Downloading
        })
        .await;

        // big.bin is 2,500,000 bytes: pieces 0..38 hold only it; piece 38
        // holds its end, small.txt and the start of top.bin.
        let full = 2_500_000 / u64::from(PIECE);
        let files = handle.file_progress();
        let by_name = |n: &str| {
            files
                .iter()
                .find(|x| x.path.ends_with(n))
                .unwrap_or_else(|| panic!("{n} in {files:?}"))
        };
        let names: Vec<String> = files.iter().map(|x| x.path.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "content/a/b/big.bin",
                "content/a/small.txt",
                "content/c/empty",
                "content/top.bin"
            ]
            .map(|s| std::path::Path::new(s).display().to_string())
        );
        assert_eq!(
            files.iter().map(|x| x.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let big = by_name("big.bin");
        assert_eq!(
            (big.size, big.verified),
            (2_500_000, full * u64::from(PIECE))
        );
        assert_eq!(by_name("small.txt").verified, 0);
        assert_eq!(by_name("empty").size, 0);
        let top = by_name("top.bin");
        assert_eq!((top.size, top.verified), (777_777, 0));

        let map = handle.piece_map();
        for (i, s) in map.states.iter().enumerate() {
            let want = if (i as u64) < full {
                PieceState::Have
            } else {
                PieceState::Missing
            };
            assert_eq!(*s, want, "piece {i}");
        }
        assert!(map.availability.iter().all(|a| *a == 0));
        assert_eq!(map.min_missing_availability(), Some(0));
        assert_eq!(handle.stats().pieces_have as u64, full);
        assert!(handle.peers().is_empty());
        assert!(handle.trackers().is_empty(), "the torrent has no tracker");
        session.shutdown().await;
    })
    .await;
}

/// A python3-libtorrent seeder is named from its peer id (`-LT2080-` for
/// 2.0.8), and its numbers match the download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_libtorrent_peer_is_named_and_counted() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_lt, lt_addr): (_, SocketAddr) =
            common::lt_seed(&f.file, f.src(), 0, Duration::from_secs(60)).await;
        let session = Session::new(common::config()).await.unwrap();
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .peers([lt_addr]),
            )
            .await
            .unwrap();
        // libtorrent drops connections between seeds: look while it is
        // connected.
        let mut seen = Vec::new();
        let done = handle.wait_for_completion();
        tokio::pin!(done);
        loop {
            let peers = handle.peers();
            if !peers.is_empty() {
                seen = peers;
            }
            tokio::select! {
                r = &mut done => break r.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
        f.assert_downloaded();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let p = &seen[0];
        assert_eq!(p.addr, lt_addr);
        assert!(p.client.starts_with("libtorrent 2."), "{}", p.client);
        assert!(p.outgoing);
        assert_eq!(p.transport, Transport::Tcp);
        assert_eq!(p.progress, 1.0, "it has all pieces");
        assert!(p.downloaded <= handle.stats().downloaded);
        assert_complete_files(&handle);
        session.shutdown().await;
    })
    .await;
}

/// A magnet link's trackers show while its metadata is fetched (no peer
/// answers here, and the tracker refuses the connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_of_a_magnet_link_show_while_fetching_metadata() {
    common::within(TEST_TIME, async {
        let dead = format!("http://127.0.0.1:{}/announce", common::free_port());
        let uri = format!(
            "magnet:?xt=urn:btih:{}&dn=x&tr={}",
            "ab".repeat(20),
            dead.replace(':', "%3A").replace('/', "%2F")
        );
        let magnet: seedbed_metainfo::Magnet = uri.parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let session = Session::new(common::config()).await.unwrap();
        let handle = session
            .add_magnet(&magnet, AddTorrentOptions::new(dir.path()))
            .await
            .unwrap();
        let t = handle.trackers();
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!((t[0].url.as_str(), t[0].tier), (dead.as_str(), 0));
        until(Duration::from_secs(10), "the failed announce", || {
            let t = &handle.trackers()[0];
            matches!(t.status, TrackerStatus::Error(_)) && t.next_announce.is_some()
        })
        .await;
        let t = &handle.trackers()[0];
        assert!(t.last_announce.is_some(), "{t:?}");
        assert_eq!(handle.status(), Status::FetchingMetadata);
        assert!(handle.peers().is_empty() && handle.file_progress().is_empty());
        assert!(handle.piece_map().is_empty());
        session.shutdown().await;
    })
    .await;
}
