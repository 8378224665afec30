//! BitTorrent tracker protocols: announce and scrape over HTTP (BEP 3,
//! BEP 23 compact peers, BEP 7 IPv6 peers, BEP 48 scrape) and UDP (BEP 15,
//! BEP 41 URL data), both directions; BEP 12 tracker tiers; a sans-IO UDP
//! client state machine; a small in-memory tracker.
//!
//! What it is: types, parsers, encoders and state machines. The core does
//! no IO, reads no clock and draws no random numbers: time comes in as
//! `Instant`, randomness as a seed or a closure. With default features off
//! it depends on no async runtime.
//!
//! What it is not: a torrent session. It does not schedule announces or
//! keep per-torrent state; the session crate does that with these pieces.
//!
//! | module | side | what |
//! |---|---|---|
//! | [`http`] | both | announce/scrape URLs, query strings, bencoded bodies |
//! | [`udp`] | both | every BEP 15 packet, encode and decode |
//! | [`udp_client`] | client | sans-IO connect/retransmit/transaction state machine |
//! | [`tier`] | client | BEP 12 tiers: shuffle, order, promote |
//! | [`memory`] | tracker | an in-memory tracker, sans-IO |
//! | `client` (feature `client`, default) | client | async announce/scrape over `http(s)://` and `udp://` |
//! | `server` (feature `server`) | tracker | tokio HTTP and UDP front ends for [`memory`] |
//!
//! ```
//! use seedbed_tracker_proto::http::{announce_url, parse_announce_response};
//! use seedbed_tracker_proto::{AnnounceRequest, Event, InfoHash, PeerId};
//!
//! let info_hash: InfoHash = "d2474e86c95b19b8bcfdb92bc12c9d44667cfa36".parse().unwrap();
//! let mut req = AnnounceRequest::new(info_hash, PeerId(*b"-SB0001-123456789012"), 6881);
//! req.left = 1 << 20;
//! req.event = Event::Started;
//! let url = announce_url("http://tracker.example/announce?passkey=abc", &req)?;
//! assert!(url.starts_with("http://tracker.example/announce?passkey=abc&info_hash=%D2GN%86"));
//!
//! // The body the tracker sent back (keys in any order are accepted):
//! let body = b"d8:intervali1800e8:completei3e10:incompletei1e5:peers6:\x0a\x00\x00\x02\x1a\xe1e";
//! let resp = parse_announce_response(body)?;
//! assert_eq!((resp.interval, resp.complete, resp.incomplete), (1800, Some(3), Some(1)));
//! assert_eq!(resp.peers[0].addr.to_string(), "10.0.0.2:6881");
//! # Ok::<(), seedbed_tracker_proto::Error>(())
//! ```

#[cfg(feature = "client")]
pub mod client;
mod common;
mod compact;
mod error;
pub mod http;
pub mod memory;
#[cfg(feature = "server")]
pub mod server;
pub mod tier;
pub mod udp;
pub mod udp_client;

pub use common::{
    AnnounceRequest, AnnounceResponse, Event, InfoHash, Peer, PeerId, PeerKey, ScrapeRequest,
    ScrapeResponse, ScrapeStats,
};
pub use compact::CompactPeers;
pub use error::Error;
