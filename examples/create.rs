//! Create a `.torrent` from a file or a directory.
//!
//! ```text
//! cargo run --release --example create -- PATH -o OUT.torrent [--v1|--v2|--hybrid]
//!     [--piece-length BYTES] [--tracker URL]... [--web-seed URL]... [--private]
//!     [--comment TEXT] [--date] [--threads N]
//! ```
//!
//! Hashes on all cores with a progress bar on stderr, writes the torrent
//! and prints its info hash(es) and magnet link on stdout. The default is a
//! hybrid (v1 + v2) torrent, as libtorrent makes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use seedbed_metainfo::{TorrentBuilder, TorrentVersion};

/// Create a BitTorrent metainfo (.torrent) file.
///
/// Without --v1/--v2 the torrent is hybrid (v1 and v2, BEP 52 with BEP 47 pad
/// files), like libtorrent's default. --v1 matches mktorrent's output, --v2
/// and --hybrid match libtorrent's (same info dictionary, byte for byte).
#[derive(Debug, Parser)]
#[command(name = "create")]
#[command(group(ArgGroup::new("version").args(["v1", "v2", "hybrid"])))]
struct Args {
    /// The file or directory to share.
    path: PathBuf,
    /// Where to write the .torrent.
    #[arg(short, long)]
    output: PathBuf,
    /// A v1-only torrent (BEP 3).
    #[arg(long)]
    v1: bool,
    /// A v2-only torrent (BEP 52).
    #[arg(long)]
    v2: bool,
    /// A hybrid v1 + v2 torrent (the default).
    #[arg(long)]
    hybrid: bool,
    /// Piece length in bytes: a power of two from 16384 to 268435456.
    /// Default: chosen from the total size, as libtorrent does.
    #[arg(long, value_name = "BYTES")]
    piece_length: Option<u32>,
    /// A tracker announce URL; each one is its own tier. Repeatable.
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// A web seed URL (BEP 19). Repeatable.
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// Set the private flag (BEP 27).
    #[arg(long)]
    private: bool,
    /// A comment.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// Write the current time as the creation date (left out by default, so
    /// the output is reproducible).
    #[arg(long)]
    date: bool,
    /// Hashing threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let version = if args.v1 {
        TorrentVersion::V1
    } else if args.v2 {
        TorrentVersion::V2
    } else {
        TorrentVersion::Hybrid
    };
    let mut b = TorrentBuilder::new(version).private(args.private);
    if let Some(pl) = args.piece_length {
        b = b.piece_length(pl);
    }
    for t in &args.trackers {
        b = b.tracker(t.clone());
    }
    for w in &args.web_seeds {
        b = b.web_seed(w.clone());
    }
    if let Some(c) = &args.comment {
        b = b.comment(c.clone());
    }
    if args.date {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        b = b.creation_date(now);
    }
    if let Some(n) = args.threads {
        b = b.threads(n);
    }

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} hashing [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let result = b.build_from_path(&args.path, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let torrent = match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&args.output, torrent.as_bytes()) {
        eprintln!("error: writing {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    if let Some(h) = torrent.info_hash_v1() {
        println!("info hash v1: {h}");
    }
    if let Some(h) = torrent.info_hash_v2() {
        println!("info hash v2: {h}");
    }
    println!("magnet: {}", torrent.magnet());
    eprintln!(
        "wrote {} in {:.2} s",
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
