//! A small in-memory BitTorrent tracker over HTTP and UDP, for tests and
//! demos (`seedbed tracker`): `seedbed::tracker::server::RunningTracker`
//! over `seedbed::tracker::memory::MemoryTracker` (peer expiry, numwant,
//! compact responses, BEP 15 connection ids).
//!
//! ```text
//! cargo run --release --example tracker -- --http 127.0.0.1:6969 --udp 127.0.0.1:6969 [--json]
//! ```
//!
//! Announce URLs: `http://ADDR/announce` and `udp://ADDR`, printed once it
//! listens. Runs until killed.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use seedbed::tracker::server::RunningTracker;
use seedbed_cli::tracker::{render_urls, TrackerArgs};
use seedbed_cli::Error;

#[tokio::main]
async fn main() -> ExitCode {
    seedbed_cli::exit(run(TrackerArgs::parse()).await)
}

pub(crate) async fn run(args: TrackerArgs) -> Result<(), Error> {
    seedbed_cli::logging::init("warn");
    let running = RunningTracker::start(args.http, args.udp, args.config())
        .await
        .map_err(|e| Error::failed(format!("cannot bind: {e}")))?;
    let http = running.http_announce_url();
    let udp = running.udp_announce_url();
    print!(
        "{}",
        render_urls(http.as_deref(), udp.as_deref(), args.json)
    );
    // Scripts wait for these lines; stdout may be a pipe.
    let _ = std::io::stdout().flush();
    running.wait().await;
    Ok(())
}
