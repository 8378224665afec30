//! Download a torrent (PyBitTorrent's `Client.py`, as a seedbed program).
//!
//! ```text
//! cargo run --release --example download -- (--torrent FILE | --magnet URI) [--output-directory DIR]
//!     [--peers FILE] [--peer ADDR]... [--max-peers N] [--use-progress-bar]
//!     [--no-trackers] [--seed] [--listen ADDR] [--peer-timeout SECS] [--fsync] [--sparse]
//! ```
//!
//! Shows a progress bar when asked or when stdout is a terminal, log lines
//! otherwise. Exits 0 only when every piece is verified on disk; 1 with a
//! clear error on bad input or when no peer can be reached within
//! `--peer-timeout` seconds. Files are preallocated unless `--sparse`; with
//! `--fsync` they are flushed to the disk before completion is reported.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use seedbed::metainfo::{Magnet, Torrent};
use seedbed::session::{AddTorrentOptions, Allocation, Session, SessionConfig, Status};

#[derive(Parser, Debug)]
#[command(about = "Download a torrent with seedbed")]
struct Args {
    /// The .torrent file.
    #[arg(long, required_unless_present = "magnet", conflicts_with = "magnet")]
    torrent: Option<PathBuf>,
    /// A magnet link (BEP 9) instead of a .torrent file: the info
    /// dictionary is fetched from the link's `x.pe` peers, its `tr`
    /// trackers and the `--peer`/`--peers` addresses.
    #[arg(long)]
    magnet: Option<String>,
    /// Where files are written (multi-file torrents in a folder named after
    /// the torrent).
    #[arg(long, default_value = ".")]
    output_directory: PathBuf,
    /// A file of peer addresses, one `ip:port` per line.
    #[arg(long)]
    peers: Option<PathBuf>,
    /// A peer address `ip:port` (repeatable).
    #[arg(long = "peer")]
    peer: Vec<SocketAddr>,
    /// Most peer connections.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Show a progress bar even when stdout is not a terminal.
    #[arg(long)]
    use_progress_bar: bool,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    no_trackers: bool,
    /// Keep seeding after the download completes, until interrupted.
    #[arg(long)]
    seed: bool,
    /// Address to accept peer connections on (default: any address, a free
    /// port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Give up when no peer connects and no data arrives within this many
    /// seconds.
    #[arg(long, default_value_t = 60)]
    peer_timeout: u64,
    /// Flush the files to the disk (fsync) before reporting completion.
    #[arg(long)]
    fsync: bool,
    /// Create sparse files instead of reserving their disk space up front.
    #[arg(long)]
    sparse: bool,
}

fn read_peers_file(path: &PathBuf) -> Result<Vec<SocketAddr>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.parse()
                .map_err(|e| format!("{}: bad address {l:?}: {e}", path.display()))
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let progress = args.use_progress_bar || std::io::stdout().is_terminal();
    if !progress {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    match run(args, progress).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, progress: bool) -> Result<(), String> {
    let mut peers = args.peer.clone();
    if let Some(f) = &args.peers {
        peers.extend(read_peers_file(f)?);
    }
    let config = SessionConfig {
        listen: Some(args.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))),
        max_peers: args.max_peers,
        ..SessionConfig::default()
    };
    let session = Session::new(config).await.map_err(|e| e.to_string())?;
    let opts = AddTorrentOptions::new(&args.output_directory)
        .peers(peers)
        .trackers(!args.no_trackers)
        .max_peers(args.max_peers)
        .seed(args.seed)
        .sync_on_completion(args.fsync)
        .allocation(if args.sparse {
            Allocation::Sparse
        } else {
            Allocation::Preallocate
        });
    let handle = match (&args.torrent, &args.magnet) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let torrent =
                Torrent::from_bytes(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            session.add_torrent(&torrent, opts).await
        }
        (None, Some(uri)) => {
            let magnet: Magnet = uri.parse().map_err(|e| format!("magnet link: {e}"))?;
            session.add_magnet(&magnet, opts).await
        }
        (None, None) => return Err("give --torrent FILE or --magnet URI".into()),
    }
    .map_err(|e| e.to_string())?;
    tracing::info!(name = handle.name(), info_hash = %handle.info_hash(), "added");

    let total = handle.stats().total_bytes;
    let bar = progress.then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let started = Instant::now();
    let deadline = Duration::from_secs(args.peer_timeout);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_log = Instant::now();
    let done = handle.wait_for_completion();
    tokio::pin!(done);
    let result = loop {
        tokio::select! {
            r = &mut done => break r.map_err(|e| e.to_string()),
            _ = tick.tick() => {
                let s = handle.stats();
                if let Some(bar) = &bar {
                    bar.set_length(s.total_bytes);
                    bar.set_position(s.bytes_have);
                    bar.set_message(format!("{} peers", s.peers));
                } else if last_log.elapsed() >= Duration::from_secs(2) {
                    last_log = Instant::now();
                    tracing::info!(
                        "{:?}: {}/{} pieces, {:.1} MiB/s, {} peers",
                        s.status, s.pieces_have, s.num_pieces, s.download_rate / 1048576.0, s.peers
                    );
                }
                if s.status == Status::Downloading && s.peers == 0 && s.downloaded == 0
                    && started.elapsed() > deadline
                {
                    break Err(format!("no peer reachable within {} s", args.peer_timeout));
                }
                if s.status == Status::FetchingMetadata && started.elapsed() > deadline {
                    break Err(format!("no peer sent the metadata within {} s", args.peer_timeout));
                }
                if let Status::Failed(msg) = s.status {
                    break Err(msg);
                }
            }
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Err(e) = result {
        session.shutdown().await;
        return Err(e);
    }
    let s = handle.stats();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "complete: {} ({} bytes, {} pieces) in {:.1} s, {:.1} MiB/s, hashing {:.2} s",
        handle.name(),
        s.total_bytes,
        s.num_pieces,
        secs,
        s.downloaded as f64 / 1048576.0 / secs.max(1e-3),
        handle.hashing_time().as_secs_f64()
    );
    if args.seed {
        println!("seeding; press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
    }
    session.shutdown().await;
    Ok(())
}
