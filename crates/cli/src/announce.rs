//! `seedbed announce`: flags and output.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use seedbed::tracker::{AnnounceResponse, Event, InfoHash};

/// Announce to a BitTorrent tracker and print interval, seeders, leechers
/// and peers.
///
/// A tracker failure reason (or any other error) goes to stderr and the
/// exit status is 1.
#[derive(Parser, Debug, Clone)]
#[command(name = "announce")]
pub struct AnnounceArgs {
    /// Tracker URL (http://, https:// or udp://). Defaults to the torrent's
    /// `announce`.
    #[arg(long, value_name = "URL")]
    pub tracker: Option<String>,
    /// A .torrent file: its info hash is announced.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "info_hash",
        required_unless_present = "info_hash"
    )]
    pub torrent: Option<PathBuf>,
    /// The info hash, 40 hex digits.
    #[arg(long, value_name = "HEX")]
    pub info_hash: Option<InfoHash>,
    /// The TCP port we claim to accept peers on.
    #[arg(long, default_value_t = 6881)]
    pub port: u16,
    /// The announce event.
    #[arg(long, value_enum, default_value_t = EventArg::Started)]
    pub event: EventArg,
    /// Bytes uploaded.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub uploaded: u64,
    /// Bytes downloaded.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub downloaded: u64,
    /// Bytes left; default: the torrent's size, or 1 with --info-hash (a
    /// leecher, so the tracker returns seeders too).
    #[arg(long, value_name = "BYTES")]
    pub left: Option<u64>,
    /// Peers wanted.
    #[arg(long, value_name = "N")]
    pub numwant: Option<u32>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub timeout: u64,
    /// Print one JSON object instead of text: `interval`, `min_interval`,
    /// `complete`, `incomplete`, `peers` (a list of `ip:port`).
    #[arg(long)]
    pub json: bool,
}

impl AnnounceArgs {
    /// `--timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// The `--event` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EventArg {
    /// `started`: the first announce.
    Started,
    /// `completed`: the download finished.
    Completed,
    /// `stopped`: leaving the swarm.
    Stopped,
    /// No event: a regular announce.
    None,
}

impl From<EventArg> for Event {
    fn from(e: EventArg) -> Event {
        match e {
            EventArg::Started => Event::Started,
            EventArg::Completed => Event::Completed,
            EventArg::Stopped => Event::Stopped,
            EventArg::None => Event::None,
        }
    }
}

/// What `announce` prints for a tracker's answer: text, or with `json` one
/// JSON object on one line. Ends with a newline.
pub fn render(tracker: &str, info_hash: InfoHash, resp: &AnnounceResponse, json: bool) -> String {
    let peers: Vec<String> = resp.peers.iter().map(|p| p.addr.to_string()).collect();
    if json {
        // Keys in the documented order (serde_json sorts its maps).
        let j = |v: serde_json::Value| v.to_string();
        return format!(
            "{{\"interval\": {}, \"min_interval\": {}, \"complete\": {}, \"incomplete\": {}, \"peers\": {}}}\n",
            j(resp.interval.into()),
            j(resp.min_interval.into()),
            j(resp.complete.into()),
            j(resp.incomplete.into()),
            j(peers.into()),
        );
    }
    let opt = |v: Option<u32>| v.map_or("?".to_owned(), |n| n.to_string());
    let mut out = format!("tracker:  {tracker}\ninfo hash: {info_hash}\n");
    match resp.min_interval {
        Some(m) => out += &format!("interval: {} s (min {m} s)\n", resp.interval),
        None => out += &format!("interval: {} s\n", resp.interval),
    }
    out += &format!("seeders:  {}\n", opt(resp.complete));
    out += &format!("leechers: {}\n", opt(resp.incomplete));
    if let Some(w) = &resp.warning_message {
        out += &format!("warning:  {w}\n");
    }
    out += &format!("peers:    {}\n", peers.len());
    for p in &peers {
        out += &format!("  {p}\n");
    }
    out
}
