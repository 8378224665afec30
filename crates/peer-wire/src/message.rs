//! Peer wire messages (BEP 3, 5, 6, 10, 52): types, parsing of one complete
//! frame, encoding.
//!
//! Every message is `<length: u32 BE><id: u8><payload>`, the length counting
//! the id and payload; a length of 0 is a keep-alive. All integers are 4-byte
//! big-endian unless noted.

use bytes::{BufMut, Bytes};

use crate::error::Error;
use crate::limits::Limits;

/// Message ids (BEP 3, 5, 6, 10, 52).
pub mod id {
    /// `choke` (BEP 3).
    pub const CHOKE: u8 = 0;
    /// `unchoke` (BEP 3).
    pub const UNCHOKE: u8 = 1;
    /// `interested` (BEP 3).
    pub const INTERESTED: u8 = 2;
    /// `not interested` (BEP 3).
    pub const NOT_INTERESTED: u8 = 3;
    /// `have` (BEP 3).
    pub const HAVE: u8 = 4;
    /// `bitfield` (BEP 3).
    pub const BITFIELD: u8 = 5;
    /// `request` (BEP 3).
    pub const REQUEST: u8 = 6;
    /// `piece` (BEP 3).
    pub const PIECE: u8 = 7;
    /// `cancel` (BEP 3).
    pub const CANCEL: u8 = 8;
    /// `port` (BEP 5).
    pub const PORT: u8 = 9;
    /// `suggest piece` (BEP 6).
    pub const SUGGEST_PIECE: u8 = 0x0d;
    /// `have all` (BEP 6).
    pub const HAVE_ALL: u8 = 0x0e;
    /// `have none` (BEP 6).
    pub const HAVE_NONE: u8 = 0x0f;
    /// `reject request` (BEP 6).
    pub const REJECT_REQUEST: u8 = 0x10;
    /// `allowed fast` (BEP 6).
    pub const ALLOWED_FAST: u8 = 0x11;
    /// `extended` (BEP 10).
    pub const EXTENDED: u8 = 20;
    /// `hash request` (BEP 52).
    pub const HASH_REQUEST: u8 = 21;
    /// `hashes` (BEP 52).
    pub const HASHES: u8 = 22;
    /// `hash reject` (BEP 52).
    pub const HASH_REJECT: u8 = 23;
}

/// A block of a piece: the payload of `request`, `cancel` (BEP 3) and
/// `reject request` (BEP 6). 12 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset of the block within the piece.
    pub begin: u32,
    /// Block length in bytes (normally [`BLOCK_LEN`](crate::BLOCK_LEN)).
    pub length: u32,
}

/// The payload of `piece` (BEP 3): 8 bytes of header, then the data.
///
/// When decoded, `data` is a zero-copy slice of the decoder's read buffer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    /// Piece index.
    pub piece: u32,
    /// Byte offset of the block within the piece.
    pub begin: u32,
    /// The block's bytes.
    pub data: Bytes,
}

impl Block {
    /// Length of a `piece` message header in bytes: 4 (length prefix) +
    /// 1 (id) + 4 (index) + 4 (begin).
    pub const HEADER_LEN: usize = 13;

    /// Writes the 13-byte `piece` message header for this block, without
    /// the data: for a writer that sends the header and then
    /// [`data`](Self::data) with a vectored write, never copying the block.
    /// The header followed by the data is exactly [`Message::encode`]'s
    /// output.
    ///
    /// # Panics
    /// When the data is longer than `u32::MAX - 9` bytes.
    pub fn encode_header<B: BufMut + ?Sized>(&self, dst: &mut B) {
        let len = u32::try_from(9 + self.data.len()).expect("block longer than u32::MAX bytes");
        dst.put_u32(len);
        dst.put_u8(id::PIECE);
        dst.put_u32(self.piece);
        dst.put_u32(self.begin);
    }

    /// The request this block answers.
    pub fn request(&self) -> BlockRequest {
        BlockRequest {
            piece: self.piece,
            begin: self.begin,
            length: self.data.len() as u32,
        }
    }
}

/// The payload of `hash request` and `hash reject` (BEP 52, "peer
/// protocol"): 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The root hash of the file's merkle tree (32 bytes).
    pub pieces_root: [u8; 32],
    /// Layers above the leaf layer where the hash list starts (0: leaves).
    pub base_layer: u32,
    /// Index of the first hash in the base layer; a multiple of `length`.
    pub index: u32,
    /// Number of hashes from the base layer; a power of two, at least 2.
    pub length: u32,
    /// Number of ancestor layers of proof hashes to include.
    pub proof_layers: u32,
}

