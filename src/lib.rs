//! seedbed: BitTorrent protocol libraries in Rust.
//!
//! This facade re-exports each layer as a module; each is also usable on its
//! own as a Cargo dependency.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`bencode`] | `seedbed-bencode` | zero-copy bencode decoder and canonical encoder |
//! | [`dht`] | `seedbed-dht` | Mainline DHT (BEP 5, 32, 42, 43, 51): KRPC, routing table, lookups as a sans-IO state machine, tokio driver |
//! | [`metainfo`] | `seedbed-metainfo` | .torrent v1/v2/hybrid, info hashes, file layout, magnet links, creation |
//! | [`tracker`] | `seedbed-tracker-proto` | tracker protocols: HTTP and UDP announce/scrape, sans-IO UDP client, BEP 12 tiers, async client, in-memory tracker |
//! | [`session`] | `seedbed-session` | a thin engine that downloads and seeds with real peers |
//! | [`wire`] | `seedbed-peer-wire` | peer wire protocol: handshake, messages, BEP 6/9/10/11/52 extensions, limits, tokio-util codecs |
//! | [`utp`] | `seedbed-utp` | uTP (BEP 29) with LEDBAT: sans-IO packets, connections and multiplexer, tokio streams |

pub use seedbed_bencode as bencode;
pub use seedbed_dht as dht;
pub use seedbed_metainfo as metainfo;
pub use seedbed_peer_wire as wire;
pub use seedbed_session as session;
pub use seedbed_tracker_proto as tracker;
pub use seedbed_utp as utp;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
