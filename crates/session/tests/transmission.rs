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
use std::time::{Duration, Instant};

use common::Fixture;

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_by_address() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_tr, addr) = common::transmission_seed(&f.file, f.src(), START_TIME).await;
        f.download(&[addr], false, TEST_TIME, "from transmission")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_through_opentracker() {
    if !common::have_transmission() || !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let (f, tracker) = common::fixture_on_opentracker(common::make_content, false).await;
        let (_tr, _) = common::transmission_seed(&f.file, f.src(), START_TIME).await;
        common::wait_tracker_peer(&tracker.http, f.torrent.info_hash(), true, START_TIME).await;

        // No address given: our session learns transmission's from the
        // tracker and dials it.
        f.download(&[], true, TEST_TIME, "from transmission via opentracker")
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_transmission() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (session, handle) = common::our_seeder(&f.torrent, f.src()).await;

        let port = common::free_port();
        let started = Instant::now();
        let mut tr = common::transmission(&f.file, f.dst(), port, false);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        common::wait_listening(addr, START_TIME).await;
        // Transmission does not dial loopback peers: we dial it.
        handle.add_peers([addr]);
        // With ratio limit 0 it exits once it has verified every piece.
        common::transmission_leecher_completes(&mut tr, TEST_TIME).await;
        let stats = handle.stats();
        println!("{}", common::describe("to transmission", started, &stats));
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        // Transmission 3.00 does not create the empty file.
        f.assert_downloaded_but_empty_files();
        session.shutdown().await;
    })
    .await;
}