/// The payload of `hashes` (BEP 52): the 48-byte request, then 32-byte
/// hashes (base layer first, then the uncle hashes towards the root).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hashes {
    /// The request this answers.
    pub request: HashRequest,
    /// The hashes, a multiple of 32 bytes; zero-copy when decoded.
    pub hashes: Bytes,
}

impl Hashes {
    /// The hashes, 32 bytes each.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.hashes.chunks_exact(32)
    }
}

/// A peer wire message (BEP 3 and the extensions of BEP 5, 6, 10 and 52).
///
/// Payloads with variable length (`bitfield`, `piece`, `extended`, `hashes`,
/// unknown) are [`Bytes`] slices of the read buffer when decoded: never
/// copied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// Length 0, no id (BEP 3).
    KeepAlive,
    /// id 0, no payload (BEP 3).
    Choke,
    /// id 1, no payload (BEP 3).
    Unchoke,
    /// id 2, no payload (BEP 3).
    Interested,
    /// id 3, no payload (BEP 3).
    NotInterested,
    /// id 4: piece index (BEP 3).
    Have {
        /// Piece index.
        piece: u32,
    },
    /// id 5: one bit per piece, high bit first, spare bits zero (BEP 3).
    /// Validate with [`Bitfield::from_payload`](crate::Bitfield::from_payload);
    /// the decoder checks the length (and spare bits) when
    /// [`Limits::num_pieces`] is set.
    Bitfield(Bytes),
    /// id 6: piece, begin, length (BEP 3).
    Request(BlockRequest),
    /// id 7: piece, begin, data (BEP 3).
    Piece(Block),
    /// id 8: piece, begin, length (BEP 3).
    Cancel(BlockRequest),
    /// id 9: the sender's DHT port, 2 bytes (BEP 5).
    Port(u16),
    /// id 13: piece index (BEP 6).
    SuggestPiece {
        /// Piece index.
        piece: u32,
    },
    /// id 14, no payload (BEP 6).
    HaveAll,
    /// id 15, no payload (BEP 6).
    HaveNone,
    /// id 16: piece, begin, length (BEP 6).
    RejectRequest(BlockRequest),
    /// id 17: piece index (BEP 6).
    AllowedFast {
        /// Piece index.
        piece: u32,
    },
    /// id 20: extended message id (1 byte), then its payload (BEP 10).
    /// Parse the payload with
    /// [`ExtensionMessage::decode`](crate::ExtensionMessage::decode).
    Extended {
        /// Extended message id: 0 is the extended handshake, others are
        /// *our* ids for messages the peer sends us.
        id: u8,
        /// The payload after the extended id byte.
        payload: Bytes,
    },
    /// id 21 (BEP 52).
    HashRequest(HashRequest),
    /// id 22 (BEP 52).
    Hashes(Hashes),
    /// id 23 (BEP 52).
    HashReject(HashRequest),
    /// Any other id: kept, never an error by itself.
    Unknown {
        /// The message id.
        id: u8,
        /// The payload after the id.
        payload: Bytes,
    },
}

/// Fixed payload lengths (after the id byte), or the minimum for messages
/// with a variable tail.
fn payload_shape(id: u8) -> Option<(&'static str, usize, bool)> {
    // (name, payload length, is_exact)
    Some(match id {
        id::CHOKE => ("choke", 0, true),
        id::UNCHOKE => ("unchoke", 0, true),
        id::INTERESTED => ("interested", 0, true),
        id::NOT_INTERESTED => ("not interested", 0, true),
        id::HAVE => ("have", 4, true),
        id::BITFIELD => ("bitfield", 0, false),
        id::REQUEST => ("request", 12, true),
        id::PIECE => ("piece", 8, false),
        id::CANCEL => ("cancel", 12, true),
        id::PORT => ("port", 2, true),
        id::SUGGEST_PIECE => ("suggest piece", 4, true),
        id::HAVE_ALL => ("have all", 0, true),
        id::HAVE_NONE => ("have none", 0, true),
        id::REJECT_REQUEST => ("reject request", 12, true),
        id::ALLOWED_FAST => ("allowed fast", 4, true),
        id::EXTENDED => ("extended", 1, false),
        id::HASH_REQUEST => ("hash request", 48, true),
        id::HASHES => ("hashes", 48, false),
        id::HASH_REJECT => ("hash reject", 48, true),
        _ => return None,
    })
}

