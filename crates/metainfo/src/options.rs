//! Limits and switches for reading a `.torrent` file.

/// Settings for [`Torrent::from_bytes_with`](crate::Torrent::from_bytes_with)
/// and [`Info::from_bytes_with`](crate::Info::from_bytes_with).
///
/// Every limit bounds work or memory before it is spent; each has a
/// documented default that accepts every real torrent we know of. Past a
/// limit, parsing stops with the error named on the setter.
///
/// ```
/// use seedbed_metainfo::ParseOptions;
/// let opts = ParseOptions::new().max_files(10_000).max_pieces(1 << 16);
/// assert_eq!(opts.max_torrent_size_limit(), ParseOptions::DEFAULT_MAX_TORRENT_SIZE);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    pub(crate) max_torrent_size: usize,
    pub(crate) max_files: usize,
    pub(crate) max_pieces: u32,
    pub(crate) max_depth: usize,
    pub(crate) max_duplicate_names: usize,
    pub(crate) verify_piece_layers: bool,
}

impl ParseOptions {
    /// Default input size limit: 10 MiB (10,485,760 bytes), about libtorrent's
    /// `max_buffer_size`. The largest torrent in our corpus is 610 KB.
    pub const DEFAULT_MAX_TORRENT_SIZE: usize = 10 << 20;
    /// Default file limit: 1,000,000 entries (pad files included).
    pub const DEFAULT_MAX_FILES: usize = 1_000_000;
    /// Default piece limit: 2,097,152 (`0x200000`, as libtorrent's
    /// `max_pieces`).
    pub const DEFAULT_MAX_PIECES: u32 = 0x20_0000;
    /// Default bencode nesting limit: 100, as libtorrent's `bdecode`. It also
    /// bounds the depth of a v2 `file tree`.
    pub const DEFAULT_MAX_DEPTH: usize = 100;
    /// Default limit on duplicate file paths renamed (`a.txt` → `a.1.txt`):
    /// 100.
    pub const DEFAULT_MAX_DUPLICATE_NAMES: usize = 100;

    /// The defaults: the limits above, piece layers verified.
    pub const fn new() -> Self {
        ParseOptions {
            max_torrent_size: Self::DEFAULT_MAX_TORRENT_SIZE,
            max_files: Self::DEFAULT_MAX_FILES,
            max_pieces: Self::DEFAULT_MAX_PIECES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_duplicate_names: Self::DEFAULT_MAX_DUPLICATE_NAMES,
            verify_piece_layers: true,
        }
    }

    /// The largest input accepted, in bytes (the whole `.torrent`, or the
    /// `info` bytes for [`Info::from_bytes_with`](crate::Info::from_bytes_with)).
    /// Past it: [`Error::TooLarge`](crate::Error::TooLarge).
    pub const fn max_torrent_size(mut self, bytes: usize) -> Self {
        self.max_torrent_size = bytes;
        self
    }

    /// The most file entries accepted (v1 `files` entries, pad files
    /// included, or v2 `file tree` leaves). Past it:
    /// [`Error::TooManyFiles`](crate::Error::TooManyFiles).
    pub const fn max_files(mut self, files: usize) -> Self {
        self.max_files = files;
        self
    }

    /// The most pieces accepted. Past it:
    /// [`Error::TooManyPieces`](crate::Error::TooManyPieces).
    pub const fn max_pieces(mut self, pieces: u32) -> Self {
        self.max_pieces = pieces;
        self
    }

    /// The deepest bencode nesting accepted (the root dictionary is depth
    /// 1). Past it: [`Error::Bencode`](crate::Error::Bencode) with
    /// `DepthLimit`.
    pub const fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// The most files renamed because their sanitised path repeats an
    /// earlier one. Past it:
    /// [`Error::TooManyDuplicateNames`](crate::Error::TooManyDuplicateNames).
    pub const fn max_duplicate_names(mut self, names: usize) -> Self {
        self.max_duplicate_names = names;
        self
    }

    /// Whether [`Torrent::from_bytes_with`](crate::Torrent::from_bytes_with)
    /// verifies `piece layers` against each file's `pieces root` (BEP 52
    /// merkle check, see [`Torrent::verify_piece_layers`](crate::Torrent::verify_piece_layers)).
    /// On by default; the cost is one SHA-256 per piece of each v2 file.
    pub const fn verify_piece_layers(mut self, on: bool) -> Self {
        self.verify_piece_layers = on;
        self
    }

    /// The configured input size limit.
    pub const fn max_torrent_size_limit(&self) -> usize {
        self.max_torrent_size
    }

    pub(crate) fn decode_options(&self) -> seedbed_bencode::DecodeOptions {
        seedbed_bencode::DecodeOptions::new()
            .allow_trailing(true)
            .max_depth(self.max_depth)
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::new()
    }
}
