//! Announces to one tracker (HTTP, HTTPS or UDP) and prints what it says
//! (`seedbed announce`).
//!
//! ```text
//! cargo run --release --example announce -- --tracker URL (--torrent FILE | --info-hash HEX)
//!     [--port N] [--event started|completed|stopped|none] [--uploaded N]
//!     [--downloaded N] [--left N] [--numwant N] [--json]
//! ```
//!
//! A tracker failure reason (or any other error) goes to stderr and the
//! exit status is 1.

use std::process::ExitCode;

use clap::Parser;
use seedbed::tracker::client::{ClientOptions, TrackerClient};
use seedbed::tracker::{AnnounceRequest, PeerKey};
use seedbed_cli::announce::{render, AnnounceArgs};
use seedbed_cli::{ids, input, Error};

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(AnnounceArgs::parse()).await)
}

pub(crate) async fn run(args: AnnounceArgs) -> Result<(), Error> {
    // The info hash, the torrent's own tracker and its size.
    let (info_hash, announce, size) = match (&args.torrent, args.info_hash) {
        (Some(path), _) => {
            let t = input::read_torrent(path)?;
            let announce = t.announce().map(str::to_owned);
            (t.info_hash(), announce, Some(t.info().total_size()))
        }
        (None, Some(h)) => (h, None, None),
        (None, None) => return Err(Error::failed("give --torrent or --info-hash")),
    };
    let tracker = args
        .tracker
        .clone()
        .or(announce)
        .ok_or_else(|| Error::failed("give --tracker (the torrent has no announce URL)"))?;

    let (peer_id, key) = ids::peer_id_and_key(b"-SB0001-");
    let mut req = AnnounceRequest::new(info_hash, peer_id, args.port);
    req.uploaded = args.uploaded;
    req.downloaded = args.downloaded;
    req.left = args.left.or(size).unwrap_or(1);
    req.event = args.event.into();
    req.numwant = args.numwant;
    req.key = Some(PeerKey(key));
    let client = TrackerClient::new(ClientOptions {
        timeout: args.timeout(),
        ..ClientOptions::default()
    })?;
    let resp = client.announce(&tracker, &req).await?;
    print!("{}", render(&tracker, info_hash, &resp, args.json));
    Ok(())
}
