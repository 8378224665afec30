//! Our session seeds to our session on loopback: nested folders, a file
//! smaller than a piece, an empty file; data compared byte for byte.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use seedbed_metainfo::{Torrent, TorrentBuilder, TorrentVersion};
use seedbed_session::{AddTorrentOptions, Allocation, Event, Session, SessionConfig, Status};

fn config() -> SessionConfig {
    config_on(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn config_on(listen: SocketAddr) -> SessionConfig {
    SessionConfig {
        listen: Some(listen),
        // Tests never reach past loopback.
        dht: seedbed_session::DhtConfig::disabled(),
        ..SessionConfig::default()
    }
}

fn same_tree(a: &Path, b: &Path) {
    for entry in ["a/b/big.bin", "a/small.txt", "c/empty", "top.bin"] {
        let x = std::fs::read(a.join(entry)).unwrap();
        let y = std::fs::read(b.join(entry)).unwrap_or_else(|e| panic!("{entry}: {e}"));
        assert!(x == y, "{entry} differs");
    }
}

/// A temp folder with the test content, its torrent, and a session that
/// has checked the data and seeds it.
struct Seeded {
    dir: tempfile::TempDir,
    torrent: Torrent,
    session: Session,
}

async fn seeded(version: TorrentVersion, config: SessionConfig) -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    common::make_content_with_big(dir.path(), 3_000_000);
    let created = TorrentBuilder::new(version)
        .piece_length(64 * 1024)
        .build_from_path(dir.path().join("content"), |_, _| {})
        .unwrap();
    let torrent = Torrent::from_bytes(created.into_bytes()).unwrap();
    let session = Session::new(config).await.unwrap();
    let seed = session
        .add_torrent(&torrent, AddTorrentOptions::new(dir.path()).trackers(false))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), seed.wait_for_completion())
        .await
        .expect("seeder checks its data in time")
        .unwrap();
    assert_eq!(seed.status(), Status::Seeding);
    Seeded {
        dir,
        torrent,
        session,
    }
}

async fn run(version: TorrentVersion) {
    run_on(version, config(), config()).await;
}

async fn run_on(version: TorrentVersion, seed_config: SessionConfig, leech_config: SessionConfig) {
    run_with(version, seed_config, leech_config, |o| o).await;
}

/// Our seed, then our leecher with `leech_config` and its options passed
/// through `opts`: it completes, every piece verified, files identical.
async fn run_with(
    version: TorrentVersion,
    seed_config: SessionConfig,
    leech_config: SessionConfig,
    opts: impl FnOnce(AddTorrentOptions) -> AddTorrentOptions,
) {
    let Seeded {
        dir: seed_dir,
        torrent,
        session: seeder,
    } = seeded(version, seed_config).await;
    let leech_dir = tempfile::tempdir().unwrap();

    let leecher = Session::new(leech_config).await.unwrap();
    let handle = leecher
        .add_torrent(
            &torrent,
            opts(
                AddTorrentOptions::new(leech_dir.path())
                    .trackers(false)
                    .seed(false)
                    .peers([seeder.listen_addr().unwrap()]),
            ),
        )
        .await
        .unwrap();
    let mut events = handle.events();
    tokio::time::timeout(Duration::from_secs(60), handle.wait_for_completion())
        .await
        .expect("download finishes in time")
        .unwrap();
    let stats = handle.stats();
    assert_eq!(stats.pieces_have, stats.num_pieces);
    assert_eq!(handle.status(), Status::Finished);
    let mut verified = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::PieceVerified { .. }) {
            verified += 1;
        }
    }
    assert!(verified > 0);
    same_tree(
        &seed_dir.path().join("content"),
        &leech_dir.path().join("content"),
    );

    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_download_from_our_seed() {
    run(TorrentVersion::V1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_download_from_our_seed() {
    run(TorrentVersion::Hybrid).await;
}

/// The tightest back-pressure (one hashing thread, no unverified bytes
/// allowed beyond its two-piece floor) still completes; so do sparse files
/// and an fsync at completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tight_back_pressure_sparse_files_and_fsync() {
    let leech_config = SessionConfig {
        hashing_threads: 1,
        max_unverified_bytes: 0,
        ..config()
    };
    run_with(TorrentVersion::V1, config(), leech_config, |o| {
        o.allocation(Allocation::Sparse).sync_on_completion(true)
    })
    .await;
}

/// The first `events()` call sees what happened before it was made (the
/// resume check of a seed that finished before anyone asked); a later call
/// sees only what comes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_events_receiver_sees_events_from_the_start() {
    let Seeded {
        dir,
        torrent,
        session,
    } = seeded(TorrentVersion::V1, config()).await;
    let handle = session.torrent(&torrent.info_hash()).expect("added");
    let mut first = handle.events();
    let mut later = handle.events();
    let mut seen = Vec::new();
    while let Ok(e) = first.try_recv() {
        seen.push(e);
    }
    let pieces = torrent.info().geometry().num_pieces();
    assert!(
        seen.contains(&Event::Checked { pieces }),
        "the check's result was kept for the first receiver: {seen:?}"
    );
    assert!(
        seen.contains(&Event::StatusChanged(Status::Seeding)),
        "{seen:?}"
    );
    assert!(later.try_recv().is_err(), "a later receiver starts empty");
    drop(dir);
    session.shutdown().await;
}

