//! BitTorrent metainfo: `.torrent` files (BEP 3 v1, BEP 52 v2 and hybrid),
//! info hashes, file layout, magnet links (BEP 9, BEP 53) and torrent
//! creation.
//!
//! This crate does no network IO and pulls in no async runtime.

pub mod create;
mod error;
mod files;
mod geometry;
mod id;
mod info;
mod merkle;
mod options;
mod path;
mod torrent;
mod magnet;

pub use create::{
    auto_piece_length, Content, ContentFile, CreatedTorrent, TorrentBuilder, TorrentVersion,
    MAX_PIECE_LENGTH, MIN_PIECE_LENGTH,
};
pub use error::Error;
pub use files::{FileAttr, FileEntry, FileSpan, FileSpans};
pub use geometry::{Block, Geometry, PieceIndex, BLOCK_SIZE};
pub use id::{InfoHash, InfoHashV2, PeerId};
pub use info::{Info, Version, Warning};
pub use options::ParseOptions;
pub use path::{FilePath, MAX_COMPONENT_LEN};
pub use torrent::{DhtNode, Torrent};
pub use magnet::{HostPort, Magnet, MagnetErrorKind, MAX_SELECT_INDEX};
