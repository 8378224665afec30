//! Scrapes one tracker (HTTP, HTTPS or UDP) for one or more torrents.
//!
//! ```text
//! cargo run --release --example scrape -- --tracker URL --info-hash HEX [HEX...] [--json]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use seedbed::tracker::client::{ClientOptions, TrackerClient};
use seedbed::tracker::InfoHash;

#[derive(Parser, Debug)]
#[command(about = "Scrape a BitTorrent tracker: seeders, leechers and completed downloads")]
struct Args {
    /// Tracker announce URL (http://, https:// or udp://); HTTP scrape URLs
    /// are derived from it (BEP 48).
    #[arg(long)]
    tracker: String,
    /// Info hashes, 40 hex digits each.
    #[arg(long, num_args = 1.., required = true)]
    info_hash: Vec<InfoHash>,
    /// Timeout in seconds.
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(args.timeout),
        ..ClientOptions::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let resp = match client.scrape(&args.tracker, &args.info_hash).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        let files: serde_json::Map<String, serde_json::Value> = resp
            .files
            .iter()
            .map(|(h, s)| {
                (
                    h.to_string(),
                    serde_json::json!({
                        "complete": s.complete,
                        "incomplete": s.incomplete,
                        "downloaded": s.downloaded,
                    }),
                )
            })
            .collect();
        println!("{}", serde_json::json!({ "files": files }));
        return ExitCode::SUCCESS;
    }
    for h in &args.info_hash {
        match resp.files.get(h) {
            Some(s) => println!(
                "{h}  seeders {}  leechers {}  completed {}",
                s.complete, s.incomplete, s.downloaded
            ),
            None => println!("{h}  unknown to the tracker"),
        }
    }
    ExitCode::SUCCESS
}
