//! Make a magnet link from a `.torrent`, or take a magnet link apart.
//!
//! ```text
//! cargo run --release --example magnet -- FILE.torrent
//! cargo run --release --example magnet -- --parse 'magnet:?xt=urn:btih:…'
//! ```
//!
//! The first form prints the link (info hashes, name, trackers, web seeds,
//! in libtorrent's layout). The second prints the link's fields as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use seedbed_metainfo::{Magnet, Torrent};
use serde_json::json;

/// Magnet links (BEP 9, BEP 53) from and to their parts.
#[derive(Debug, Parser)]
#[command(name = "magnet")]
struct Args {
    /// Parse this magnet link and print its fields as JSON.
    #[arg(long, value_name = "URI", conflicts_with = "torrent")]
    parse: Option<String>,
    /// The .torrent file to make a magnet link for.
    #[arg(required_unless_present = "parse")]
    torrent: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(uri) = args.parse {
        return match uri.parse::<Magnet>() {
            Ok(m) => {
                println!("{}", to_json(&m));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let path = args.torrent.expect("clap requires it");
    let torrent = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| Torrent::from_bytes(b).map_err(|e| e.to_string()));
    match torrent {
        Ok(t) => {
            println!("{}", Magnet::from(&t));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn to_json(m: &Magnet) -> String {
    let select: Vec<_> = m
        .select_only()
        .iter()
        .map(|r| json!([r.start(), r.end()]))
        .collect();
    let extra: Vec<_> = m
        .extra_params()
        .iter()
        .map(|(k, v)| json!([k, v]))
        .collect();
    let v = json!({
        "info_hash_v1": m.info_hash_v1().map(|h| h.to_hex()),
        "info_hash_v2": m.info_hash_v2().map(|h| h.to_hex()),
        "info_hash": m.info_hash().to_hex(),
        "name": m.name(),
        "exact_length": m.exact_length(),
        "trackers": m.trackers(),
        "web_seeds": m.web_seeds(),
        "peers": m.peers().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "dht_nodes": m.dht_nodes().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "select_only": select,
        "extra_params": extra,
        "canonical": m.to_string(),
    });
    serde_json::to_string_pretty(&v).expect("JSON values serialize")
}
