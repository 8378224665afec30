//! A small in-memory BitTorrent tracker over HTTP and UDP, for tests and
//! demos: `seedbed::tracker::server::RunningTracker` over
//! `seedbed::tracker::memory::MemoryTracker` (peer expiry, numwant,
//! compact responses, BEP 15 connection ids).
//!
//! ```text
//! cargo run --release --example tracker -- --http 127.0.0.1:6969 --udp 127.0.0.1:6969
//! ```
//!
//! Announce URLs: `http://ADDR/announce` and `udp://ADDR`. Runs until
//! killed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use seedbed::tracker::memory::MemoryTrackerConfig;
use seedbed::tracker::server::RunningTracker;

#[derive(Parser, Debug)]
#[command(about = "In-memory BitTorrent tracker (HTTP and UDP)")]
struct Args {
    /// Address for HTTP announces and scrapes (port 0: any free port).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Address for UDP announces and scrapes (BEP 15).
    #[arg(long)]
    udp: Option<SocketAddr>,
    /// Announce interval sent to clients, in seconds.
    #[arg(long, default_value_t = 1800)]
    interval: u32,
    /// Seconds after which a silent peer is dropped (default: 2 × interval).
    #[arg(long)]
    peer_timeout: Option<u64>,
    /// Peers returned when a client sends no numwant.
    #[arg(long, default_value_t = 50)]
    numwant: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.http.is_none() && args.udp.is_none() {
        eprintln!("error: give --http ADDR and/or --udp ADDR");
        return ExitCode::FAILURE;
    }
    let config = MemoryTrackerConfig {
        interval: args.interval,
        min_interval: args.interval.min(60),
        peer_timeout: Duration::from_secs(
            args.peer_timeout.unwrap_or(2 * u64::from(args.interval)),
        ),
        default_numwant: args.numwant,
        ..MemoryTrackerConfig::default()
    };
    let running = match RunningTracker::start(args.http, args.udp, config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = running.http_announce_url() {
        println!("http: {url}");
    }
    if let Some(url) = running.udp_announce_url() {
        println!("udp:  {url}");
    }
    running.wait().await;
    ExitCode::SUCCESS
}
