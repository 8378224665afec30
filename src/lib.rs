//! seedbed: BitTorrent protocol libraries in Rust.
//!
//! This facade re-exports each layer as a module; each is also usable on its
//! own as a Cargo dependency.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`bencode`] | `seedbed-bencode` | zero-copy bencode decoder and canonical encoder |
//! | [`tracker`] | `seedbed-tracker-proto` | tracker protocols: HTTP and UDP announce/scrape, sans-IO UDP client, BEP 12 tiers, async client, in-memory tracker |
//! | [`wire`] | `seedbed-peer-wire` | peer wire protocol: handshake, messages, BEP 6/9/10/11/52 extensions, limits, tokio-util codecs |

pub use seedbed_bencode as bencode;
pub use seedbed_tracker_proto as tracker;
pub use seedbed_peer_wire as wire;
