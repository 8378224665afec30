//! Seed a torrent from data on disk (`seedbed seed`).
//!
//! ```text
//! cargo run --release --example seed -- --torrent FILE --data DIR [--listen ADDR] [--no-trackers]
//!     [--max-upload-rate RATE] [--max-download-rate RATE]
//!     [--no-resume] [--encryption disabled|enabled|forced] [--encryption-level plaintext|rc4|both]
//!     [--no-dht | --dht-bootstrap ADDR... [--dht-state FILE]] [--utp-only | --no-utp]
//!     [--max-queued-requests N] [--json]
//! ```
//!
//! `DIR` is the folder that holds the torrent's content (for a multi-file
//! torrent, `DIR/<name>/...`). The data is verified first with every core;
//! then it seeds until interrupted (Ctrl-C), and sends `stopped` to the
//! trackers on the way out. Prints `listening on ADDR` once ready. A
//! public torrent is also announced to the DHT (BEP 5) unless `--no-dht`.
//!
//! Resume data is kept in `DIR/.seedbed/<info hash>.resume`: seeding the
//! same data again trusts the files unchanged since, without reading them.
//! `--no-resume` neither reads nor saves it, and verifies everything.
//!
//! Rates are bytes per second of piece payload (`500000`, `500K`, `2M`; K
//! and M are KiB and MiB), 0 for no limit.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use seedbed::session::{AddTorrentOptions, Event, Session, SessionConfig};
use seedbed_cli::seed::{render_seeding, render_stopping, SeedArgs};
use seedbed_cli::{input, Error};

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(SeedArgs::parse()).await)
}

pub(crate) async fn run(args: SeedArgs) -> Result<(), Error> {
    seedbed_cli::logging::init("info");
    let torrent = input::read_torrent(&args.torrent)?;
    if !args.data.is_dir() {
        return Err(Error::failed(format!(
            "{}: not a folder",
            args.data.display()
        )));
    }
    let session = Session::new(SessionConfig {
        listen: Some(args.listen),
        download_rate_limit: args.max_download_rate,
        upload_rate_limit: args.max_upload_rate,
        resume_dir: args.resume_dir(),
        encryption: args.encryption(),
        dht: args.dht.config(),
        transports: args.transport.transports(),
        max_queued_uploads: args.max_queued_requests as usize,
        ..SessionConfig::default()
    })
    .await?;
    let handle = session
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(&args.data).trackers(!args.no_trackers),
        )
        .await?;
    let mut events = handle.events();
    let checked = loop {
        match events.recv().await {
            Ok(Event::Checked { pieces }) => break pieces,
            Ok(_) => {}
            Err(_) => return Err(Error::failed("the torrent stopped while checking")),
        }
    };
    let total = handle.stats().num_pieces;
    if checked < total {
        eprintln!(
            "warning: only {checked} of {total} pieces are valid in {}; seeding those",
            args.data.display()
        );
    }
    let listen = session.listen_addr();
    print!(
        "{}",
        render_seeding(&handle.name(), total, checked, listen, args.json)
    );
    // Scripts wait for this line; stdout may be a pipe.
    let _ = std::io::stdout().flush();
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
    print!("{}", render_stopping(handle.stats().uploaded, args.json));
    session.shutdown().await;
    Ok(())
}
