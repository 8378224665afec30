//! Scrapes one tracker (HTTP, HTTPS or UDP) for one or more torrents
//! (`seedbed scrape`).
//!
//! ```text
//! cargo run --release --example scrape -- --tracker URL --info-hash HEX [HEX...] [--json]
//! ```

use std::process::ExitCode;

use clap::Parser;
use seedbed::tracker::client::{ClientOptions, TrackerClient};
use seedbed_cli::scrape::{render, ScrapeArgs};
use seedbed_cli::Error;

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(ScrapeArgs::parse()).await)
}

pub(crate) async fn run(args: ScrapeArgs) -> Result<(), Error> {
    let client = TrackerClient::new(ClientOptions {
        timeout: args.timeout(),
        ..ClientOptions::default()
    })?;
    let resp = client.scrape(&args.tracker, &args.info_hash).await?;
    print!("{}", render(&args.info_hash, &resp, args.json));
    Ok(())
}
