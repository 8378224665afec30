//! Seed a torrent from data on disk.
//!
//! ```text
//! cargo run --release --example seed -- --torrent FILE --data DIR [--listen ADDR] [--no-trackers]
//!     [--no-resume]
//! ```
//!
//! `DIR` is the folder that holds the torrent's content (for a multi-file
//! torrent, `DIR/<name>/...`). The data is verified first with every core;
//! then it seeds until interrupted (Ctrl-C), and sends `stopped` to the
//! trackers on the way out. Prints `listening on ADDR` once ready.
//!
//! Resume data is kept in `DIR/.seedbed/<info hash>.resume`: seeding the
//! same data again trusts the files unchanged since, without reading them.
//! `--no-resume` neither reads nor saves it, and verifies everything.

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
    /// Neither read nor save resume data (`DIR/.seedbed`): verify
    /// everything on disk.
    #[arg(long)]
    no_resume: bool,
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
        resume_dir: (!args.no_resume).then(|| args.data.join(".seedbed")),
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
