//! Create a `.torrent` from a file or a directory (`seedbed create`).
//!
//! ```text
//! cargo run --release --example create -- PATH -o OUT.torrent [--v1|--v2|--hybrid]
//!     [--piece-length BYTES] [--tracker URL]... [--web-seed URL]... [--private]
//!     [--comment TEXT] [--date] [--threads N] [--quiet] [--json]
//! ```
//!
//! Hashes on all cores with a progress bar on stderr, writes the torrent
//! and prints its info hash(es) and magnet link on stdout. The default is a
//! hybrid (v1 + v2) torrent, as libtorrent makes.

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use seedbed::metainfo::TorrentBuilder;
use seedbed_cli::create::{render, CreateArgs};
use seedbed_cli::{progress, Error};

fn main() -> ExitCode {
    seedbed_cli::exit(run(CreateArgs::parse()))
}

pub(crate) fn run(args: CreateArgs) -> Result<(), Error> {
    let mut b = TorrentBuilder::new(args.version()).private(args.private);
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

    let bar = progress::hashing_bar(args.quiet);
    let started = Instant::now();
    let result = b.build_from_path(&args.path, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let torrent = result?;
    std::fs::write(&args.output, torrent.as_bytes()).map_err(|source| Error::Write {
        path: args.output.clone(),
        source,
    })?;
    print!("{}", render(&args.output, &torrent, args.json));
    if !args.quiet {
        eprintln!(
            "wrote {} in {:.2} s",
            args.output.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
