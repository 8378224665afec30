//! [`Error`]: everything a command can fail with, as one message for the
//! user, and [`exit`], which turns a command's result into its exit status.

use std::path::PathBuf;
use std::process::ExitCode;

/// Why a command failed. Its `Display` is the one line printed after
/// `error: ` on stderr.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid .torrent (BEP 3, BEP 52).
    #[error("{}: not a valid torrent: {source}", path.display())]
    Torrent {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: seedbed::metainfo::Error,
    },
    /// A magnet link did not parse (BEP 9, BEP 53).
    #[error("bad magnet link: {0}")]
    Magnet(#[source] seedbed::metainfo::Error),
    /// A line of a peers file is not an `ip:port` address.
    #[error("{}:{line}: bad address {text:?}", path.display())]
    PeerAddress {
        /// The peers file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The text of the line.
        text: String,
    },
    /// Making a torrent failed.
    #[error(transparent)]
    Metainfo(#[from] seedbed::metainfo::Error),
    /// A tracker request failed or the tracker refused it.
    #[error(transparent)]
    Tracker(#[from] seedbed::tracker::Error),
    /// The session failed.
    #[error(transparent)]
    Session(#[from] seedbed::session::Error),
    /// A DHT request failed (no answer, an error reply, a limit).
    #[error(transparent)]
    Dht(#[from] seedbed::dht::Error),
    /// Another failure, said in words (a peer that does not answer, a
    /// download that found no peer, ...).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// An [`Error::Failed`] with this message.
    pub fn failed(msg: impl Into<String>) -> Error {
        Error::Failed(msg.into())
    }
}

/// The exit status for a command's result: 0 on success; otherwise prints
/// `error: <message>` on stderr and returns 1.
pub fn exit(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
