//! One download from two seeders at once, python3-libtorrent and a session
//! of ours: pieces come from both, so the picker spreads requests and the
//! endgame cancels duplicates; the data is compared byte for byte.
//! (Transmission is left out: it unchokes only after about 10 s, long after
//! the other two have sent everything.)
//!
//! Without python3-libtorrent the test prints `SKIPPED: python3-libtorrent
//! not installed` and returns, unless `CI=true`, when it fails.

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use seedbed_metainfo::TorrentVersion;
use seedbed_session::Event;

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