/// IPv6: the seeder listens on ::1 and the leecher dials it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_download_over_ipv6_loopback() {
    let v6: SocketAddr = "[::1]:0".parse().unwrap();
    if std::net::TcpListener::bind(v6).is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "IPv6 loopback unavailable"
        );
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    run_on(TorrentVersion::V1, config_on(v6), config_on(v6)).await;
}

/// Start paused: nothing moves; resume: it completes; remove: it leaves the
/// session with status `Stopped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_remove() {
    let Seeded {
        dir: seed_dir,
        torrent,
        session: seeder,
    } = seeded(TorrentVersion::V1, config()).await;
    let leech_dir = tempfile::tempdir().unwrap();

    let leecher = Session::new(config()).await.unwrap();
    let handle = leecher
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(leech_dir.path())
                .trackers(false)
                .paused(true)
                .peers([seeder.listen_addr().unwrap()]),
        )
        .await
        .unwrap();
    let wait_status = |want: Status| {
        let handle = handle.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), async {
                while handle.status() != want {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("status {want:?} not reached"));
        }
    };
    wait_status(Status::Paused).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = handle.stats();
    assert_eq!(
        (s.peers, s.downloaded, s.pieces_have),
        (0, 0, 0),
        "paused: nothing moves"
    );

    handle.resume();
    tokio::time::timeout(Duration::from_secs(60), handle.wait_for_completion())
        .await
        .expect("completes after resume")
        .unwrap();
    assert_eq!(handle.status(), Status::Seeding);
    same_tree(
        &seed_dir.path().join("content"),
        &leech_dir.path().join("content"),
    );

    handle.pause();
    wait_status(Status::Paused).await;
    handle.remove().await;
    assert_eq!(handle.status(), Status::Stopped);
    assert!(leecher.torrents().is_empty());
    assert!(leecher.torrent(&torrent.info_hash()).is_none());
    leecher.shutdown().await;
    seeder.shutdown().await;
}

/// A magnet link with our seed's address: the metadata comes over
/// ut_metadata from our own session, then the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_from_our_seed() {
    let Seeded {
        dir: seed_dir,
        torrent,
        session: seeder,
    } = seeded(TorrentVersion::Hybrid, config()).await;
    let leech_dir = tempfile::tempdir().unwrap();

    let magnet = seedbed_metainfo::Magnet::from(&torrent).with_peer(seeder.listen_addr().unwrap());
    let leecher = Session::new(config()).await.unwrap();
    let handle = leecher
        .add_magnet(
            &magnet,
            AddTorrentOptions::new(leech_dir.path()).trackers(false),
        )
        .await
        .unwrap();
    // The first events receiver sees every event from the start (the
    // metadata may already be in by now: no assert on the status here).
    let mut events = handle.events();
    tokio::time::timeout(Duration::from_secs(60), handle.wait_for_completion())
        .await
        .expect("magnet download finishes in time")
        .unwrap();
    let mut got_metadata = false;
    while let Ok(e) = events.try_recv() {
        if let Event::MetadataReceived { size } = e {
            assert_eq!(size, torrent.info().raw().len());
            got_metadata = true;
        }
    }
    assert!(got_metadata);
    assert_eq!(handle.name(), "content");
    same_tree(
        &seed_dir.path().join("content"),
        &leech_dir.path().join("content"),
    );
    leecher.shutdown().await;
    seeder.shutdown().await;
}

/// PeX (BEP 11): C knows only B; B knows the seed A; C learns A from B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pex_introduces_the_seed() {
    let Seeded {
        dir: seed_dir,
        torrent,
        session: a,
    } = seeded(TorrentVersion::V1, config()).await;
    let a_addr = a.listen_addr().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let b = Session::new(config()).await.unwrap();
    let hb = b
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(b_dir.path())
                .trackers(false)
                .peers([a_addr]),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), hb.wait_for_completion())
        .await
        .unwrap()
        .unwrap();
    let c_dir = tempfile::tempdir().unwrap();
    let c = Session::new(config()).await.unwrap();
    let hc = c
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(c_dir.path())
                .trackers(false)
                .peers([b.listen_addr().unwrap()]),
        )
        .await
        .unwrap();
    let mut events = hc.events();
    let learned = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Event::PeerConnected { addr }) = events.recv().await {
                if addr == a_addr {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        learned.is_ok(),
        "C never connected to A (learned through PeX)"
    );
    tokio::time::timeout(Duration::from_secs(60), hc.wait_for_completion())
        .await
        .unwrap()
        .unwrap();
    same_tree(
        &seed_dir.path().join("content"),
        &c_dir.path().join("content"),
    );
    for s in [c, b, a] {
        s.shutdown().await;
    }
}
