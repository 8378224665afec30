//! `seedbed tui` with 100 torrents: the engine keeps publishing snapshots
//! on its tick while they are added and checked, a frame of the list is
//! drawn from a snapshot quickly, and keys reach the 100th row. Prints the
//! measured figures; the bounds asserted are loose (a debug build on a
//! shared 2-core machine): they catch a UI that waits on the session, not
//! a slow one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use seedbed::metainfo::{TorrentBuilder, TorrentVersion};
use seedbed::session::{Session, SessionConfig};
use seedbed_cli::tui::app::App;
use seedbed_cli::tui::engine::{self, Command, EngineOptions};
use seedbed_cli::tui::model::Snapshot;
use seedbed_cli::tui::view;
use tokio::sync::{mpsc, watch};

const TORRENTS: usize = 100;

#[test]
fn a_hundred_torrents_stay_responsive() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    for i in 0..TORRENTS {
        let data = src.join(format!("file-{i:03}.bin"));
        std::fs::write(&data, vec![i as u8; 64 * 1024 + i]).unwrap();
        let t = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(16 * 1024)
            .build_from_path(&data, |_, _| {})
            .unwrap();
        std::fs::write(src.join(format!("t-{i:03}.torrent")), t.as_bytes()).unwrap();
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let session = rt
        .block_on(Session::new(SessionConfig {
            listen: Some(([127, 0, 0, 1], 0).into()),
            // Tests never reach past loopback.
            dht: seedbed::session::DhtConfig::disabled(),
            ..SessionConfig::default()
        }))
        .unwrap();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (snap_tx, mut snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let opts = EngineOptions {
        output_dir: dst.clone(),
        peers: Vec::new(),
        trackers: false,
        tick: Duration::from_millis(100),
    };
    let engine = rt.spawn(engine::run(session, opts, cmd_rx, snap_tx));

    // Add them all at once, as a user pasting 100 paths would, and time
    // the gaps between snapshots meanwhile.
    let started = Instant::now();
    for i in 0..TORRENTS {
        let path = src.join(format!("t-{i:03}.torrent"));
        cmd_tx
            .send(Command::Add(path.to_str().unwrap().to_owned()))
            .unwrap();
    }
    let mut gaps = Vec::new();
    let snap = rt.block_on(async {
        let mut last = Instant::now();
        loop {
            tokio::time::timeout(Duration::from_secs(10), snap_rx.changed())
                .await
                .expect("the engine stopped publishing snapshots")
                .unwrap();
            gaps.push(last.elapsed());
            last = Instant::now();
            let snap = Arc::clone(&snap_rx.borrow());
            if snap.torrents.len() == TORRENTS {
                break snap;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "only {} torrents after 60 s",
                snap.torrents.len()
            );
        }
    });
    let added_in = started.elapsed();
    let max_gap = gaps.iter().max().copied().unwrap_or_default();

    // Frames drawn from that snapshot while moving through the list.
    let mut app = App::new();
    app.sync(&snap);
    let mut terminal = Terminal::new(TestBackend::new(160, 50)).unwrap();
    let frames = 60;
    let t0 = Instant::now();
    for i in 0..frames {
        let code = if i == frames - 1 {
            KeyCode::End
        } else if i % 2 == 0 {
            KeyCode::Down
        } else {
            KeyCode::PageDown
        };
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE), &snap);
        terminal.draw(|f| view::draw(f, &app, &snap)).unwrap();
    }
    let per_frame = t0.elapsed() / frames;
    let buf = terminal.backend().buffer().clone();
    let text: String = buf.content().iter().map(|c| c.symbol()).collect();
    let last_name = snap.torrents[TORRENTS - 1].name.clone();
    assert!(
        text.contains(&last_name),
        "End shows the last torrent {last_name}"
    );
    assert!(text.contains("Torrents (100)"));

    // The snapshot itself: how long the engine takes to make one, seen as
    // the tick gaps once all are added.
    let steady: Vec<Duration> = rt.block_on(async {
        let mut v = Vec::new();
        let mut last = Instant::now();
        for _ in 0..10 {
            snap_rx.changed().await.unwrap();
            v.push(last.elapsed());
            last = Instant::now();
        }
        v
    });
    let steady_max = steady.iter().max().copied().unwrap_or_default();

    cmd_tx.send(Command::Quit).unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), engine)
            .await
            .expect("shutdown took too long")
            .unwrap();
    });
    println!(
        "{TORRENTS} torrents: added in {added_in:?}; snapshot gaps while adding: max {max_gap:?} \
         (tick 100 ms); after: max {steady_max:?}; a 160x50 frame: {per_frame:?}"
    );
    assert!(
        max_gap < Duration::from_secs(2),
        "a snapshot gap of {max_gap:?}"
    );
    assert!(
        steady_max < Duration::from_secs(1),
        "a snapshot gap of {steady_max:?}"
    );
    assert!(
        per_frame < Duration::from_millis(200),
        "{per_frame:?} a frame"
    );
}
