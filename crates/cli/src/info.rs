//! `seedbed info`: flags and output.

use std::path::{Path, PathBuf};

use clap::Parser;
use seedbed::metainfo::Torrent;
use serde_json::json;

/// Show the contents of .torrent files: name, v1 and v2 info hashes, total
/// size, piece length and count, single or multi-file, private flag,
/// tracker tiers and files, each with its index (from 0, in the torrent's
/// order, pad files not counted: what `download --only` takes).
///
/// A file that fails to parse gets a one-line error on stderr, the others
/// are still shown, and the exit status is 1.
#[derive(Debug, Clone, Parser)]
#[command(name = "info")]
pub struct InfoArgs {
    /// One JSON object per line instead of text: `path`, `name`,
    /// `info_hash_v1`, `info_hash_v2`, `total_size`, `piece_length`,
    /// `num_pieces`, `num_files`, `private`, `trackers` (tiers), `files`
    /// (`index`, `path`, `length`).
    #[arg(long)]
    pub json: bool,
    /// The .torrent files to read.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What `info` prints for the torrent read from `path`: text, or with
/// `json` one JSON object on one line. Ends with a newline.
pub fn render(path: &Path, t: &Torrent, json: bool) -> String {
    if json {
        format!("{}\n", to_json(path, t))
    } else {
        to_text(path, t)
    }
}

fn hex_or_none<T: ToString>(h: Option<T>) -> String {
    h.map_or_else(|| "-".to_owned(), |h| h.to_string())
}

/// The JSON object of `info --json`.
pub fn to_json(path: &Path, t: &Torrent) -> serde_json::Value {
    let info = t.info();
    let files: Vec<_> = info
        .real_files()
        .enumerate()
        .map(|(index, (_, f))| {
            json!({"index": index, "path": f.path().as_str(), "length": f.length()})
        })
        .collect();
    json!({
        "path": path.to_string_lossy(),
        "name": info.name(),
        "info_hash_v1": info.info_hash_v1().map(|h| h.to_hex()),
        "info_hash_v2": info.info_hash_v2().map(|h| h.to_hex()),
        "total_size": info.total_size(),
        "piece_length": info.piece_length(),
        "num_pieces": info.num_pieces(),
        "num_files": info.num_files(),
        "private": info.is_private(),
        "trackers": t.trackers(),
        "files": files,
    })
}

fn to_text(path: &Path, t: &Torrent) -> String {
    use std::fmt::Write;
    let info = t.info();
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(o, "{}", path.display());
    let _ = writeln!(o, "  name:         {}", info.name());
    let _ = writeln!(o, "  info hash v1: {}", hex_or_none(info.info_hash_v1()));
    let _ = writeln!(o, "  info hash v2: {}", hex_or_none(info.info_hash_v2()));
    let _ = writeln!(o, "  total size:   {} bytes", info.total_size());
    let _ = writeln!(o, "  piece length: {} bytes", info.piece_length());
    let _ = writeln!(o, "  pieces:       {}", info.num_pieces());
    let layout = if info.is_multi_file() {
        "multi"
    } else {
        "single"
    };
    let _ = writeln!(
        o,
        "  layout:       {layout}-file, {} file(s), {:?}",
        info.num_files(),
        info.version()
    );
    let private = if info.is_private() { "yes" } else { "no" };
    let _ = writeln!(o, "  private:      {private}");
    if t.trackers().is_empty() {
        let _ = writeln!(o, "  trackers:     none");
    }
    for (i, tier) in t.trackers().iter().enumerate() {
        let _ = writeln!(o, "  tier {i}:       {}", tier.join(" "));
    }
    for seed in t.web_seeds() {
        let _ = writeln!(o, "  web seed:     {seed}");
    }
    if let Some(c) = t.comment() {
        let _ = writeln!(o, "  comment:      {c}");
    }
    if let Some(c) = t.created_by() {
        let _ = writeln!(o, "  created by:   {c}");
    }
    let _ = writeln!(o, "  files:");
    for (index, (_, f)) in info.real_files().enumerate() {
        let _ = match f.symlink_target() {
            Some(target) => writeln!(o, "    {index:>4}  {} -> {target}", f.path()),
            None => writeln!(o, "    {index:>4}  {} ({} bytes)", f.path(), f.length()),
        };
    }
    o
}
