//! `seedbed`, the program, as a library: what its commands and the root
//! package's examples share, so that nothing is written twice.
//!
//! The `seedbed` binary (`cargo install --path crates/cli`) has one
//! subcommand per job: `download`, `seed`, `create`, `info`, `magnet`,
//! `announce`, `scrape`, `tracker`, `probe`, `dht`, plus [`tui`] (a terminal UI for
//! many torrents, all of it here) and `completions`. Each job's seedbed API use is written
//! once, in the root package's example of the same name
//! (`examples/announce.rs`, ...), which the binary compiles in as a module;
//! this library holds the rest:
//!
//! - per command, the clap flags ([`announce::AnnounceArgs`], ...) and the
//!   output, text or `--json` ([`announce::render`], ...);
//! - reading what users type ([`input`]: .torrent files, magnet links,
//!   peers files, sizes such as `10M`) and the one error type ([`Error`],
//!   [`exit`]);
//! - numbers for people ([`format`](mod@format)), progress bars ([`progress`]), log
//!   lines ([`logging`]), peer ids ([`ids`]).
//!
//! It is not an API for other programs: use the protocol crates and
//! `seedbed-session` (or the `seedbed` facade) for that.
//!
//! ```
//! use seedbed_cli::{format, input};
//!
//! assert_eq!(input::parse_size("1.5M"), Ok(1_572_864));
//! assert_eq!(format::bytes(1_572_864), "1.50 MiB");
//! assert_eq!(format::eta_text(3_000, 1_000.0), "3s");
//! ```

pub mod announce;
pub mod create;
pub mod dht;
pub mod download;
mod error;
pub mod format;
pub mod ids;
pub mod info;
pub mod input;
pub mod logging;
pub mod magnet;
pub mod probe;
pub mod progress;
pub mod scrape;
pub mod seed;
pub mod tracker;
pub mod tui;

pub use error::{exit, Error};
