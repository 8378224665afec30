//! Seed a torrent from data on disk.
//!
//! ```text
//! cargo run --release --example seed -- --torrent FILE --data DIR [--listen ADDR] [--no-trackers]
//!     [--max-upload-rate RATE] [--max-download-rate RATE]
//! ```
//!
//! `DIR` is the folder that holds the torrent's content (for a multi-file
//! torrent, `DIR/<name>/...`). The data is verified first with every core;
//! then it seeds until interrupted (Ctrl-C), and sends `stopped` to the
//! trackers on the way out. Prints `listening on ADDR` once ready. Rates
//! are bytes per second of piece payload (`500000`, `500K`, `2M`; K and M
//! are KiB and MiB), 0 for no limit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use seedbed::metainfo::Torrent;
use seedbed::session::{AddTorrentOptions, Event, Session, SessionConfig};

#[derive(Parser, Debug)]
#[command(about = "Seed a torrent with seedbed")]
struct Args {
    /// The .torrent file.
    #[arg(long)]
    torrent: PathBuf,
    /// The folder holding the content (multi-file: DIR/<name>/...).
    #[arg(long)]
    data: PathBuf,
    /// Address to accept peer connections on.
    #[arg(long, default_value = "0.0.0.0:6881")]
    listen: SocketAddr,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    no_trackers: bool,
    /// Upload at most this many bytes per second (suffix K or M for
    /// KiB/MiB; 0: no limit).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    max_upload_rate: u64,
    /// Download at most this many bytes per second, for pieces missing
    /// from the data (suffix K or M; 0: no limit).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    max_download_rate: u64,
}

/// A rate in bytes per second: a number, optionally followed by `K` (KiB)
/// or `M` (MiB); 0 is no limit.
fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{s:?}: expected bytes per second, e.g. 500000, 500K or 2M"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let bytes =
        std::fs::read(&args.torrent).map_err(|e| format!("{}: {e}", args.torrent.display()))?;
    let torrent =
        Torrent::from_bytes(bytes).map_err(|e| format!("{}: {e}", args.torrent.display()))?;
    if !args.data.is_dir() {
        return Err(format!("{}: not a folder", args.data.display()));
    }
    let session = Session::new(SessionConfig {
        listen: Some(args.listen),
        download_rate_limit: args.max_download_rate,
        upload_rate_limit: args.max_upload_rate,
        ..SessionConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let handle = session
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(&args.data).trackers(!args.no_trackers),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut events = handle.events();
    let checked = loop {
        match events.recv().await {
            Ok(Event::Checked { pieces }) => break pieces,
            Ok(_) => {}
            Err(_) => return Err("the torrent stopped while checking".into()),
        }
    };
    let total = handle.stats().num_pieces;
    if checked < total {
        eprintln!(
            "warning: only {checked} of {total} pieces are valid in {}; seeding those",
            args.data.display()
        );
    }
    println!(
        "seeding {} ({} pieces); listening on {}",
        handle.name(),
        total,
        session.listen_addr().expect("listening")
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            loop {
                match events.recv().await {
                    Ok(Event::PeerConnected { addr }) => tracing::info!(%addr, "peer connected"),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        } => {}
    }
    let s = handle.stats();
    println!("uploaded {} bytes; stopping", s.uploaded);
    session.shutdown().await;
    Ok(())
}
