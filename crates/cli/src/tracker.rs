//! `seedbed tracker`: flags and output.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use seedbed::tracker::memory::MemoryTrackerConfig;

/// In-memory BitTorrent tracker (HTTP and UDP), for tests and demos.
///
/// Announce URLs: `http://ADDR/announce` and `udp://ADDR`, printed once
/// listening. Runs until killed.
#[derive(Parser, Debug, Clone)]
#[command(name = "tracker")]
pub struct TrackerArgs {
    /// Address for HTTP announces and scrapes (port 0: any free port).
    #[arg(long, value_name = "ADDR", required_unless_present = "udp")]
    pub http: Option<SocketAddr>,
    /// Address for UDP announces and scrapes (BEP 15; port 0: any free
    /// port).
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<SocketAddr>,
    /// Announce interval sent to clients, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub interval: u32,
    /// Seconds after which a silent peer is dropped (default: 2 × interval).
    #[arg(long, value_name = "SECS")]
    pub peer_timeout: Option<u64>,
    /// Peers returned when a client sends no numwant.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub numwant: u32,
    /// Print the announce URLs as one JSON object (`{"http": URL, "udp":
    /// URL}`, null for a protocol not served) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl TrackerArgs {
    /// The tracker's settings from the flags: `min_interval` is the
    /// interval capped at 60 s.
    pub fn config(&self) -> MemoryTrackerConfig {
        MemoryTrackerConfig {
            interval: self.interval,
            min_interval: self.interval.min(60),
            peer_timeout: Duration::from_secs(
                self.peer_timeout.unwrap_or(2 * u64::from(self.interval)),
            ),
            default_numwant: self.numwant,
            ..MemoryTrackerConfig::default()
        }
    }
}

/// What `tracker` prints once listening; ends with a newline.
pub fn render_urls(http: Option<&str>, udp: Option<&str>, json: bool) -> String {
    if json {
        return format!("{}\n", serde_json::json!({ "http": http, "udp": udp }));
    }
    let mut out = String::new();
    if let Some(url) = http {
        out += &format!("http: {url}\n");
    }
    if let Some(url) = udp {
        out += &format!("udp:  {url}\n");
    }
    out
}
