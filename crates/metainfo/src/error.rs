//! The crate's one error type.

/// Every error of `seedbed-metainfo`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hex string of the wrong length or with a non-hex character.
    #[error("invalid hex: expected {expected} hex digits, {reason}")]
    InvalidHex {
        /// How many hex digits were expected (40 or 64).
        expected: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A byte slice of the wrong length for an identifier.
    #[error("invalid length: expected {expected} bytes, found {found}")]
    InvalidLength {
        /// Expected length in bytes.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The bencode layer rejected the input.
    #[error(transparent)]
    Bencode(#[from] seedbed_bencode::Error),
    /// A magnet link (BEP 9) that cannot be used; see
    /// [`Magnet::parse_bytes`](crate::Magnet::parse_bytes).
    #[error("invalid magnet link{}: {kind}", if param.is_empty() { String::new() } else { format!(" (parameter `{param}`)") })]
    InvalidMagnet {
        /// What is wrong.
        kind: crate::MagnetErrorKind,
        /// The parameter name as written (`xt`, `tr`, …), empty when the
        /// problem is not in one parameter.
        param: String,
    },
    /// Not `host:port`, `ipv4:port` or `[ipv6]:port`.
    #[error("invalid host:port address {input:?}")]
    InvalidHostPort {
        /// The text given.
        input: String,
    },
    /// Reading the content of a torrent being created failed.
    #[error("reading {path}: {message}")]
    Io {
        /// The file (or directory) being read.
        path: String,
        /// The kind of IO error.
        kind: std::io::ErrorKind,
        /// The IO error's message.
        message: String,
    },
    /// The content given to the torrent creator cannot make a torrent (no
    /// files, a file that changed size while hashing, …).
    #[error("cannot create torrent: {reason}")]
    InvalidCreateInput {
        /// What is wrong.
        reason: String,
    },
}
