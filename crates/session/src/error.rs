//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;

use seedbed_metainfo::InfoHash;

/// Every error of `seedbed-session`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or socket operation failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or address.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A path in the torrent would leave the download folder, or the
    /// download folder is unusable.
    #[error("unsafe or unusable path {path}")]
    Path {
        /// The path.
        path: PathBuf,
    },
    /// The torrent cannot be handled by this engine yet.
    #[error("unsupported torrent: {0}")]
    Unsupported(&'static str),
    /// The torrent is already in the session.
    #[error("torrent {0} is already in the session")]
    DuplicateTorrent(InfoHash),
    /// The session or torrent has shut down.
    #[error("the session has shut down")]
    Shutdown,
    /// The torrent was removed from the session.
    #[error("the torrent was removed")]
    Removed,
    /// No peer could be reached within the configured time.
    #[error("no peer reachable within {seconds} s")]
    NoPeers {
        /// The configured time in seconds.
        seconds: u64,
    },
    /// A peer broke the protocol.
    #[error("peer {addr}: {reason}")]
    Peer {
        /// The peer's address.
        addr: SocketAddr,
        /// What it did.
        reason: String,
    },
    /// The peer wire layer rejected a message.
    #[error(transparent)]
    Wire(#[from] seedbed_peer_wire::Error),
    /// The metainfo layer rejected a torrent.
    #[error(transparent)]
    Metainfo(#[from] seedbed_metainfo::Error),
    /// Resume data that cannot be used: not bencode, another format or
    /// version, or not the shape of the torrent (the bencode error gives
    /// the byte offset or key path). Never fatal: the data on disk is
    /// checked instead.
    #[error("resume data: {0}")]
    Resume(#[source] seedbed_bencode::Error),
    /// A file index past the torrent's files (indexes count the files that
    /// are not pad files, from 0).
    #[error("file {index} does not exist: the torrent has {files} files")]
    FileIndex {
        /// The index asked for.
        index: usize,
        /// How many files the torrent has.
        files: usize,
    },
    /// A piece index past the torrent's pieces.
    #[error("piece {piece} does not exist: the torrent has {pieces} pieces")]
    PieceIndex {
        /// The index asked for.
        piece: u32,
        /// How many pieces the torrent has.
        pieces: u32,
    },
    /// The torrent's info dictionary is not known yet (a magnet link whose
    /// metadata is being fetched).
    #[error("the torrent's metadata is not known yet")]
    NoMetadata,
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
