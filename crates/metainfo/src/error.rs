//! The crate's one error type.

/// Every error of `seedbed-metainfo`.
///
/// Errors about a value in the input name its key path (`info.files[3].length`)
/// or its byte offset; errors about a file of the torrent name the file's
/// index in [`Info::files`](crate::Info::files) where one is known.
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
    /// The bencode layer rejected the input (decoding errors carry a byte
    /// offset), or a key is missing or has the wrong type (these carry the
    /// key path, for example `info.piece length`).
    #[error(transparent)]
    Bencode(#[from] seedbed_bencode::Error),
    /// The input is larger than [`ParseOptions::max_torrent_size`](crate::ParseOptions::max_torrent_size).
    #[error("input of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The root value (or the `info` value given to
    /// [`Info::from_bytes`](crate::Info::from_bytes)) is not a dictionary.
    #[error("{path}: expected a dictionary, found {found}")]
    NotADictionary {
        /// `<root>` or `info`.
        path: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// `meta version` is present but not 2 (BEP 52: check it first).
    #[error("unsupported meta version {version}")]
    UnsupportedMetaVersion {
        /// The value found.
        version: i64,
    },
    /// `piece length` is not acceptable: not positive, over `u32::MAX`, or
    /// for v2 not a power of two of at least 16 KiB.
    #[error("invalid piece length {piece_length}: {reason}")]
    InvalidPieceLength {
        /// The value found.
        piece_length: i64,
        /// Why it is not acceptable.
        reason: &'static str,
    },
    /// A value of the right type that breaks a rule of the format, at a key
    /// path.
    #[error("{path}: {reason}")]
    Invalid {
        /// Key path of the value, like `info.files[2].length`.
        path: String,
        /// Why it is not acceptable.
        reason: &'static str,
    },
    /// The `pieces` string is not a multiple of 20 bytes long (BEP 3).
    #[error("'pieces' is {len} bytes long, not a multiple of 20")]
    PiecesNotMultipleOf20 {
        /// Length of `pieces` in bytes.
        len: usize,
    },
    /// The number of v1 piece hashes does not match the torrent size.
    #[error("'pieces' holds {found} hashes but the torrent size needs {expected}")]
    PieceCountMismatch {
        /// ceil(total size / piece length).
        expected: u64,
        /// Hashes found (`pieces` length / 20).
        found: u64,
    },
    /// More pieces than [`ParseOptions::max_pieces`](crate::ParseOptions::max_pieces).
    #[error("{count} pieces, over the limit of {limit}")]
    TooManyPieces {
        /// Pieces the torrent needs.
        count: u64,
        /// The configured limit.
        limit: u32,
    },
    /// More files than [`ParseOptions::max_files`](crate::ParseOptions::max_files).
    #[error("more than {limit} files")]
    TooManyFiles {
        /// The configured limit.
        limit: usize,
    },
    /// More duplicate file paths to rename than
    /// [`ParseOptions::max_duplicate_names`](crate::ParseOptions::max_duplicate_names).
    #[error("more than {limit} duplicate file names")]
    TooManyDuplicateNames {
        /// The configured limit.
        limit: usize,
    },
    /// The `files` list or the `file tree` holds no file.
    #[error("the torrent has no files")]
    NoFiles,
    /// The torrent's total size is 0 or does not fit in 63 bits.
    #[error("invalid total size: {reason}")]
    InvalidTotalSize {
        /// Why.
        reason: &'static str,
    },
    /// A non-empty v2 file has no `pieces root`, or it is all zeros (BEP 52).
    #[error("file {file} ({path}) has no valid 'pieces root'")]
    MissingPiecesRoot {
        /// Index of the file in [`Info::files`](crate::Info::files) order.
        file: usize,
        /// The file's path.
        path: String,
    },
    /// A v2 `file tree` entry carries the pad attribute; pad files may not
    /// appear in v2 metadata (BEP 47, BEP 52).
    #[error("v2 file tree entry {path} is a pad file")]
    PadFileInV2 {
        /// Key path of the entry.
        path: String,
    },
    /// The v1 file list and the v2 file tree of a hybrid torrent disagree
    /// (BEP 52, "Upgrade path").
    #[error("hybrid torrent: v1 and v2 file lists disagree at v1 file {file}: {reason}")]
    InconsistentHybrid {
        /// Index in the v1 `files` list where they disagree.
        file: usize,
        /// What differs.
        reason: &'static str,
    },
    /// A v2 (or hybrid) `info` dictionary is not canonical bencode
    /// (unsorted keys, leading zeros). Its info hash would be ambiguous, so
    /// it is rejected, as libtorrent does.
    #[error("v2 info dictionary is not canonical bencode at byte {offset}")]
    NonCanonicalV2 {
        /// Byte offset in the input of the first non-canonical item.
        offset: usize,
    },
    /// A `piece layers` entry fails the BEP 52 checks: key not 32 bytes,
    /// value not a string, wrong size, no matching file, or its merkle
    /// root differs from the file's `pieces root`.
    #[error("invalid piece layer{}: {reason}", file.map(|f| format!(" for file {f}")).unwrap_or_default())]
    InvalidPieceLayer {
        /// The file it belongs to, when one matches.
        file: Option<usize>,
        /// What is wrong.
        reason: &'static str,
    },
    /// The strict check ([`Info::check_strict`](crate::Info::check_strict))
    /// found something lenient reading repaired.
    #[error("strict check: {0}")]
    Strict(crate::Warning),
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
