//! `seedbed`: download, seed, create and inspect torrents, talk to trackers
//! and peers, and watch many torrents in a terminal UI.
//!
//! Each job's code is the root package's example of the same name, compiled
//! in here as a module (`#[path]`), so the program and the examples share
//! one implementation: `seedbed announce ...` runs exactly what
//! `cargo run --example announce -- ...` runs.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

// Each example's own `main` is not used here.
#[allow(dead_code)]
#[path = "../../../examples/announce.rs"]
mod announce;
#[allow(dead_code)]
#[path = "../../../examples/create.rs"]
mod create;
#[allow(dead_code)]
#[path = "../../../examples/dht.rs"]
mod dht;
#[allow(dead_code)]
#[path = "../../../examples/download.rs"]
mod download;
#[allow(dead_code)]
#[path = "../../../examples/info.rs"]
mod info;
#[allow(dead_code)]
#[path = "../../../examples/magnet.rs"]
mod magnet;
#[allow(dead_code)]
#[path = "../../../examples/peer-probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "../../../examples/scrape.rs"]
mod scrape;
#[allow(dead_code)]
#[path = "../../../examples/seed.rs"]
mod seed;
#[allow(dead_code)]
#[path = "../../../examples/tracker.rs"]
mod tracker;

/// seedbed: a BitTorrent client and toolbox.
///
/// Run `seedbed COMMAND --help` for a command's flags. Errors go to stderr
/// as one line starting with `error:`; the exit status is then 1 (2 for
/// bad flags).
#[derive(Debug, Parser)]
#[command(name = "seedbed", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Download(seedbed_cli::download::DownloadArgs),
    Seed(seedbed_cli::seed::SeedArgs),
    Create(seedbed_cli::create::CreateArgs),
    Info(seedbed_cli::info::InfoArgs),
    Magnet(seedbed_cli::magnet::MagnetArgs),
    Announce(seedbed_cli::announce::AnnounceArgs),
    Scrape(seedbed_cli::scrape::ScrapeArgs),
    Tracker(seedbed_cli::tracker::TrackerArgs),
    #[command(name = "probe", alias = "peer-probe")]
    Probe(seedbed_cli::probe::ProbeArgs),
    Dht(seedbed_cli::dht::DhtArgs),
    Tui(seedbed_cli::tui::TuiArgs),
    /// Print a shell completion script for seedbed on stdout.
    ///
    /// For example `seedbed completions bash > ~/.local/share/bash-completion/completions/seedbed`
    /// or `seedbed completions zsh > ~/.zfunc/_seedbed`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Download(args) => block_on(download::run(args)),
        Command::Seed(args) => block_on(seed::run(args)),
        Command::Create(args) => seedbed_cli::exit(create::run(args)),
        Command::Info(args) => info::run(args),
        Command::Magnet(args) => seedbed_cli::exit(magnet::run(args)),
        Command::Announce(args) => block_on(announce::run(args)),
        Command::Scrape(args) => block_on(scrape::run(args)),
        Command::Tracker(args) => block_on(tracker::run(args)),
        Command::Probe(args) => block_on(probe::run(args)),
        Command::Dht(args) => block_on(dht::run(args)),
        Command::Tui(args) => seedbed_cli::exit(seedbed_cli::tui::run(args)),
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "seedbed", &mut out);
            let _ = out.flush();
            ExitCode::SUCCESS
        }
    }
}

/// Runs an async command on a new multi-threaded runtime.
fn block_on(
    command: impl std::future::Future<Output = Result<(), seedbed_cli::Error>>,
) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => seedbed_cli::exit(rt.block_on(command)),
        Err(e) => seedbed_cli::exit(Err(seedbed_cli::Error::failed(format!(
            "cannot start the async runtime: {e}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
