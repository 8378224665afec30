//! Mainline DHT (BEP 5) for BitTorrent.

pub mod compact;
mod error;
mod id;
pub mod krpc;
pub mod routing;
pub mod secure_id;
pub mod storage;
pub mod token;

pub use compact::NodeInfo;
pub use error::Error;
pub use id::{Distance, NodeId, ParseNodeIdError};
pub use seedbed_metainfo::InfoHash;
