//! BitTorrent v2 (BEP 52) against python3-libtorrent on loopback: download
//! a v2-only multi-file torrent made by libtorrent from a libtorrent
//! seeder, from the .torrent file and from a `btmh`-only magnet link (the
//! piece layers then come from the seeder with `hash request`); seed a
//! v2-only torrent made by our creator to a libtorrent leecher, which
//! rechecks it, from the .torrent file and from a `btmh`-only link (then
//! libtorrent asks us for the piece layers). Data is compared byte for
//! byte.
//!
//! Without python3-libtorrent the tests print `SKIPPED: python3-libtorrent
//! not installed` and return, unless `CI=true`, when they fail.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, Recorder};
use seedbed_metainfo::{Magnet, TorrentVersion};
use seedbed_session::{AddTorrentOptions, Event, Session, Status};

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

/// `make`'s content and its v2-only torrent made by libtorrent.
fn lt_v2(make: impl FnOnce(&std::path::Path) -> std::path::PathBuf) -> Fixture {
    let f = Fixture::new(make, "v2.torrent", common::lt_create_v2_only);
    let t = &f.torrent;
    assert!(
        t.info_hash_v1().is_none() && t.info_hash_v2().is_some(),
        "libtorrent made a v2-only torrent"
    );
    assert!(t.info().num_files() >= 3);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_v2_only_from_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = lt_v2(common::make_content);
        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
        let stats = f
            .download(&[addr], false, TEST_TIME, "v2-only from libtorrent")
            .await;
        assert_eq!(stats.wasted, 0, "{stats:?}");
    })
    .await;
}

/// A `btmh`-only link: the info dict comes over `ut_metadata` and must
/// have the link's SHA-256 hash; the torrent then knows only each file's
/// `pieces root`, and asks the seeder for the piece layers (BEP 52 `hash
/// request`), checking each against its root, before it picks the pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_v2_only_magnet_from_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        // Many files: an info dict of several 16 KiB metadata pieces, and
        // many files of one piece beside a big one.
        let f = lt_v2(|root| common::make_magnet_content(root, 1));
        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
        let v2 = f.torrent.info_hash_v2().unwrap();
        let magnet = Magnet::new_v2(v2).with_peer(addr);
        assert!(magnet.info_hash_v1().is_none());
        assert!(magnet.to_string().contains("xt=urn:btmh:1220"));

        let started = Instant::now();
        let session = Session::new(common::config()).await.unwrap();
        let handle = session
            .add_magnet(
                &magnet,
                AddTorrentOptions::new(f.dst()).trackers(false).seed(false),
            )
            .await
            .unwrap();
        let events = Recorder::new(&handle);
        assert_eq!(handle.info_hash(), v2.truncated());
        common::wait_complete(&handle, TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("v2-only magnet from libtorrent", started, &stats)
        );
        assert_eq!(handle.status(), Status::Finished);
        assert!(events.any(|e| *e
            == Event::MetadataReceived {
                size: f.torrent.info().raw().len()
            }));
        assert!(
            !events.any(|e| matches!(e, Event::PieceFailed { .. } | Event::HashesRejected { .. }))
        );
        f.assert_downloaded();
        session.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_v2_only_made_by_us_to_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::new(common::make_content, "v2.torrent", |content, file| {
            common::build_torrent(content, TorrentVersion::V2, None, file)
        });
        assert!(f.torrent.info_hash_v1().is_none());
        let (session, handle) = common::our_seeder(&f.torrent, f.src()).await;
        assert!(
            handle.hashing_time() > Duration::ZERO,
            "the resume check hashed the data"
        );
        let ours = session.listen_addr().unwrap();

        let started = Instant::now();
        let (mut lt, _) = common::lt_leech(&f.file, f.dst(), ours, START_TIME).await;
        lt.wait_lt_complete(TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("v2-only to libtorrent", started, &stats)
        );
        assert!(stats.uploaded >= f.torrent.info().total_size(), "{stats:?}");
        f.assert_downloaded();
        session.shutdown().await;
    })
    .await;
}

/// libtorrent starts from our `btmh`-only link: it fetches the info dict
/// from us, then asks us for every piece layer (BEP 52 `hash request`)
/// and checks our answers against the roots before it downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_fetches_our_v2_magnet() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::new(
            |root| common::make_magnet_content(root, 2),
            "v2.torrent",
            |content, file| common::build_torrent(content, TorrentVersion::V2, None, file),
        );
        let (session, handle) = common::our_seeder(&f.torrent, f.src()).await;
        let ours = session.listen_addr().unwrap();
        let magnet = Magnet::new_v2(f.torrent.info_hash_v2().unwrap()).with_peer(ours);

        let started = Instant::now();
        let uri = magnet.to_string();
        let (mut lt, _) = common::lt_leech_magnet(&uri, f.dst(), &[ours], START_TIME).await;
        lt.wait_lt_complete(TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("v2-only magnet to libtorrent", started, &stats)
        );
        f.assert_downloaded();
        session.shutdown().await;
    })
    .await;
}
