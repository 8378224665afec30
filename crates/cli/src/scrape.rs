//! `seedbed scrape`: flags and output.

use std::time::Duration;

use clap::Parser;
use seedbed::tracker::{InfoHash, ScrapeResponse};

/// Scrape a BitTorrent tracker: seeders, leechers and completed downloads.
#[derive(Parser, Debug, Clone)]
#[command(name = "scrape")]
pub struct ScrapeArgs {
    /// Tracker announce URL (http://, https:// or udp://); HTTP scrape URLs
    /// are derived from it (BEP 48).
    #[arg(long, value_name = "URL")]
    pub tracker: String,
    /// Info hashes, 40 hex digits each.
    #[arg(long, value_name = "HEX", num_args = 1.., required = true)]
    pub info_hash: Vec<InfoHash>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub timeout: u64,
    /// Print one JSON object instead of text: `{"files": {HEX: {"complete",
    /// "incomplete", "downloaded"}}}`.
    #[arg(long)]
    pub json: bool,
}

impl ScrapeArgs {
    /// `--timeout` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// What `scrape` prints for `asked` and the tracker's answer; ends with a
/// newline.
pub fn render(asked: &[InfoHash], resp: &ScrapeResponse, json: bool) -> String {
    if json {
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
        return format!("{}\n", serde_json::json!({ "files": files }));
    }
    let mut out = String::new();
    for h in asked {
        match resp.files.get(h) {
            Some(s) => {
                out += &format!(
                    "{h}  seeders {}  leechers {}  completed {}\n",
                    s.complete, s.incomplete, s.downloaded
                );
            }
            None => out += &format!("{h}  unknown to the tracker\n"),
        }
    }
    out
}
