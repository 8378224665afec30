//! Announces to one tracker (HTTP, HTTPS or UDP) and prints what it says.
//!
//! ```text
//! cargo run --release --example announce -- --tracker URL (--torrent FILE | --info-hash HEX)
//!     [--port N] [--event started|completed|stopped|none] [--uploaded N]
//!     [--downloaded N] [--left N] [--numwant N] [--json]
//! ```
//!
//! A tracker failure reason (or any other error) goes to stderr and the
//! exit status is 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use seedbed::tracker::client::{ClientOptions, TrackerClient};
use seedbed::tracker::{AnnounceRequest, Event, InfoHash, PeerId, PeerKey};
use seedbed_metainfo::Torrent;

#[derive(Parser, Debug)]
#[command(
    about = "Announce to a BitTorrent tracker and print interval, seeders, leechers and peers"
)]
struct Args {
    /// Tracker URL (http://, https:// or udp://). Defaults to the torrent's `announce`.
    #[arg(long)]
    tracker: Option<String>,
    /// A .torrent file: its info hash is announced.
    #[arg(
        long,
        conflicts_with = "info_hash",
        required_unless_present = "info_hash"
    )]
    torrent: Option<PathBuf>,
    /// The info hash, 40 hex digits.
    #[arg(long)]
    info_hash: Option<InfoHash>,
    /// The TCP port we claim to accept peers on.
    #[arg(long, default_value_t = 6881)]
    port: u16,
    /// The announce event.
    #[arg(long, value_enum, default_value_t = EventArg::Started)]
    event: EventArg,
    /// Bytes uploaded.
    #[arg(long, default_value_t = 0)]
    uploaded: u64,
    /// Bytes downloaded.
    #[arg(long, default_value_t = 0)]
    downloaded: u64,
    /// Bytes left; default: the torrent's size, or 1 with --info-hash (a
    /// leecher, so the tracker returns seeders too).
    #[arg(long)]
    left: Option<u64>,
    /// Peers wanted.
    #[arg(long)]
    numwant: Option<u32>,
    /// Timeout in seconds.
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EventArg {
    Started,
    Completed,
    Stopped,
    None,
}

/// A peer id `-SB0001-` + 12 characters derived from the time and pid.
fn peer_id_and_key() -> (PeerId, PeerKey) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    let mut id = *b"-SB0001-000000000000";
    for b in &mut id[8..] {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *b = b"0123456789abcdefghijklmnopqrstuvwxyz"[(x >> 58) as usize % 36];
    }
    (PeerId(id), PeerKey((x >> 16) as u32))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (info_hash, tracker, size) = match (&args.torrent, args.info_hash) {
        (Some(path), _) => {
            let t = Torrent::from_bytes(std::fs::read(path)?)?;
            let tracker = args
                .tracker
                .clone()
                .or_else(|| t.announce().map(str::to_owned));
            (t.info_hash(), tracker, Some(t.info().total_size()))
        }
        (None, Some(h)) => (h, args.tracker.clone(), None),
        (None, None) => return Err("give --torrent or --info-hash".into()),
    };
    let tracker = tracker.ok_or("give --tracker (the torrent has no announce URL)")?;
    let (peer_id, key) = peer_id_and_key();
    let mut req = AnnounceRequest::new(info_hash, peer_id, args.port);
    req.uploaded = args.uploaded;
    req.downloaded = args.downloaded;
    req.left = args.left.or(size).unwrap_or(1);
    req.event = match args.event {
        EventArg::Started => Event::Started,
        EventArg::Completed => Event::Completed,
        EventArg::Stopped => Event::Stopped,
        EventArg::None => Event::None,
    };
    req.numwant = args.numwant;
    req.key = Some(key);
    let client = TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(args.timeout),
        ..ClientOptions::default()
    })?;
    let resp = client.announce(&tracker, &req).await?;
    let peers: Vec<String> = resp.peers.iter().map(|p| p.addr.to_string()).collect();
    if args.json {
        // Keys in the documented order (serde_json sorts its maps).
        let j = |v: serde_json::Value| v.to_string();
        println!(
            "{{\"interval\": {}, \"min_interval\": {}, \"complete\": {}, \"incomplete\": {}, \"peers\": {}}}",
            j(resp.interval.into()),
            j(resp.min_interval.into()),
            j(resp.complete.into()),
            j(resp.incomplete.into()),
            j(peers.clone().into()),
        );
    } else {
        let opt = |v: Option<u32>| v.map_or("?".to_owned(), |n| n.to_string());
        println!("tracker:  {tracker}");
        println!("info hash: {info_hash}");
        match resp.min_interval {
            Some(m) => println!("interval: {} s (min {m} s)", resp.interval),
            None => println!("interval: {} s", resp.interval),
        }
        println!("seeders:  {}", opt(resp.complete));
        println!("leechers: {}", opt(resp.incomplete));
        if let Some(w) = &resp.warning_message {
            println!("warning:  {w}");
        }
        println!("peers:    {}", peers.len());
        for p in &peers {
            println!("  {p}");
        }
    }
    Ok(())
}
