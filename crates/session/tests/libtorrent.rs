//! Our session with python3-libtorrent on loopback (issue #6): download a
//! multi-file torrent from a libtorrent seeder by direct address and
//! through opentracker, seed to a libtorrent leecher that rechecks what it
//! got, and download a hybrid (v1 + v2) torrent with pad files made by
//! libtorrent. Data is compared byte for byte.
//!
//! Without python3-libtorrent (or opentracker) the tests print `SKIPPED:
//! <tool> not installed` and return, unless `CI=true`, when they fail.

mod common;

use std::time::{Duration, Instant};

use seedbed_metainfo::TorrentVersion;
use tokio::time::timeout;

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_by_address() {
    if !common::have_libtorrent() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let file = src.path().join("t.torrent");
        let torrent = common::build_torrent(&content, TorrentVersion::V1, None, &file);
        let (_lt, addr) = common::lt_seed(&file, src.path(), 0, START_TIME).await;

        let started = Instant::now();
        let stats = common::download(&torrent, dst.path(), &[addr], false, TEST_TIME).await;
        println!("{}", common::describe("from libtorrent", started, &stats));
        common::assert_same_tree(&content, &dst.path().join("content"));
    })
    .await
    .expect("test took too long");
}

/// The libtorrent seeder announces to opentracker; our session is given no
/// address and finds the seeder through the tracker only, over HTTP or UDP.
async fn download_through_opentracker(udp: bool) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let content = common::make_content(src.path());
    // The info hash does not depend on the announce URL: make the torrent
    // once to whitelist it, then again with the tracker's URL.
    let probe = common::build_torrent(
        &content,
        TorrentVersion::V1,
        None,
        &src.path().join("probe.torrent"),
    );
    let hash = probe.info_hash();
    let (_tracker, http) = common::opentracker(&[hash]).await;
    let url = if udp {
        http.replace("http://", "udp://").replace("/announce", "")
    } else {
        http.clone()
    };
    let file = src.path().join("t.torrent");
    let torrent = common::build_torrent(&content, TorrentVersion::V1, Some(&url), &file);
    assert_eq!(torrent.info_hash(), hash);

    let (_lt, _) = common::lt_seed(&file, src.path(), 0, START_TIME).await;
    common::wait_tracker_peer(&http, hash, true, START_TIME).await;

    let started = Instant::now();
    let stats = common::download(&torrent, dst.path(), &[], true, TEST_TIME).await;
    println!(
        "{}",
        common::describe(&format!("from libtorrent via {url}"), started, &stats)
    );
    common::assert_same_tree(&content, &dst.path().join("content"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_through_opentracker_http() {
    if !common::have_libtorrent() || !common::have_opentracker() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, download_through_opentracker(false))
        .await
        .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_through_opentracker_udp() {
    if !common::have_libtorrent() || !common::have_opentracker() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, download_through_opentracker(true))
        .await
        .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let file = src.path().join("t.torrent");
        let torrent = common::build_torrent(&content, TorrentVersion::V1, None, &file);
        let (session, handle) = common::our_seeder(&torrent, src.path()).await;
        let ours = session.listen_addr().unwrap();

        let started = Instant::now();
        let (mut lt, _) = common::lt_leech(&file, dst.path(), ours, START_TIME).await;
        // libtorrent prints COMPLETE after it has every piece and a
        // recheck of all of them from disk passed.
        lt.wait_line(TEST_TIME, |l| (l == "COMPLETE").then_some(()))
            .await;
        let status = lt.wait_exit(Duration::from_secs(30)).await;
        assert!(status.success(), "libtorrent leecher: {status}");
        let stats = handle.stats();
        println!("{}", common::describe("to libtorrent", started, &stats));
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        common::assert_same_tree(&content, &dst.path().join("content"));
        session.shutdown().await;
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_hybrid_with_pad_files_made_by_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let file = src.path().join("hybrid.torrent");
        let torrent = common::lt_create(&content, &file, true, None);
        assert!(
            torrent.info_hash_v1().is_some() && torrent.info_hash_v2().is_some(),
            "libtorrent made a hybrid torrent"
        );
        let pads = torrent.info().files().iter().filter(|f| f.is_pad()).count();
        assert!(
            pads >= 2,
            "libtorrent pads files to piece boundaries: {pads}"
        );

        let (_lt, addr) = common::lt_seed(&file, src.path(), 0, START_TIME).await;
        let started = Instant::now();
        let stats = common::download(&torrent, dst.path(), &[addr], false, TEST_TIME).await;
        println!(
            "{}",
            common::describe("hybrid from libtorrent", started, &stats)
        );
        // Pad files are never written: the trees hold the same real files.
        common::assert_same_tree(&content, &dst.path().join("content"));
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_hybrid_with_pad_files_to_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let file = src.path().join("hybrid.torrent");
        let torrent = common::lt_create(&content, &file, true, None);
        let (session, handle) = common::our_seeder(&torrent, src.path()).await;
        let ours = session.listen_addr().unwrap();

        let started = Instant::now();
        let (mut lt, _) = common::lt_leech(&file, dst.path(), ours, START_TIME).await;
        lt.wait_line(TEST_TIME, |l| (l == "COMPLETE").then_some(()))
            .await;
        let status = lt.wait_exit(Duration::from_secs(30)).await;
        assert!(status.success(), "libtorrent leecher: {status}");
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("hybrid to libtorrent", started, &stats)
        );
        common::assert_same_tree(&content, &dst.path().join("content"));
        session.shutdown().await;
    })
    .await
    .expect("test took too long");
}
