//! Download a torrent (PyBitTorrent's `Client.py`, as a seedbed program;
//! `seedbed download`).
//!
//! ```text
//! cargo run --release --example download -- (--torrent FILE | --magnet URI) [--output-directory DIR]
//!     [--peers FILE] [--peer ADDR]... [--max-peers N] [--use-progress-bar]
//!     [--no-trackers] [--seed] [--listen ADDR] [--peer-timeout SECS] [--fsync] [--sparse]
//!     [--encryption disabled|enabled|forced] [--encryption-level plaintext|rc4|both]
//!     [--no-dht | --dht-bootstrap ADDR... [--dht-state FILE]] [--json]
//! ```
//!
//! Peers come from the trackers, the DHT (BEP 5; `--no-dht` turns it off,
//! `--dht-bootstrap` joins through other nodes than the public routers),
//! PeX and the peers given.
//!
//! Shows a progress bar when asked or when stdout is a terminal, log lines
//! otherwise. Exits 0 only when every piece is verified on disk; 1 with a
//! clear error on bad input or when no peer can be reached within
//! `--peer-timeout` seconds. Files are preallocated unless `--sparse`; with
//! `--fsync` they are flushed to the disk before completion is reported.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use seedbed::session::{AddTorrentOptions, Allocation, Session, SessionConfig};
use seedbed_cli::download::{give_up, render_summary, DownloadArgs, Progress};
use seedbed_cli::{input, Error};

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(DownloadArgs::parse()).await)
}

pub(crate) async fn run(args: DownloadArgs) -> Result<(), Error> {
    let mut peers = args.peer.clone();
    if let Some(f) = &args.peers {
        peers.extend(input::read_peers_file(f)?);
    }
    let config = SessionConfig {
        listen: Some(args.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))),
        max_peers: args.max_peers,
        encryption: args.encryption(),
        dht: args.dht.config(),
        ..SessionConfig::default()
    };
    let session = Session::new(config).await?;
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
            session
                .add_torrent(&input::read_torrent(path)?, opts)
                .await?
        }
        (None, Some(uri)) => session.add_magnet(&input::parse_magnet(uri)?, opts).await?,
        (None, None) => return Err(Error::failed("give --torrent FILE or --magnet URI")),
    };

    let mut progress = Progress::new(args.progress_bar(), handle.stats().total_bytes);
    tracing::info!(name = handle.name(), info_hash = %handle.info_hash(), "added");
    let started = Instant::now();
    let limit = Duration::from_secs(args.peer_timeout);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let done = handle.wait_for_completion();
    tokio::pin!(done);
    let result = loop {
        tokio::select! {
            r = &mut done => break r.map_err(Error::from),
            _ = tick.tick() => {
                let s = handle.stats();
                progress.update(&s);
                if let Some(why) = give_up(&s, started.elapsed(), limit) {
                    break Err(Error::Failed(why));
                }
            }
        }
    };
    progress.finish();
    if let Err(e) = result {
        session.shutdown().await;
        return Err(e);
    }
    let s = handle.stats();
    let info_hash = handle.info_hash().to_string();
    print!(
        "{}",
        render_summary(
            &handle.name(),
            &info_hash,
            &s,
            started.elapsed(),
            handle.hashing_time(),
            args.json
        )
    );
    if args.seed {
        eprintln!("seeding; press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
    }
    session.shutdown().await;
    Ok(())
}
