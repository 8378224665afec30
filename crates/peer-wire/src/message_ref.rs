//! A borrowed view of one decoded peer wire message: what
//! [`MessageDecoder::decode_borrowed`](crate::MessageDecoder::decode_borrowed)
//! returns, with payloads as `&[u8]` slices of the caller's buffer.

use bytes::{Buf, Bytes};

use crate::error::Error;
use crate::limits::Limits;
use crate::message::{id, Block, BlockRequest, HashRequest, Hashes, Message};

/// A peer wire message whose variable-length payloads borrow the input
/// buffer: the same variants as [`Message`], the same checks on decoding,
/// no reference counts.
///
/// For a reader that owns its buffer and handles each message before it
/// reads more (parse, copy the block to disk, drop). To keep a payload past
/// the buffer's next refill, use [`MessageDecoder::decode`] and its
/// zero-copy [`Bytes`], or copy with [`to_message`](Self::to_message).
///
/// [`MessageDecoder::decode`]: crate::MessageDecoder::decode
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageRef<'a> {
    /// See [`Message::KeepAlive`].
    KeepAlive,
    /// See [`Message::Choke`].
    Choke,
    /// See [`Message::Unchoke`].
    Unchoke,
    /// See [`Message::Interested`].
    Interested,
    /// See [`Message::NotInterested`].
    NotInterested,
    /// See [`Message::Have`].
    Have {
        /// Piece index.
        piece: u32,
    },
    /// See [`Message::Bitfield`].
    Bitfield(&'a [u8]),
    /// See [`Message::Request`].
    Request(BlockRequest),
    /// See [`Message::Piece`].
    Piece {
        /// Piece index.
        piece: u32,
        /// Byte offset of the block within the piece.
        begin: u32,
        /// The block's bytes.
        data: &'a [u8],
    },
    /// See [`Message::Cancel`].
    Cancel(BlockRequest),
    /// See [`Message::Port`].
    Port(u16),
    /// See [`Message::SuggestPiece`].
    SuggestPiece {
        /// Piece index.
        piece: u32,
    },
    /// See [`Message::HaveAll`].
    HaveAll,
    /// See [`Message::HaveNone`].
    HaveNone,
    /// See [`Message::RejectRequest`].
    RejectRequest(BlockRequest),
    /// See [`Message::AllowedFast`].
    AllowedFast {
        /// Piece index.
        piece: u32,
    },
    /// See [`Message::Extended`].
    Extended {
        /// Extended message id.
        id: u8,
        /// The payload after the extended id byte.
        payload: &'a [u8],
    },
    /// See [`Message::HashRequest`].
    HashRequest(HashRequest),
    /// See [`Message::Hashes`].
    Hashes {
        /// The request this answers.
        request: HashRequest,
        /// The hashes, a multiple of 32 bytes.
        hashes: &'a [u8],
    },
    /// See [`Message::HashReject`].
    HashReject(HashRequest),
    /// See [`Message::Unknown`].
    Unknown {
        /// The message id.
        id: u8,
        /// The payload after the id.
        payload: &'a [u8],
    },
}

#[inline]
fn be32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

fn hash_request(mut p: &[u8]) -> HashRequest {
    let mut pieces_root = [0u8; 32];
    p.copy_to_slice(&mut pieces_root);
    HashRequest {
        pieces_root,
        base_layer: p.get_u32(),
        index: p.get_u32(),
        length: p.get_u32(),
        proof_layers: p.get_u32(),
    }
}

#[inline]
pub(crate) fn check_piece(
    limits: &Limits,
    offset: u64,
    name: &'static str,
    index: u32,
) -> Result<(), Error> {
    match limits.get_num_pieces() {
        Some(n) if index >= n => Err(Error::PieceOutOfRange {
            offset,
            name,
            index,
            num_pieces: n,
        }),
        _ => Ok(()),
    }
}

/// Reads the 12-byte payload of `request`, `cancel` or `reject request`
/// and checks its piece index and block length.
#[inline]
pub(crate) fn block_request(
    p: &[u8],
    limits: &Limits,
    offset: u64,
    name: &'static str,
) -> Result<BlockRequest, Error> {
    let r = BlockRequest {
        piece: be32(p, 0),
        begin: be32(p, 4),
        length: be32(p, 8),
    };
    check_piece(limits, offset, name, r.piece)?;
    if r.length > limits.get_max_block_len() {
        return Err(Error::BlockTooLong {
            offset,
            name,
            len: r.length,
            max: limits.get_max_block_len(),
        });
    }
    Ok(r)
}

