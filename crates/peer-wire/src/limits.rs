//! Decoder limits: every length read from the wire is checked against these
//! before anything is allocated for it.

/// The standard block size, 16 KiB (16384 bytes): what every current client
/// requests and what BEP 52 ("request") says implementations expect.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// Limits for the message decoder ([`MessageDecoder`](crate::MessageDecoder),
/// [`MessageCodec`](crate::MessageCodec)) and the extension parsers.
///
/// Each is checked as soon as the bytes that carry the length have arrived,
/// before the decoder reserves buffer space for the rest of the frame.
///
/// | limit | default | why |
/// |---|---|---|
/// | [`max_message_len`](Self::max_message_len) | 2 MiB | the length prefix of any message; fits the bitfield of a 16-million-piece torrent |
/// | [`max_block_len`](Self::max_block_len) | 128 KiB | block length in `request`/`cancel`/`reject request`, and data in `piece` |
/// | [`num_pieces`](Self::num_pieces) | unknown | when set, a `bitfield` must have exactly `ceil(n / 8)` bytes, and piece indices must be `< n` |
/// | [`max_extended_len`](Self::max_extended_len) | 1 MiB | length prefix of an `extended` message (BEP 10) |
/// | [`max_metadata_size`](Self::max_metadata_size) | 16 MiB | `metadata_size` / `total_size` of `ut_metadata` (BEP 9) |
/// | [`max_hashes`](Self::max_hashes) | 576 | hashes in one `hashes` message (BEP 52): 512 base hashes, the BEP's advised maximum, plus 64 proof hashes, more than any file's tree has layers |
///
/// On the block allowance: we request [`BLOCK_LEN`] (16 KiB) blocks, as
/// every current client does, but the default accepts blocks up to eight
/// times that, 128 KiB, for older clients that asked for bigger blocks; it
/// still bounds memory per message. Set `max_block_len(BLOCK_LEN)` to be
/// strict.
///
/// ```
/// use seedbed_peer_wire::{Limits, BLOCK_LEN};
/// let limits = Limits::new().num_pieces(1313).max_block_len(BLOCK_LEN);
/// assert_eq!(limits.bitfield_len(), Some(165));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_message_len: u32,
    max_block_len: u32,
    num_pieces: Option<u32>,
    max_extended_len: u32,
    max_metadata_size: u32,
    max_hashes: u32,
}

impl Limits {
    /// Default [`max_message_len`](Self::max_message_len): 2 MiB.
    pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 2 * 1024 * 1024;
    /// Default [`max_block_len`](Self::max_block_len): 128 KiB.
    pub const DEFAULT_MAX_BLOCK_LEN: u32 = 128 * 1024;
    /// Default [`max_extended_len`](Self::max_extended_len): 1 MiB.
    pub const DEFAULT_MAX_EXTENDED_LEN: u32 = 1024 * 1024;
    /// Default [`max_metadata_size`](Self::max_metadata_size): 16 MiB.
    pub const DEFAULT_MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;
    /// Default [`max_hashes`](Self::max_hashes): 576 (512 + 64).
    pub const DEFAULT_MAX_HASHES: u32 = 512 + 64;

    /// The defaults (see the table above); the piece count is unknown.
    pub const fn new() -> Self {
        Limits {
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
            max_block_len: Self::DEFAULT_MAX_BLOCK_LEN,
            num_pieces: None,
            max_extended_len: Self::DEFAULT_MAX_EXTENDED_LEN,
            max_metadata_size: Self::DEFAULT_MAX_METADATA_SIZE,
            max_hashes: Self::DEFAULT_MAX_HASHES,
        }
    }

    /// The largest length prefix accepted for any message, in bytes (the
    /// id byte and payload, not the 4-byte prefix itself). Past it:
    /// [`Error::MessageTooLong`](crate::Error::MessageTooLong).
    pub const fn max_message_len(mut self, bytes: u32) -> Self {
        self.max_message_len = bytes;
        self
    }

    /// The largest block, in bytes, that a `request`, `cancel` or
    /// `reject request` may name and a `piece` may carry. Past it:
    /// [`Error::BlockTooLong`](crate::Error::BlockTooLong).
    pub const fn max_block_len(mut self, bytes: u32) -> Self {
        self.max_block_len = bytes;
        self
    }

    /// The torrent's piece count, once known (not for a magnet link before
    /// its metadata arrived). With it, a `bitfield` must be exactly
    /// `ceil(n / 8)` bytes with zero spare bits
    /// ([`Error::BitfieldLength`](crate::Error::BitfieldLength),
    /// [`Error::BitfieldSpareBits`](crate::Error::BitfieldSpareBits)) and
    /// piece indices must be below `n`
    /// ([`Error::PieceOutOfRange`](crate::Error::PieceOutOfRange)).
    pub const fn num_pieces(mut self, n: u32) -> Self {
        self.num_pieces = Some(n);
        self
    }

    /// The largest length prefix accepted for an `extended` message (BEP 10),
    /// in bytes. Past it: [`Error::ExtendedTooLong`](crate::Error::ExtendedTooLong).
    /// [`max_message_len`](Self::max_message_len) applies too.
    pub const fn max_extended_len(mut self, bytes: u32) -> Self {
        self.max_extended_len = bytes;
        self
    }

    /// The largest metadata (`info` dictionary) size, in bytes, accepted in
    /// an extended handshake's `metadata_size` or a `ut_metadata` data
    /// message's `total_size` (BEP 9). Past it:
    /// [`Error::MetadataTooLarge`](crate::Error::MetadataTooLarge).
    pub const fn max_metadata_size(mut self, bytes: u32) -> Self {
        self.max_metadata_size = bytes;
        self
    }

    /// The most 32-byte hashes one `hashes` message (BEP 52) may carry,
    /// base and proof hashes together; the decoder checks it from the
    /// length prefix, before the payload is read. Past it:
    /// [`Error::TooManyHashes`](crate::Error::TooManyHashes). A `hash
    /// request` asks for at most [`HashRequest::MAX_LENGTH`](crate::HashRequest::MAX_LENGTH)
    /// base hashes by default, and a file's tree has fewer than 64 layers.
    pub const fn max_hashes(mut self, hashes: u32) -> Self {
        self.max_hashes = hashes;
        self
    }

    /// See [`max_hashes`](Self::max_hashes).
    pub const fn get_max_hashes(&self) -> u32 {
        self.max_hashes
    }

    /// See [`max_message_len`](Self::max_message_len).
    pub const fn get_max_message_len(&self) -> u32 {
        self.max_message_len
    }

    /// See [`max_block_len`](Self::max_block_len).
    pub const fn get_max_block_len(&self) -> u32 {
        self.max_block_len
    }

    /// See [`num_pieces`](Self::num_pieces).
    pub const fn get_num_pieces(&self) -> Option<u32> {
        self.num_pieces
    }

    /// See [`max_extended_len`](Self::max_extended_len).
    pub const fn get_max_extended_len(&self) -> u32 {
        self.max_extended_len
    }

    /// See [`max_metadata_size`](Self::max_metadata_size).
    pub const fn get_max_metadata_size(&self) -> u32 {
        self.max_metadata_size
    }

    /// The exact bitfield payload length in bytes, `ceil(num_pieces / 8)`,
    /// when the piece count is known.
    pub const fn bitfield_len(&self) -> Option<u32> {
        match self.num_pieces {
            Some(n) => Some(n.div_ceil(8)),
            None => None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}
