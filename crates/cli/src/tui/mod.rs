//! `seedbed tui`: a full-screen terminal UI (ratatui, crossterm) for many
//! torrents at once.
//!
//! Three parts, so that the UI never waits on the session:
//! - the [`engine`] owns the session in a tokio task, carries out
//!   [`engine::Command`]s and publishes a [`model::Snapshot`] (plain data)
//!   every tick (250 ms by default);
//! - the [`app`] is the UI state and what each key does (pure, no IO);
//! - the [`view`] draws a frame from the app and the latest snapshot.
//!
//! The [`adapter`] is the one place that knows how the session reports
//! peers, files, trackers and pieces. [`terminal`] restores the terminal
//! on every exit path, panics included.

pub mod adapter;
pub mod app;
pub mod engine;
pub mod model;
pub mod terminal;
pub mod view;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event as TermEvent};
use ratatui::Terminal;
use seedbed::session::{Session, SessionConfig};
use tokio::sync::{mpsc, watch};

use crate::{input, Error};
use app::App;
use engine::{Command, EngineOptions};
use model::Snapshot;

/// A full-screen terminal UI for many torrents at once.
///
/// A list of torrents (name, size, progress, state, rates, peers, ETA) and
/// a detail pane with tabs for peers, files, trackers and the piece map.
/// Keys: a add a .torrent path or magnet link, p pause/resume, d remove
/// (asks whether to delete the data), Tab switch pane, ←/→ tab, ↑/↓ row,
/// q quit (trackers are told `stopped`).
#[derive(Parser, Debug, Clone)]
#[command(name = "tui")]
pub struct TuiArgs {
    /// .torrent files or magnet links to add at start.
    #[arg(value_name = "TORRENT|MAGNET")]
    pub sources: Vec<String>,
    /// Where added torrents save their data (multi-file torrents in a
    /// folder named after the torrent).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output_directory: PathBuf,
    /// A peer address `ip:port` every added torrent connects to
    /// (repeatable).
    #[arg(long = "peer", value_name = "ADDR")]
    pub peer: Vec<SocketAddr>,
    /// A file of peer addresses, one `ip:port` per line, for every added
    /// torrent.
    #[arg(long, value_name = "FILE")]
    pub peers: Option<PathBuf>,
    /// Address to accept peer connections on (default: any address, a
    /// free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Most peer connections per torrent.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_peers: usize,
    /// Do not announce to the torrents' trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// The DHT (BEP 5): on unless --no-dht, through the public routers
    /// unless --dht-bootstrap.
    #[command(flatten)]
    pub dht: crate::dht::DhtFlags,
    /// Milliseconds between screen updates.
    #[arg(long, value_name = "MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(20..=10_000))]
    pub refresh: u64,
}

/// Longest wait for the session to shut down after `q`.
pub const QUIT_LIMIT: Duration = Duration::from_secs(20);

/// Runs the UI until `q` (or Ctrl-C, SIGTERM, SIGHUP), then shuts the
/// session down (trackers told `stopped`) and restores the terminal.
///
/// # Errors
/// stdout is not a terminal, a bad peers file, the session cannot listen,
/// or the terminal fails.
pub fn run(args: TuiArgs) -> Result<(), Error> {
    if !std::io::stdout().is_terminal() {
        return Err(Error::failed(
            "the terminal UI needs a terminal (stdout is not one)",
        ));
    }
    let mut peers = args.peer.clone();
    if let Some(f) = &args.peers {
        peers.extend(input::read_peers_file(f)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}")))?;
    let session = runtime.block_on(Session::new(SessionConfig {
        listen: Some(args.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))),
        max_peers: args.max_peers,
        dht: args.dht.config(),
        ..SessionConfig::default()
    }))?;
    let tick = Duration::from_millis(args.refresh);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
    let opts = EngineOptions {
        output_dir: args.output_directory.clone(),
        peers,
        trackers: !args.no_trackers,
        tick,
    };
    let engine = runtime.spawn(engine::run(session, opts, cmd_rx, snap_tx));
    for s in &args.sources {
        let _ = cmd_tx.send(Command::Add(s.clone()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    runtime.spawn(stop_on_signals(Arc::clone(&stop)));

    let mut guard = terminal::TerminalGuard::enter()
        .map_err(|e| Error::failed(format!("cannot set up the terminal: {e}")))?;
    let result = ui_loop(
        &mut guard.terminal,
        &mut App::new(),
        &cmd_tx,
        &snap_rx,
        &stop,
        || engine.is_finished(),
        tick,
    );
    drop(guard);
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.map_err(|e| Error::failed(format!("terminal: {e}")))
}

/// Sets `stop` on SIGTERM, SIGHUP or SIGINT, so the UI quits as with `q`.
async fn stop_on_signals(stop: Arc<AtomicBool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
        ];
        let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
        let any = futures_util::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv())));
        any.await;
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    stop.store(true, Ordering::SeqCst);
}

/// Draws and handles keys until the app quits and the engine is done (or
/// [`QUIT_LIMIT`] passes). Never blocks on the session: it reads the
/// latest snapshot and sends commands.
///
/// # Errors
/// The terminal's errors.
pub fn ui_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    commands: &mpsc::UnboundedSender<Command>,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    stop: &AtomicBool,
    engine_done: impl Fn() -> bool,
    tick: Duration,
) -> std::io::Result<()> {
    let mut quit_deadline = None;
    loop {
        let snap = Arc::clone(&snapshots.borrow());
        if let Some(c) = app.sync(&snap) {
            let _ = commands.send(c);
        }
        terminal.draw(|f| view::draw(f, app, &snap))?;
        if stop.load(Ordering::SeqCst) && !app.quit {
            app.quit = true;
            let _ = commands.send(Command::Quit);
        }
        if app.quit {
            let deadline = *quit_deadline.get_or_insert_with(|| Instant::now() + QUIT_LIMIT);
            if engine_done() || Instant::now() >= deadline {
                return Ok(());
            }
        }
        if event::poll(tick)? {
            if let TermEvent::Key(key) = event::read()? {
                for c in app.on_key(key, &snap) {
                    let _ = commands.send(c);
                }
            }
        }
    }
}
