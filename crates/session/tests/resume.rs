//! What a restart finds on disk: files appear only when data does, fast
//! resume trusts unchanged files without reading them, a changed file is
//! rechecked, `force_recheck` hashes everything again.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::Fixture;
use seedbed_session::{AddTorrentOptions, Session, Status};

const LIMIT: Duration = Duration::from_secs(60);

/// Every path below `dir` (folders too).
fn everything_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// An address on loopback where nobody listens.
fn dead_peer() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_finds_no_peer_leaves_nothing_behind() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let session = Session::new(common::config()).await.unwrap();
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .peers([dead_peer()]),
            )
            .await
            .unwrap();
        let mut status = handle.status();
        for _ in 0..100 {
            status = handle.status();
            if status == Status::Downloading {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, Status::Downloading);
        // Connection attempts fail for a while; pause and resume too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        handle.pause();
        handle.resume();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(handle.stats().pieces_have, 0);
        session.shutdown().await;
        assert_eq!(everything_below(f.dst()), Vec::<String>::new());
        assert_eq!(handle.disk_stats().written, 0);
    })
    .await;
}
