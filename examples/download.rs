//! Download a torrent (PyBitTorrent's `Client.py`, as a seedbed program;
//! `seedbed download`).
//!
//! ```text
//! cargo run --release --example download -- (--torrent FILE | --magnet URI) [--output-directory DIR]
//!     [--peers FILE] [--peer ADDR]... [--max-peers N] [--use-progress-bar]
//!     [--no-trackers] [--seed] [--listen ADDR] [--peer-timeout SECS] [--fsync] [--sparse]
//!     [--max-download-rate RATE] [--max-upload-rate RATE]
//!     [--only INDEX,...] [--sequential] [--no-resume] [--resume-dir DIR] [--resume-interval SECS]
//!     [--encryption disabled|enabled|forced] [--encryption-level plaintext|rc4|both]
//!     [--no-dht | --dht-bootstrap ADDR... [--dht-state FILE]] [--utp-only | --no-utp] [--json]
//! ```
//!
//! Peers come from the trackers, the DHT (BEP 5; `--no-dht` turns it off,
//! `--dht-bootstrap` joins through other nodes than the public routers),
//! PeX and the peers given. Peer connections use uTP (BEP 29, dialled
//! first) and TCP (the fallback), both accepted on the listen port;
//! `--utp-only` or `--no-utp` keeps one of them.
//!
//! Shows a progress bar when asked or when stdout is a terminal, log lines
//! otherwise. Exits 0 only when every wanted piece is verified on disk; 1
//! with a clear error on bad input or when no peer can be reached within
//! `--peer-timeout` seconds. A file is created when its first piece is
//! written (so a download that never starts leaves nothing behind),
//! preallocated unless `--sparse`; with `--fsync` files are flushed to the
//! disk before completion is reported.
//!
//! `--only 0,2` downloads only those files (indexes as the `info` example
//! prints them); bytes of other files that share a piece with them wait in
//! `.<name>.parts` in the output folder; the progress (bar, log lines, the
//! summary's `wanted_bytes` and `wanted_bytes_have`) counts the bytes of
//! the chosen files only. `--sequential` fetches pieces in
//! order (for playing a file while it downloads).
//!
//! Resume data is saved in `<output-directory>/.seedbed/<info hash>.resume`
//! (or `--resume-dir`): on pause, completion, exit and every
//! `--resume-interval` seconds while pieces arrive. Running the same
//! command again trusts files unchanged since, without reading them: on a
//! finished folder it exits at once. `--no-resume` neither reads nor saves
//! it, and checks all the data on disk.
//!
//! Rates are bytes per second of piece payload (`500000`, `500K`, `2M`; K
//! and M are KiB and MiB), 0 for no limit.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use seedbed::session::{AddTorrentOptions, Allocation, Session, SessionConfig};
use seedbed_cli::download::{give_up, is_complete, render_summary, DownloadArgs, Progress};
use seedbed_cli::{input, Error};

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(DownloadArgs::parse()).await)
}

pub(crate) async fn run(args: DownloadArgs) -> Result<(), Error> {
    let bar = args.progress_bar();
    if !bar {
        // Before the torrent is added: the check of existing data (and its
        // "checked existing data" line) can end before the first progress.
        seedbed_cli::logging::init("info");
    }
    let mut peers = args.peer.clone();
    if let Some(f) = &args.peers {
        peers.extend(input::read_peers_file(f)?);
    }
    let config = SessionConfig {
        listen: Some(args.listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))),
        max_peers: args.max_peers,
        download_rate_limit: args.max_download_rate,
        upload_rate_limit: args.max_upload_rate,
        resume_dir: args.resume_dir(),
        resume_save_interval: args.resume_interval,
        encryption: args.encryption(),
        dht: args.dht.config(),
        transports: args.transport.transports(),
        ..SessionConfig::default()
    };
    let session = Session::new(config).await?;
    let mut opts = AddTorrentOptions::new(&args.output_directory)
        .sequential(args.sequential)
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
    if !args.only.is_empty() {
        opts = opts.only_files(args.only.iter().copied());
    }
    let handle = match (&args.torrent, &args.magnet) {
        (Some(path), _) => {
            session
                .add_torrent(&input::read_torrent(path)?, opts)
                .await?
        }
        (None, Some(uri)) => session.add_magnet(&input::parse_magnet(uri)?, opts).await?,
        (None, None) => return Err(Error::failed("give --torrent FILE or --magnet URI")),
    };

    let mut progress = Progress::new(bar, handle.stats().wanted_bytes);
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
    let s = handle.stats();
    progress.finish(&s);
    let result = result.and_then(|()| {
        if is_complete(&s) {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "finished with {} of {} wanted bytes verified",
                s.wanted_bytes_have, s.wanted_bytes
            )))
        }
    });
    if let Err(e) = result {
        session.shutdown().await;
        return Err(e);
    }
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
