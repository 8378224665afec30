//! Mainline DHT (BEP 5) for BitTorrent.

pub mod compact;
mod config;
#[cfg(feature = "tokio")]
pub mod driver;
mod error;
mod event;
mod id;
pub mod krpc;
mod lookup;
mod node;
mod rng;
pub mod routing;
pub mod secure_id;
mod state;
pub mod storage;
pub mod token;

pub use compact::{Family, NodeInfo};
pub use config::Config;
pub use error::Error;
pub use event::{Event, LookupId, LookupKind, LookupStats, RequestId, Stats, TableStats, Transmit};
pub use id::{Distance, NodeId, ParseNodeIdError};
pub use node::Dht;
pub use seedbed_metainfo::InfoHash;
pub use state::{RoutingState, MAX_STATE_NODES};
