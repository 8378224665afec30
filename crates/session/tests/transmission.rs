//! Our session with transmission (`transmission-cli`) on loopback (issue
//! #6): download a multi-file torrent from a transmission seeder by direct
//! address and through opentracker, and seed to a transmission leecher.
//! Data is compared byte for byte.
//!
//! Transmission never dials 127.x peers, so our session always dials it:
//! by the address we give, or by the one opentracker returns. It waits
//! about 10 s before it asks for data: the times here are generous.
//!
//! Without transmission-cli (or opentracker) the tests print `SKIPPED:
//! <tool> not installed` and return, unless `CI=true`, when they fail.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use seedbed_metainfo::TorrentVersion;
use tokio::time::timeout;

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

/// Starts a transmission seeder of `file` with its data in `dir` and waits
/// until it has verified the data and seeds.
async fn transmission_seeder(file: &Path, dir: &Path) -> (common::ChildGuard, SocketAddr) {
    let port = common::free_port();
    let mut tr = common::transmission(file, dir, port, true);
    tr.wait_line(START_TIME, |l| l.starts_with("Seeding").then_some(()))
        .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    common::wait_listening(addr, START_TIME).await;
    (tr, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_by_address() {
    if !common::have_transmission() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let file = src.path().join("t.torrent");
        let torrent = common::build_torrent(&content, TorrentVersion::V1, None, &file);
        let (_tr, addr) = transmission_seeder(&file, src.path()).await;

        let started = Instant::now();
        let stats = common::download(&torrent, dst.path(), &[addr], false, TEST_TIME).await;
        println!("{}", common::describe("from transmission", started, &stats));
        common::assert_same_tree(&content, &dst.path().join("content"));
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_through_opentracker() {
    if !common::have_transmission() || !common::have_opentracker() {
        return;
    }
    let _serial = common::serial().await;
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = common::make_content(src.path());
        let probe = common::build_torrent(
            &content,
            TorrentVersion::V1,
            None,
            &src.path().join("probe.torrent"),
        );
        let hash = probe.info_hash();
        let (_tracker, url) = common::opentracker(&[hash]).await;
        let file = src.path().join("t.torrent");
        let torrent = common::build_torrent(&content, TorrentVersion::V1, Some(&url), &file);
        assert_eq!(torrent.info_hash(), hash);

        let (_tr, _) = transmission_seeder(&file, src.path()).await;
        common::wait_tracker_peer(&url, hash, true, START_TIME).await;

        // No address given: our session learns transmission's from the
        // tracker and dials it.
        let started = Instant::now();
        let stats = common::download(&torrent, dst.path(), &[], true, TEST_TIME).await;
        println!(
            "{}",
            common::describe("from transmission via opentracker", started, &stats)
        );
        common::assert_same_tree(&content, &dst.path().join("content"));
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_transmission() {
    if !common::have_transmission() {
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

        let port = common::free_port();
        let started = Instant::now();
        let mut tr = common::transmission(&file, dst.path(), port, false);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        common::wait_listening(addr, START_TIME).await;
        // Transmission does not dial loopback peers: we dial it.
        handle.add_peers([addr]);
        // With ratio limit 0 it exits once it has verified every piece.
        let status = tr.wait_exit(TEST_TIME).await;
        assert!(
            status.success(),
            "transmission leecher: {status}\n{}",
            tr.tail()
        );
        // It checks every piece as it arrives; "Complete" means all passed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            tr.stderr_lines()
                .iter()
                .any(|l| l.contains(r#"State changed from "Incomplete" to "Complete""#)),
            "transmission did not report the torrent complete\n{}",
            tr.tail()
        );
        let stats = handle.stats();
        println!("{}", common::describe("to transmission", started, &stats));
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        // Transmission 3.00 does not create the empty file.
        common::assert_same_tree_but_empty_files(&content, &dst.path().join("content"));
        session.shutdown().await;
    })
    .await
    .expect("test took too long");
}