/// Checks a frame's length prefix against its id and the limits, before
/// the payload is read or any space is reserved for it.
///
/// `len` is the length prefix (id + payload); `offset` is the stream offset
/// of the prefix, for errors.
#[inline]
pub(crate) fn check_header(
    len: u32,
    msg_id: u8,
    limits: &Limits,
    offset: u64,
) -> Result<(), Error> {
    let Some((name, min, exact)) = payload_shape(msg_id) else {
        return Ok(());
    };
    let payload = len - 1;
    let expected = min as u32 + 1;
    if (exact && payload as usize != min) || (!exact && (payload as usize) < min) {
        return Err(Error::WrongLength {
            offset,
            name,
            expected,
            found: len,
        });
    }
    match msg_id {
        id::PIECE if payload - 8 > limits.get_max_block_len() => Err(Error::BlockTooLong {
            offset,
            name,
            len: payload - 8,
            max: limits.get_max_block_len(),
        }),
        id::BITFIELD => match limits.bitfield_len() {
            Some(expected) if expected != payload => Err(Error::BitfieldLength {
                offset,
                expected,
                found: payload,
            }),
            _ => Ok(()),
        },
        id::EXTENDED if len > limits.get_max_extended_len() => Err(Error::ExtendedTooLong {
            offset,
            len,
            max: limits.get_max_extended_len(),
        }),
        id::HASHES if (payload - 48) % 32 != 0 => Err(Error::HashesLength {
            offset,
            len: (payload - 48) as usize,
        }),
        id::HASHES if (payload - 48) / 32 > limits.get_max_hashes() => Err(Error::TooManyHashes {
            offset,
            count: (payload - 48) / 32,
            max: limits.get_max_hashes(),
        }),
        _ => Ok(()),
    }
}

impl Message {
    /// The message id, `None` for a keep-alive.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have { .. } => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece(_) => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::SuggestPiece { .. } => id::SUGGEST_PIECE,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::RejectRequest(_) => id::REJECT_REQUEST,
            Message::AllowedFast { .. } => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::HashRequest(_) => id::HASH_REQUEST,
            Message::Hashes(_) => id::HASHES,
            Message::HashReject(_) => id::HASH_REJECT,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// A short name: `"keep-alive"`, `"request"`, `"unknown"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Unknown { .. } => "unknown",
            m => m.id().and_then(payload_shape).map_or("unknown", |s| s.0),
        }
    }

    /// Length of the payload after the id byte, in bytes.
    fn payload_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have { .. } | Message::SuggestPiece { .. } | Message::AllowedFast { .. } => 4,
            Message::Bitfield(b) => b.len(),
            Message::Request(_) | Message::Cancel(_) | Message::RejectRequest(_) => 12,
            Message::Piece(b) => 8 + b.data.len(),
            Message::Port(_) => 2,
            Message::Extended { payload, .. } => 1 + payload.len(),
            Message::HashRequest(_) | Message::HashReject(_) => 48,
            Message::Hashes(h) => 48 + h.hashes.len(),
            Message::Unknown { payload, .. } => payload.len(),
        }
    }

    /// The whole encoded length in bytes, length prefix included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::KeepAlive => 4,
            m => 5 + m.payload_len(),
        }
    }

    /// Writes the message: length prefix, id, payload.
    ///
    /// Encoding does not check limits; a payload longer than `u32::MAX - 1`
    /// bytes cannot be framed and panics.
    pub fn encode<B: BufMut + ?Sized>(&self, dst: &mut B) {
        let len = match self {
            Message::KeepAlive => 0,
            m => u32::try_from(1 + m.payload_len()).expect("message longer than u32::MAX bytes"),
        };
        dst.put_u32(len);
        let Some(msg_id) = self.id() else {
            return;
        };
        dst.put_u8(msg_id);
        let put_req = |dst: &mut B, r: &BlockRequest| {
            dst.put_u32(r.piece);
            dst.put_u32(r.begin);
            dst.put_u32(r.length);
        };
        let put_hash_req = |dst: &mut B, r: &HashRequest| {
            dst.put_slice(&r.pieces_root);
            dst.put_u32(r.base_layer);
            dst.put_u32(r.index);
            dst.put_u32(r.length);
            dst.put_u32(r.proof_layers);
        };
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => {}
            Message::Have { piece }
            | Message::SuggestPiece { piece }
            | Message::AllowedFast { piece } => dst.put_u32(*piece),
            Message::Bitfield(b) => dst.put_slice(b),
            Message::Request(r) | Message::Cancel(r) | Message::RejectRequest(r) => put_req(dst, r),
            Message::Piece(b) => {
                dst.put_u32(b.piece);
                dst.put_u32(b.begin);
                dst.put_slice(&b.data);
            }
            Message::Port(p) => dst.put_u16(*p),
            Message::Extended { id, payload } => {
                dst.put_u8(*id);
                dst.put_slice(payload);
            }
            Message::HashRequest(r) | Message::HashReject(r) => put_hash_req(dst, r),
            Message::Hashes(h) => {
                put_hash_req(dst, &h.request);
                dst.put_slice(&h.hashes);
            }
            Message::Unknown { payload, .. } => dst.put_slice(payload),
        }
    }

    /// The encoded message as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        Bytes::from(v)
    }
}
