//! Make a magnet link from a `.torrent`, or take a magnet link apart
//! (`seedbed magnet`).
//!
//! ```text
//! cargo run --release --example magnet -- FILE.torrent [--json]
//! cargo run --release --example magnet -- --parse 'magnet:?xt=urn:btih:…'
//! ```
//!
//! The first form prints the link (info hashes, name, trackers, web seeds,
//! in libtorrent's layout). The second prints the link's fields as JSON.

use std::process::ExitCode;

use clap::Parser;
use seedbed::metainfo::Magnet;
use seedbed_cli::magnet::{to_json, MagnetArgs};
use seedbed_cli::{input, Error};

fn main() -> ExitCode {
    seedbed_cli::exit(run(MagnetArgs::parse()))
}

pub(crate) fn run(args: MagnetArgs) -> Result<(), Error> {
    let magnet = match (&args.parse, &args.torrent) {
        (Some(uri), _) => {
            // `parse_magnet` is `uri.parse::<Magnet>()` with a clear error.
            print!("{}", to_json(&input::parse_magnet(uri)?));
            return Ok(());
        }
        (None, Some(path)) => Magnet::from(&input::read_torrent(path)?),
        (None, None) => return Err(Error::failed("give a .torrent file or --parse URI")),
    };
    if args.json {
        print!("{}", to_json(&magnet));
    } else {
        println!("{magnet}");
    }
    Ok(())
}
