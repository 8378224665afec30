//! The TUI list shows a torrent's size and progress over its wanted files:
//! a complete torrent with a file then skipped is at 100 % of the smaller
//! size; wanting the file again (its data still verified) brings the full
//! size back, still at 100 %.

use std::sync::Arc;
use std::time::{Duration, Instant};

use seedbed::metainfo::{Torrent, TorrentBuilder, TorrentVersion};
use seedbed::session::{FilePriority, Session, SessionConfig};
use seedbed_cli::tui::engine::{self, Command, EngineOptions};
use seedbed_cli::tui::model::{Snapshot, TorrentRow};
use tokio::sync::{mpsc, watch};

/// Waits up to 20 s for a snapshot whose only row passes `f`.
async fn row_where(
    rx: &mut watch::Receiver<Arc<Snapshot>>,
    what: &str,
    f: impl Fn(&TorrentRow) -> bool,
) -> TorrentRow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(row) = rx.borrow().torrents.first().filter(|r| f(r)) {
            return row.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let last = rx.borrow().torrents.first().cloned();
        tokio::time::timeout(left, rx.changed())
            .await
            .unwrap_or_else(|_| panic!("no row with {what}: last {last:?}"))
            .unwrap();
    }
}

#[test]
fn the_list_counts_the_wanted_files() {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("dst/two");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("a.bin"), vec![1u8; 40_000]).unwrap();
    std::fs::write(content.join("b.bin"), vec![2u8; 30_000]).unwrap();
    let created = TorrentBuilder::new(TorrentVersion::V1)
        .piece_length(16 * 1024)
        .build_from_path(&content, |_, _| {})
        .unwrap();
    let file = dir.path().join("two.torrent");
    std::fs::write(&file, created.as_bytes()).unwrap();
    let info_hash = Torrent::from_bytes(created.into_bytes())
        .unwrap()
        .info_hash();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let session = Session::new(SessionConfig {
            listen: Some(([127, 0, 0, 1], 0).into()),
            dht: seedbed::session::DhtConfig::disabled(),
            ..SessionConfig::default()
        })
        .await
        .unwrap();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (snap_tx, mut snap_rx) = watch::channel(Arc::new(Snapshot::default()));
        let opts = EngineOptions {
            output_dir: dir.path().join("dst"),
            peers: Vec::new(),
            trackers: false,
            tick: Duration::from_millis(50),
        };
        let engine = tokio::spawn(engine::run(session.clone(), opts, cmd_rx, snap_tx));
        cmd_tx
            .send(Command::Add(file.to_str().unwrap().to_owned()))
            .unwrap();

        // Checked complete: 70,000 of 70,000.
        let row = row_where(&mut snap_rx, "70,000 bytes", |r| r.have == 70_000).await;
        assert_eq!((row.size, row.per_mille()), (70_000, 1000), "{row:?}");

        // b.bin skipped: 100 % of a.bin's 40,000 bytes.
        let handle = session.torrent(&info_hash).unwrap();
        handle.set_file_priority(1, FilePriority::Skip).unwrap();
        let row = row_where(&mut snap_rx, "40,000 wanted", |r| r.size == 40_000).await;
        assert_eq!((row.have, row.per_mille()), (40_000, 1000), "{row:?}");

        // b.bin wanted again: its pieces are still verified.
        handle.set_file_priority(1, FilePriority::Normal).unwrap();
        let row = row_where(&mut snap_rx, "70,000 wanted", |r| r.size == 70_000).await;
        assert_eq!(row.have, 70_000, "{row:?}");

        cmd_tx.send(Command::Quit).unwrap();
        tokio::time::timeout(Duration::from_secs(30), engine)
            .await
            .expect("the engine stopped")
            .unwrap();
    });
}
