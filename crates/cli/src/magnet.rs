//! `seedbed magnet`: flags and output.

use std::path::PathBuf;

use clap::Parser;
use seedbed::metainfo::Magnet;
use serde_json::json;

/// Magnet links (BEP 9, BEP 53) from and to their parts.
///
/// With a .torrent file: prints its magnet link (info hashes, name,
/// trackers, web seeds, in libtorrent's layout). With --parse: prints the
/// link's fields as JSON.
#[derive(Debug, Clone, Parser)]
#[command(name = "magnet")]
pub struct MagnetArgs {
    /// Parse this magnet link and print its fields as JSON.
    #[arg(long, value_name = "URI", conflicts_with = "torrent")]
    pub parse: Option<String>,
    /// The .torrent file to make a magnet link for.
    #[arg(required_unless_present = "parse", value_name = "FILE")]
    pub torrent: Option<PathBuf>,
    /// With a .torrent file: print the link's fields as JSON (as --parse
    /// does), `canonical` being the link.
    #[arg(long)]
    pub json: bool,
}

/// The fields of a magnet link as pretty-printed JSON: `info_hash_v1`,
/// `info_hash_v2`, `info_hash`, `name`, `exact_length`, `trackers`,
/// `web_seeds`, `peers`, `dht_nodes`, `select_only` (`[first, last]`
/// ranges), `extra_params` (`[key, value]`), `canonical` (the link as we
/// write it). Ends with a newline.
pub fn to_json(m: &Magnet) -> String {
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
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).expect("JSON values serialize")
    )
}
