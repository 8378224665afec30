//! BitTorrent metainfo: `.torrent` files (BEP 3 v1, BEP 52 v2 and hybrid),
//! info hashes, file layout, magnet links (BEP 9, BEP 53) and torrent
//! creation.
//!
//! This crate does no network IO and pulls in no async runtime.

mod error;
mod id;
mod magnet;

pub use error::Error;
pub use id::{InfoHash, InfoHashV2, PeerId};
pub use magnet::{HostPort, Magnet, MagnetErrorKind, MAX_SELECT_INDEX};
