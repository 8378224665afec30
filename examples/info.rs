//! Print what a `.torrent` file holds.
//!
//! ```text
//! cargo run --release --example info -- [--json] FILE...
//! ```
//!
//! For each file: name, v1 and v2 info hashes, total size, piece length and
//! count, single or multi-file, private flag, tracker tiers and files (each
//! with its index, from 0, pad files not counted: what `download --only`
//! takes). With
//! `--json`, one JSON object per line. A file that fails to parse gets a
//! one-line error on stderr, and the exit status is 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use seedbed_metainfo::Torrent;
use serde_json::json;

/// Show the contents of .torrent files.
#[derive(Debug, Parser)]
#[command(name = "info")]
struct Args {
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// The .torrent files to read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut status = ExitCode::SUCCESS;
    for path in &args.files {
        let torrent = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Torrent::from_bytes(bytes).map_err(|e| e.to_string()));
        match torrent {
            Ok(t) if args.json => println!("{}", to_json(path, &t)),
            Ok(t) => print_text(path, &t),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

fn hex_or_none<T: ToString>(h: Option<T>) -> String {
    h.map_or_else(|| "-".to_owned(), |h| h.to_string())
}

fn to_json(path: &std::path::Path, t: &Torrent) -> serde_json::Value {
    let info = t.info();
    let files: Vec<_> = info
        .real_files()
        .enumerate()
        .map(|(index, (_, f))| json!({"index": index, "path": f.path().as_str(), "length": f.length()}))
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

fn print_text(path: &std::path::Path, t: &Torrent) {
    let info = t.info();
    println!("{}", path.display());
    println!("  name:         {}", info.name());
    println!("  info hash v1: {}", hex_or_none(info.info_hash_v1()));
    println!("  info hash v2: {}", hex_or_none(info.info_hash_v2()));
    println!("  total size:   {} bytes", info.total_size());
    println!("  piece length: {} bytes", info.piece_length());
    println!("  pieces:       {}", info.num_pieces());
    println!(
        "  layout:       {}-file, {} file(s), {:?}",
        if info.is_multi_file() {
            "multi"
        } else {
            "single"
        },
        info.num_files(),
        info.version()
    );
    println!(
        "  private:      {}",
        if info.is_private() { "yes" } else { "no" }
    );
    if t.trackers().is_empty() {
        println!("  trackers:     none");
    }
    for (i, tier) in t.trackers().iter().enumerate() {
        println!("  tier {i}:       {}", tier.join(" "));
    }
    for seed in t.web_seeds() {
        println!("  web seed:     {seed}");
    }
    if let Some(c) = t.comment() {
        println!("  comment:      {c}");
    }
    if let Some(c) = t.created_by() {
        println!("  created by:   {c}");
    }
    println!("  files:");
    for (index, (_, f)) in info.real_files().enumerate() {
        match f.symlink_target() {
            Some(target) => println!("    {index:>4}  {} -> {target}", f.path()),
            None => println!("    {index:>4}  {} ({} bytes)", f.path(), f.length()),
        }
    }
}
