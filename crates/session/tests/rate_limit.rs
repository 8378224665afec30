//! Speed limits hold within ±10 % over a few seconds, between sessions of
//! ours on loopback: a torrent's upload limit at the seed, a session's
//! download limit at the leecher (shared by two torrents), and a
//! torrent's download limit changed at run time, then lifted.

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use seedbed_metainfo::TorrentVersion;
use seedbed_session::{AddTorrentOptions, Session, SessionConfig, Stats, TorrentHandle};

const TEST_TIME: Duration = Duration::from_secs(120);
/// The limit under test, bytes per second.
const LIMIT: u64 = 1_000_000;
/// The measuring window, after a second of warm-up.
const WINDOW: Duration = Duration::from_secs(3);

/// A fixture whose big file is `len` bytes (slow enough to measure).
fn fixture(seed: u64, len: usize) -> Fixture {
    Fixture::new(
        |root| {
            let content = common::make_content_with_big(root, len);
            std::fs::write(content.join("a/seed.txt"), seed.to_string()).unwrap();
            content
        },
        "t.torrent",
        |content, file| common::build_torrent(content, TorrentVersion::V1, None, file),
    )
}

/// The rate of `bytes` (summed over `handles`) in bytes per second over
/// `WINDOW`, measured once the transfer has run for a second.
async fn rate(handles: &[&TorrentHandle], bytes: fn(&Stats) -> u64) -> f64 {
    let total = || handles.iter().map(|h| bytes(&h.stats())).sum::<u64>();
    while total() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (t1, b1) = (Instant::now(), total());
    tokio::time::sleep(WINDOW).await;
    let (t2, b2) = (Instant::now(), total());
    (b2 - b1) as f64 / (t2 - t1).as_secs_f64()
}

fn assert_near(what: &str, measured: f64, limit: u64) {
    let ratio = measured / limit as f64;
    println!("{what}: {measured:.0} B/s against a limit of {limit} B/s ({ratio:.3})");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{what}: {measured:.0} B/s, limit {limit} B/s"
    );
}

fn downloaded(s: &Stats) -> u64 {
    s.downloaded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrents_upload_limit_holds_at_the_seed() {
    common::serially_within(TEST_TIME, async {
        let f = fixture(1, 8_000_000);
        let seeder = Session::new(common::config()).await.unwrap();
        let seed = seeder
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.src())
                    .trackers(false)
                    .upload_limit(LIMIT),
            )
            .await
            .unwrap();
        common::wait_complete(&seed, Duration::from_secs(30)).await;
        assert_eq!(seed.upload_limit(), LIMIT);
        let addr = seeder.listen_addr().unwrap();
        let (leecher, leech) = common::our_leecher(&f.torrent, f.dst(), &[addr], false).await;
        let r = rate(&[&leech], downloaded).await;
        assert_near("upload limit of the seed's torrent", r, LIMIT);
        // Lifted: the rest comes at once.
        seed.set_upload_limit(0);
        common::wait_complete(&leech, Duration::from_secs(30)).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_download_limit_holds_for_two_torrents_together() {
    common::serially_within(TEST_TIME, async {
        let (f1, f2) = (fixture(2, 5_000_000), fixture(3, 5_000_000));
        let seeder = Session::new(common::config()).await.unwrap();
        for f in [&f1, &f2] {
            let h = seeder
                .add_torrent(&f.torrent, AddTorrentOptions::new(f.src()).trackers(false))
                .await
                .unwrap();
            common::wait_complete(&h, Duration::from_secs(30)).await;
        }
        let addr = seeder.listen_addr().unwrap();
        let leecher = Session::new(SessionConfig {
            download_rate_limit: LIMIT,
            ..common::config()
        })
        .await
        .unwrap();
        assert_eq!(leecher.download_limit(), LIMIT);
        let mut handles = Vec::new();
        for f in [&f1, &f2] {
            handles.push(
                leecher
                    .add_torrent(
                        &f.torrent,
                        AddTorrentOptions::new(f.dst())
                            .trackers(false)
                            .seed(false)
                            .peers([addr]),
                    )
                    .await
                    .unwrap(),
            );
        }
        let r = rate(&[&handles[0], &handles[1]], downloaded).await;
        assert_near("session download limit, two torrents", r, LIMIT);
        // Both got a share.
        for h in &handles {
            assert!(h.stats().downloaded > LIMIT / 2, "{:?}", h.stats());
        }
        leecher.set_download_limit(0);
        for h in &handles {
            common::wait_complete(h, Duration::from_secs(30)).await;
        }
        f1.assert_downloaded();
        f2.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrents_download_limit_changes_at_run_time() {
    common::serially_within(TEST_TIME, async {
        let f = fixture(4, 14_000_000);
        let (seeder, _seed) = common::our_seeder(&f.torrent, f.src()).await;
        let addr = seeder.listen_addr().unwrap();
        let leecher = Session::new(common::config()).await.unwrap();
        let leech = leecher
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .seed(false)
                    .download_limit(LIMIT)
                    .peers([addr]),
            )
            .await
            .unwrap();
        let r = rate(&[&leech], downloaded).await;
        assert_near("torrent download limit", r, LIMIT);
        leech.set_download_limit(2 * LIMIT);
        assert_eq!(leech.download_limit(), 2 * LIMIT);
        let r = rate(&[&leech], downloaded).await;
        assert_near("torrent download limit, raised", r, 2 * LIMIT);
        leech.set_download_limit(0);
        common::wait_complete(&leech, Duration::from_secs(30)).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}
