//! `seedbed create`: flags and output.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Parser};
use seedbed::metainfo::{CreatedTorrent, TorrentVersion};

/// Create a BitTorrent metainfo (.torrent) file from a file or a folder.
///
/// Without --v1/--v2 the torrent is hybrid (v1 and v2, BEP 52 with BEP 47
/// pad files), like libtorrent's default. --v1 matches mktorrent's output,
/// --v2 and --hybrid match libtorrent's (same info dictionary, byte for
/// byte). Hashes on all cores with a progress bar on stderr, writes the
/// torrent and prints its info hash(es) and magnet link on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "create")]
#[command(group(ArgGroup::new("torrent_version").args(["v1", "v2", "hybrid"])))]
pub struct CreateArgs {
    /// The file or folder to share.
    pub path: PathBuf,
    /// Where to write the .torrent.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// A v1-only torrent (BEP 3).
    #[arg(long)]
    pub v1: bool,
    /// A v2-only torrent (BEP 52).
    #[arg(long)]
    pub v2: bool,
    /// A hybrid v1 + v2 torrent (the default).
    #[arg(long)]
    pub hybrid: bool,
    /// Piece length: a power of two from 16 KiB to 256 MiB, in bytes or
    /// with a unit (`256k`, `4M`). Default: chosen from the total size, as
    /// libtorrent does.
    #[arg(long, value_name = "BYTES", value_parser = parse_piece_length)]
    pub piece_length: Option<u32>,
    /// A tracker announce URL; each one is its own tier. Repeatable.
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// A web seed URL (BEP 19). Repeatable.
    #[arg(long = "web-seed", value_name = "URL")]
    pub web_seeds: Vec<String>,
    /// Set the private flag (BEP 27).
    #[arg(long)]
    pub private: bool,
    /// A comment.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Write the current time as the creation date (left out by default, so
    /// the output is reproducible).
    #[arg(long)]
    pub date: bool,
    /// Hashing threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print one JSON object (`path`, `info_hash_v1`, `info_hash_v2`,
    /// `magnet`) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CreateArgs {
    /// The torrent version the flags ask for (hybrid by default).
    pub fn version(&self) -> TorrentVersion {
        if self.v1 {
            TorrentVersion::V1
        } else if self.v2 {
            TorrentVersion::V2
        } else {
            TorrentVersion::Hybrid
        }
    }
}

fn parse_piece_length(text: &str) -> Result<u32, String> {
    let n = crate::input::parse_size(text)?;
    u32::try_from(n).map_err(|_| format!("{text:?} is larger than 4 GiB"))
}

/// What `create` prints for the torrent it wrote to `path`; ends with a
/// newline.
pub fn render(path: &Path, torrent: &CreatedTorrent, json: bool) -> String {
    let magnet = torrent.magnet();
    if json {
        let v = serde_json::json!({
            "path": path.to_string_lossy(),
            "info_hash_v1": torrent.info_hash_v1().map(|h| h.to_hex()),
            "info_hash_v2": torrent.info_hash_v2().map(|h| h.to_hex()),
            "magnet": magnet.to_string(),
        });
        return format!("{v}\n");
    }
    let mut out = String::new();
    if let Some(h) = torrent.info_hash_v1() {
        out += &format!("info hash v1: {h}\n");
    }
    if let Some(h) = torrent.info_hash_v2() {
        out += &format!("info hash v2: {h}\n");
    }
    out += &format!("magnet: {magnet}\n");
    out
}
