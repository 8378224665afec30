//! Print what a `.torrent` file holds (`seedbed info`).
//!
//! ```text
//! cargo run --release --example info -- [--json] FILE...
//! ```
//!
//! For each file: name, v1 and v2 info hashes, total size, piece length and
//! count, single or multi-file, private flag, tracker tiers and files. With
//! `--json`, one JSON object per line. A file that fails to parse gets a
//! one-line error on stderr, and the exit status is 1.

use std::process::ExitCode;

use clap::Parser;
use seedbed_cli::info::{render, InfoArgs};
use seedbed_cli::input;

fn main() -> ExitCode {
    run(InfoArgs::parse())
}

pub(crate) fn run(args: InfoArgs) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in &args.files {
        // `read_torrent` parses with `seedbed::metainfo::Torrent::from_bytes`.
        match input::read_torrent(path) {
            Ok(t) => print!("{}", render(path, &t, args.json)),
            Err(e) => {
                eprintln!("error: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
