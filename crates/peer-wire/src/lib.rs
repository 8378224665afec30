//! The BitTorrent peer wire protocol: the BEP 3 handshake and messages,
//! with the extensions of BEP 5 (`port`), BEP 6 (fast extension), BEP 10
//! (extension protocol) with BEP 9 (`ut_metadata`) and BEP 11 (`ut_pex`),
//! and BEP 52 (hash request, hashes, hash reject).
//!
//! This crate is sans-IO: types, parsers and encoders. It opens no sockets
//! and keeps no connection state beyond what decoding needs. With the
//! `codec` feature (on by default) it adds tokio-util codecs,
//! [`HandshakeCodec`] and [`MessageCodec`]; without it the crate does not
//! depend on tokio.
//!
//! What it guarantees:
//!
//! * Every length read from the wire is checked against [`Limits`] before
//!   anything is allocated for it: fixed-size messages must have their
//!   exact length; blocks, bitfields, extended messages and whole messages
//!   have configurable maxima.
//! * Piece data, bitfields and extension payloads are zero-copy [`Bytes`]
//!   slices of the read buffer.
//! * An unknown message id is [`Message::Unknown`], never an error, and an
//!   unknown extension is [`ExtensionMessage::Unknown`].
//! * Errors are one enum, [`Error`], with the stream offset of the
//!   offending frame.
//!
//! What it is not: a peer connection state machine (choking, request
//! pipelining, timeouts belong to the session).
//!
//! ```
//! use bytes::BytesMut;
//! use seedbed_metainfo::{InfoHash, PeerId};
//! use seedbed_peer_wire::{
//!     BlockRequest, Handshake, Limits, Message, MessageDecoder, Reserved,
//! };
//!
//! // What a peer sends: its handshake, then a bitfield and a piece, in one read.
//! let theirs = Handshake::new(InfoHash([0xaa; 20]), PeerId(*b"-LT2080-abcdefghijkl"))
//!     .with_reserved(Reserved::ZERO.with(Reserved::FAST).with(Reserved::EXTENSION_PROTOCOL));
//! let mut buf = BytesMut::new();
//! buf.extend_from_slice(&theirs.to_bytes());
//! Message::Bitfield(vec![0b1010_0000].into()).encode(&mut buf);
//! Message::Request(BlockRequest { piece: 2, begin: 0, length: 16384 }).encode(&mut buf);
//!
//! let hs = Handshake::parse(&buf)?.expect("68 bytes are there");
//! assert!(hs.reserved.fast() && hs.reserved.extension_protocol());
//! let _ = buf.split_to(Handshake::LEN);
//!
//! let mut decoder = MessageDecoder::new(Limits::new().num_pieces(3));
//! assert_eq!(decoder.decode(&mut buf)?, Some(Message::Bitfield(vec![0b1010_0000].into())));
//! assert!(matches!(decoder.decode(&mut buf)?, Some(Message::Request(r)) if r.piece == 2));
//! assert_eq!(decoder.decode(&mut buf)?, None); // need more bytes
//! # Ok::<(), seedbed_peer_wire::Error>(())
//! ```
//!
//! | module content | BEP |
//! |---|---|
//! | [`Handshake`], [`Reserved`], [`HandshakePrefix`] | 3, 5, 6, 10, 52 |
//! | [`Message`], [`MessageDecoder`], [`Limits`] | 3, 5, 6, 10, 52 |
//! | [`Bitfield`] | 3 |
//! | [`allowed_fast_set`] | 6 |
//! | [`ExtendedHandshake`], [`ExtensionIds`], [`ExtensionMessage`] | 10 |
//! | [`MetadataMessage`] | 9 |
//! | [`PexMessage`] | 11 |
//! | [`client_name`] | 20 |
//! | [`mse`] (Message Stream Encryption) | none (Vuze spec) |

mod assembler;
mod bitfield;
mod client;
#[cfg(feature = "codec")]
mod codec;
mod decoder;
mod error;
mod extension;
mod fast;
mod handshake;
mod limits;
mod message;
mod message_hashes;
mod message_ref;
mod metadata;
pub mod mse;
mod pex;

pub use assembler::MetadataAssembler;
pub use bitfield::Bitfield;
pub use bytes::{Bytes, BytesMut};
pub use client::client_name;
#[cfg(feature = "codec")]
pub use codec::{HandshakeCodec, HandshakeEvent, MessageCodec};
pub use decoder::MessageDecoder;
pub use error::Error;
pub use extension::{ExtendedHandshake, ExtensionIds, ExtensionMessage, UT_METADATA, UT_PEX};
pub use fast::allowed_fast_set;
pub use handshake::{Handshake, HandshakePrefix, Reserved, ReservedBit, PROTOCOL};
pub use limits::{Limits, BLOCK_LEN};
pub use message::{id, Block, BlockRequest, HashRequest, Hashes, Message};
pub use message_ref::MessageRef;
pub use metadata::{metadata_piece_count, MetadataMessage, METADATA_PIECE_LEN};
pub use pex::{PexFlags, PexMessage};
pub use seedbed_metainfo::{InfoHash, PeerId};
