//! The crate's one error type.

/// Everything that can go wrong decoding or encoding peer wire data.
///
/// Stream offsets (`offset`) count bytes from the start of what the decoder
/// has consumed on this connection (for the message decoder: from the first
/// byte after the handshake), and point at the first byte of the offending
/// frame's length prefix. Errors from one-shot parsers of extension payloads
/// carry offsets within that payload.
///
/// Every variant except [`Error::Io`] is a protocol violation by the peer
/// (or a limit of ours that it exceeded); an unknown message id is *not* an
/// error (it decodes to [`Message::Unknown`](crate::Message::Unknown)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The handshake does not start with `\x13BitTorrent protocol`
    /// (BEP 3, "handshake").
    #[error("not a BitTorrent handshake: byte {offset} is {found:#04x}, expected {expected:#04x}")]
    InvalidProtocol {
        /// Offset of the first mismatching byte (0..20).
        offset: usize,
        /// The byte expected there.
        expected: u8,
        /// The byte found.
        found: u8,
    },

    /// A message length prefix is larger than
    /// [`Limits::max_message_len`](crate::Limits::max_message_len).
    #[error("message at offset {offset} is {len} bytes long, more than the limit of {max}")]
    MessageTooLong {
        /// Stream offset of the length prefix.
        offset: u64,
        /// The length prefix (bytes after the prefix).
        len: u32,
        /// The limit in force.
        max: u32,
    },

    /// A fixed-size message (or one with a minimum size) has the wrong
    /// length prefix.
    #[error("{name} message at offset {offset} has length {found}, expected {expected}")]
    WrongLength {
        /// Stream offset of the length prefix.
        offset: u64,
        /// Message name, e.g. `"request"`.
        name: &'static str,
        /// The expected length prefix value (id byte included); for
        /// messages with a variable tail this is the minimum.
        expected: u32,
        /// The length prefix found.
        found: u32,
    },

    /// A `request`, `cancel`, `reject request` or `piece` names a block
    /// longer than [`Limits::max_block_len`](crate::Limits::max_block_len).
    #[error(
        "{name} at offset {offset} is for a block of {len} bytes, more than the limit of {max}"
    )]
    BlockTooLong {
        /// Stream offset of the length prefix.
        offset: u64,
        /// Message name.
        name: &'static str,
        /// Block length in bytes.
        len: u32,
        /// The limit in force.
        max: u32,
    },

    /// A `bitfield` payload does not have exactly `ceil(num_pieces / 8)`
    /// bytes (BEP 3, "bitfield").
    #[error("bitfield at offset {offset} has {found} bytes, the torrent needs {expected}")]
    BitfieldLength {
        /// Stream offset of the length prefix (0 for [`Bitfield`](crate::Bitfield) constructors).
        offset: u64,
        /// Bytes needed for the torrent's piece count.
        expected: u32,
        /// Bytes found.
        found: u32,
    },

    /// A `bitfield` has a spare bit (past the last piece) set (BEP 3).
    #[error("bitfield at offset {offset} has spare bits set past piece {num_pieces}")]
    BitfieldSpareBits {
        /// Stream offset of the length prefix (0 for [`Bitfield`](crate::Bitfield) constructors).
        offset: u64,
        /// The torrent's piece count.
        num_pieces: u32,
    },

    /// A message names a piece index not below the torrent's piece count
    /// (checked only when [`Limits::num_pieces`](crate::Limits::num_pieces) is set).
    #[error("{name} at offset {offset} names piece {index}, the torrent has {num_pieces}")]
    PieceOutOfRange {
        /// Stream offset of the length prefix.
        offset: u64,
        /// Message name.
        name: &'static str,
        /// The piece index found.
        index: u32,
        /// The torrent's piece count.
        num_pieces: u32,
    },

    /// An `extended` message (BEP 10) is longer than
    /// [`Limits::max_extended_len`](crate::Limits::max_extended_len).
    #[error(
        "extended message at offset {offset} is {len} bytes long, more than the limit of {max}"
    )]
    ExtendedTooLong {
        /// Stream offset of the length prefix.
        offset: u64,
        /// The length prefix.
        len: u32,
        /// The limit in force.
        max: u32,
    },

    /// A `hashes` message (BEP 52) carries a hash list whose length is not a
    /// multiple of 32 bytes.
    #[error("hashes message at offset {offset} carries {len} hash bytes, not a multiple of 32")]
    HashesLength {
        /// Stream offset of the length prefix.
        offset: u64,
        /// Bytes of hashes found.
        len: usize,
    },

    /// A `hashes` message (BEP 52) carries more hashes than
    /// [`Limits::max_hashes`](crate::Limits::max_hashes).
    #[error(
        "hashes message at offset {offset} carries {count} hashes, more than the limit of {max}"
    )]
    TooManyHashes {
        /// Stream offset of the length prefix.
        offset: u64,
        /// Hashes found.
        count: u32,
        /// The limit in force.
        max: u32,
    },

    /// A `hash request` (or `hash reject`, or the request echoed in
    /// `hashes`) breaks BEP 52's rules or our limit
    /// ([`HashRequest::validate`](crate::HashRequest::validate)).
    #[error("invalid hash request: {reason}")]
    InvalidHashRequest {
        /// What is wrong.
        reason: &'static str,
    },

    /// A `hashes` message carries another number of hashes than its request
    /// asks for ([`Hashes::split`](crate::Hashes::split)).
    #[error("hashes message carries {found} hashes, its request asks for {expected}")]
    HashesCount {
        /// Base plus proof hashes the request asks for.
        expected: u64,
        /// Hashes found.
        found: usize,
    },

    /// The input ended inside a message or handshake.
    #[error("input ends inside a message: {needed} bytes needed at offset {offset}, {available} available")]
    Truncated {
        /// Stream offset where the incomplete frame starts.
        offset: u64,
        /// Bytes the frame needs (length prefix included), or at least 4
        /// when not even the length prefix arrived.
        needed: u64,
        /// Bytes available.
        available: u64,
    },

    /// An extension payload (BEP 9, 10, 11) is not valid bencode.
    #[error("{message}: invalid bencode: {source}")]
    Bencode {
        /// Which message, e.g. `"extended handshake"`.
        message: &'static str,
        /// The bencode error, with its byte offset in the payload.
        #[source]
        source: seedbed_bencode::Error,
    },

    /// An extension payload is bencode but breaks its BEP's rules.
    #[error("{message}: {reason} (at byte {offset} of the payload)")]
    InvalidExtension {
        /// Which message, e.g. `"ut_pex"`.
        message: &'static str,
        /// Byte offset within the extension payload.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },

    /// A `ut_metadata` size or piece is past
    /// [`Limits::max_metadata_size`](crate::Limits::max_metadata_size) or
    /// the 16 KiB piece size (BEP 9).
    #[error("ut_metadata: {what} is {found} bytes, more than the limit of {max}")]
    MetadataTooLarge {
        /// `"total_size"`, `"metadata_size"` or `"piece data"`.
        what: &'static str,
        /// The size found.
        found: u64,
        /// The limit in force.
        max: u64,
    },

    /// We tried to send an extension message the peer did not advertise in
    /// its extended handshake `m` dictionary (BEP 10).
    #[error("the peer does not support extension {name:?}")]
    ExtensionNotSupported {
        /// Extension name, e.g. `"ut_metadata"`.
        name: String,
    },

    /// Reading from or writing to the transport failed (codec only).
    #[cfg(feature = "codec")]
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The stream offset of the offending frame, when the error has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::MessageTooLong { offset, .. }
            | Error::WrongLength { offset, .. }
            | Error::BlockTooLong { offset, .. }
            | Error::BitfieldLength { offset, .. }
            | Error::BitfieldSpareBits { offset, .. }
            | Error::PieceOutOfRange { offset, .. }
            | Error::ExtendedTooLong { offset, .. }
            | Error::HashesLength { offset, .. }
            | Error::TooManyHashes { offset, .. }
            | Error::Truncated { offset, .. } => Some(*offset),
            Error::InvalidProtocol { offset, .. } | Error::InvalidExtension { offset, .. } => {
                Some(*offset as u64)
            }
            Error::Bencode { source, .. } => source.offset().map(|o| o as u64),
            _ => None,
        }
    }
}