impl<'a> MessageRef<'a> {
    /// Parses the payload `p` (after the id byte) of one frame whose header
    /// already passed [`check_header`](crate::message::check_header), so
    /// fixed-size payloads have their exact length and variable ones at
    /// least their minimum. Checks what needs the payload: block lengths
    /// in requests, piece ranges, bitfield spare bits.
    pub(crate) fn from_payload(
        msg_id: u8,
        p: &'a [u8],
        limits: &Limits,
        offset: u64,
    ) -> Result<MessageRef<'a>, Error> {
        Ok(match msg_id {
            id::CHOKE => MessageRef::Choke,
            id::UNCHOKE => MessageRef::Unchoke,
            id::INTERESTED => MessageRef::Interested,
            id::NOT_INTERESTED => MessageRef::NotInterested,
            id::HAVE => {
                let piece = be32(p, 0);
                check_piece(limits, offset, "have", piece)?;
                MessageRef::Have { piece }
            }
            id::BITFIELD => {
                if let Some(n) = limits.get_num_pieces() {
                    crate::bitfield::check_spare_bits(p, n).map_err(|()| {
                        Error::BitfieldSpareBits {
                            offset,
                            num_pieces: n,
                        }
                    })?;
                }
                MessageRef::Bitfield(p)
            }
            id::REQUEST => MessageRef::Request(block_request(p, limits, offset, "request")?),
            id::PIECE => {
                let piece = be32(p, 0);
                check_piece(limits, offset, "piece", piece)?;
                MessageRef::Piece {
                    piece,
                    begin: be32(p, 4),
                    data: &p[8..],
                }
            }
            id::CANCEL => MessageRef::Cancel(block_request(p, limits, offset, "cancel")?),
            id::PORT => MessageRef::Port(u16::from_be_bytes([p[0], p[1]])),
            id::SUGGEST_PIECE => {
                let piece = be32(p, 0);
                check_piece(limits, offset, "suggest piece", piece)?;
                MessageRef::SuggestPiece { piece }
            }
            id::HAVE_ALL => MessageRef::HaveAll,
            id::HAVE_NONE => MessageRef::HaveNone,
            id::REJECT_REQUEST => {
                MessageRef::RejectRequest(block_request(p, limits, offset, "reject request")?)
            }
            id::ALLOWED_FAST => {
                let piece = be32(p, 0);
                check_piece(limits, offset, "allowed fast", piece)?;
                MessageRef::AllowedFast { piece }
            }
            id::EXTENDED => MessageRef::Extended {
                id: p[0],
                payload: &p[1..],
            },
            id::HASH_REQUEST => MessageRef::HashRequest(hash_request(p)),
            id::HASHES => MessageRef::Hashes {
                request: hash_request(&p[..48]),
                hashes: &p[48..],
            },
            id::HASH_REJECT => MessageRef::HashReject(hash_request(p)),
            id => MessageRef::Unknown { id, payload: p },
        })
    }

    /// The owned [`Message`], copying the variable-length payloads into
    /// new [`Bytes`].
    pub fn to_message(&self) -> Message {
        let copy = Bytes::copy_from_slice;
        match *self {
            MessageRef::KeepAlive => Message::KeepAlive,
            MessageRef::Choke => Message::Choke,
            MessageRef::Unchoke => Message::Unchoke,
            MessageRef::Interested => Message::Interested,
            MessageRef::NotInterested => Message::NotInterested,
            MessageRef::Have { piece } => Message::Have { piece },
            MessageRef::Bitfield(b) => Message::Bitfield(copy(b)),
            MessageRef::Request(r) => Message::Request(r),
            MessageRef::Piece { piece, begin, data } => Message::Piece(Block {
                piece,
                begin,
                data: copy(data),
            }),
            MessageRef::Cancel(r) => Message::Cancel(r),
            MessageRef::Port(p) => Message::Port(p),
            MessageRef::SuggestPiece { piece } => Message::SuggestPiece { piece },
            MessageRef::HaveAll => Message::HaveAll,
            MessageRef::HaveNone => Message::HaveNone,
            MessageRef::RejectRequest(r) => Message::RejectRequest(r),
            MessageRef::AllowedFast { piece } => Message::AllowedFast { piece },
            MessageRef::Extended { id, payload } => Message::Extended {
                id,
                payload: copy(payload),
            },
            MessageRef::HashRequest(r) => Message::HashRequest(r),
            MessageRef::Hashes { request, hashes } => Message::Hashes(Hashes {
                request,
                hashes: copy(hashes),
            }),
            MessageRef::HashReject(r) => Message::HashReject(r),
            MessageRef::Unknown { id, payload } => Message::Unknown {
                id,
                payload: copy(payload),
            },
        }
    }
}
