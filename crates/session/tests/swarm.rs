//! One download from two seeders at once, python3-libtorrent and a session
//! of ours: pieces come from both, so the picker spreads requests and the
//! endgame cancels duplicates; the data is compared byte for byte.
//! (Transmission is left out: it unchokes only after about 10 s, long after
//! the other two have sent everything.)
//!
//!
//! And a swarm of our own: one seed and eight leechers that also trade
//! among themselves; every leecher ends with the right data and the seed
//! uploads less than three times the content.
//!
//! Without python3-libtorrent the first test prints `SKIPPED:
//! python3-libtorrent not installed` and returns, unless `CI=true`, when it
//! fails.

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use seedbed_metainfo::TorrentVersion;
use seedbed_session::{AddTorrentOptions, Event, Session, SessionConfig};

const TEST_TIME: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_and_ours_at_once() {
    if !common::have_libtorrent() {
        return;
    }
    common::within(TEST_TIME, async {
        let f = Fixture::new(
            |root| {
                let content = common::make_content(root);
                std::fs::write(content.join("a/b/more.bin"), common::data(9, 5_000_000)).unwrap();
                content
            },
            "t.torrent",
            |content, file| common::build_torrent(content, TorrentVersion::V1, None, file),
        );

        let (_lt, lt_addr) = common::lt_seed(&f.file, f.src(), 0, Duration::from_secs(60)).await;
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let ours = seeder.listen_addr().unwrap();

        // TCP only, as both seeders speak it: with uTP tried first the
        // libtorrent seeder (uTP off) would be reached only after the uTP
        // attempt, and our seeder (over uTP) could finish the download
        // alone before that.
        let leecher = seedbed_session::Session::new(seedbed_session::SessionConfig {
            transports: seedbed_session::Transports::TcpOnly,
            ..common::config()
        })
        .await
        .unwrap();
        let handle = leecher
            .add_torrent(
                &f.torrent,
                seedbed_session::AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .seed(false),
            )
            .await
            .unwrap();
        let mut rx = handle.events();
        handle.add_peers([lt_addr, ours]);
        let started = Instant::now();
        common::wait_complete(&handle, TEST_TIME).await;
        let stats = handle.stats();
        println!("{}", common::describe("from two seeders", started, &stats));
        let mut connected = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let Event::PeerConnected { addr } = e {
                connected.push(addr);
            }
        }
        for a in [lt_addr, ours] {
            assert!(connected.contains(&a), "connected to {a}: {connected:?}");
        }
        assert_eq!(stats.pieces_have, stats.num_pieces);
        // Endgame duplicates are asked only of idle peers: little waste.
        assert!(
            stats.wasted * 10 <= stats.total_bytes,
            "wasted {} of {} bytes",
            stats.wasted,
            stats.total_bytes
        );
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// One seed of ours and eight leechers of ours, each leecher given the
/// seed's and the other leechers' addresses (and seeding on when done):
/// all finish with the right data, and the seed uploads less than 3x the
/// content because the leechers trade the pieces among themselves.
///
/// The seed uploads at most 4 MiB/s, as a seed on a home line: its upload
/// is what a swarm shares out. Unlimited on loopback it is as fast as the
/// leechers' hashing, and each of the four leechers it unchokes at once
/// requests its whole pipeline (500 blocks, 8 MiB) from it before the
/// others have a piece to offer: 2.6-3.2x for 8 to 32 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_and_eight_leechers_of_ours_trade_among_themselves() {
    const LEECHERS: usize = 8;
    common::serially_within(TEST_TIME, async {
        let f = Fixture::new(
            |root| common::make_content_with_big(root, 8 << 20),
            "t.torrent",
            |content, file| common::build_torrent(content, TorrentVersion::V1, None, file),
        );
        let total = f.torrent.info().geometry().total_length();
        let (seeder, seed) = common::our_seeder_with(
            SessionConfig {
                upload_rate_limit: 4 << 20,
                ..common::config()
            },
            &f.torrent,
            f.src(),
        )
        .await;
        let mut sessions = Vec::new();
        let mut outs = Vec::new();
        for _ in 0..LEECHERS {
            sessions.push(Session::new(common::config()).await.unwrap());
            outs.push(tempfile::tempdir().unwrap());
        }
        let addrs: Vec<_> = sessions.iter().map(|s| s.listen_addr().unwrap()).collect();
        let started = Instant::now();
        let mut handles = Vec::new();
        for (i, session) in sessions.iter().enumerate() {
            let others = addrs.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, a)| *a);
            let peers: Vec<_> = std::iter::once(seeder.listen_addr().unwrap()).chain(others).collect();
            let handle = session
                .add_torrent(
                    &f.torrent,
                    AddTorrentOptions::new(outs[i].path()).trackers(false).peers(peers),
                )
                .await
                .unwrap();
            handles.push(handle);
        }
        for h in &handles {
            common::wait_complete(h, TEST_TIME).await;
        }
        let elapsed = started.elapsed();
        let up = seed.stats().uploaded;
        let down: Vec<u64> = handles.iter().map(|h| h.stats().downloaded).collect();
        println!(
            "swarm of 1 + {LEECHERS}: {:.1} s, {total} bytes each; the seed uploaded {up} ({:.2}x), leechers downloaded {down:?}",
            elapsed.as_secs_f64(),
            up as f64 / total as f64
        );
        for out in &outs {
            common::assert_same_tree(&f.content, &out.path().join("content"));
        }
        assert!(up < 3 * total, "the seed uploaded {up} bytes, {total} of content");
        let from_leechers: u64 = handles.iter().map(|h| h.stats().uploaded).sum();
        assert!(from_leechers > 0, "the leechers traded nothing");
        common::shut_down(sessions).await;
        seeder.shutdown().await;
    })
    .await;
}
