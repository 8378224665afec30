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

use common::Fixture;
use seedbed_session::Stats;

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

/// Our session seeds `f`'s torrent to a libtorrent leecher, which must get
/// everything and recheck it from disk; the leecher's tree must equal the
/// content. Returns our seed's stats once the leecher is done (`what`
/// names the transfer in the log).
async fn seed_to_libtorrent_leecher(f: &Fixture, what: &str) -> Stats {
    let (session, handle) = common::our_seeder(&f.torrent, f.src()).await;
    let ours = session.listen_addr().unwrap();

    let started = Instant::now();
    let (mut lt, _) = common::lt_leech(&f.file, f.dst(), ours, START_TIME).await;
    lt.wait_lt_complete(TEST_TIME).await;
    let stats = handle.stats();
    println!("{}", common::describe(what, started, &stats));
    f.assert_downloaded();
    session.shutdown().await;
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_by_address() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
        f.download(&[addr], false, TEST_TIME, "from libtorrent")
            .await;
    })
    .await;
}

/// The libtorrent seeder announces to opentracker; our session is given no
/// address and finds the seeder through the tracker only, over HTTP or UDP.
async fn download_through_opentracker(udp: bool) {
    let (f, tracker) = common::fixture_on_opentracker(common::make_content, udp).await;
    let (_lt, _) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
    common::wait_tracker_peer(&tracker.http, f.torrent.info_hash(), true, START_TIME).await;

    let what = format!("from libtorrent via {}", tracker.announce);
    f.download(&[], true, TEST_TIME, &what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_through_opentracker_http() {
    if !common::have_libtorrent() || !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, download_through_opentracker(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_through_opentracker_udp() {
    if !common::have_libtorrent() || !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, download_through_opentracker(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let stats = seed_to_libtorrent_leecher(&f, "to libtorrent").await;
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_hybrid_with_pad_files_made_by_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::lt_hybrid();
        let torrent = &f.torrent;
        assert!(
            torrent.info_hash_v1().is_some() && torrent.info_hash_v2().is_some(),
            "libtorrent made a hybrid torrent"
        );
        let pads = torrent.info().files().iter().filter(|f| f.is_pad()).count();
        assert!(
            pads >= 2,
            "libtorrent pads files to piece boundaries: {pads}"
        );

        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
        // Pad files are never written: the trees hold the same real files.
        f.download(&[addr], false, TEST_TIME, "hybrid from libtorrent")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_hybrid_with_pad_files_to_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::lt_hybrid();
        seed_to_libtorrent_leecher(&f, "hybrid to libtorrent").await;
    })
    .await;
}
