//! Mainline DHT (BEP 5) for BitTorrent: find the peers of a torrent with
//! no tracker, and announce yourself as one.
//!
//! What it is: the KRPC messages (BEP 5, with BEP 32 IPv6 `nodes6`/`want`,
//! BEP 42 `ip` and secure node ids, BEP 43 read-only nodes, BEP 51
//! `sample_infohashes`), a routing table of k-buckets, the store of
//! announced peers, iterative lookups, and a node that ties them together as
//! a sans-IO state machine ([`Dht`], modelled on quinn-proto): datagrams
//! and time go in, datagrams, events and the next deadline come out. The
//! core owns no socket, reads no clock and draws no random numbers (a seed
//! is passed in), so it runs the same in a simulation of thousands of nodes
//! as on a real socket. With the `tokio` feature, [`driver::DhtNode`] runs
//! it on UDP sockets it owns, or on a socket shared with uTP.
//!
//! What it is not: a BitTorrent session. It finds peers and announces; the
//! session connects to them, and sends and handles the BEP 5 `port`
//! message (hand its port to [`Dht::add_node`]).
//!
//! | module | what |
//! |---|---|
//! | [`krpc`] | every query, response and error; zero-copy decoding on `seedbed-bencode`, canonical encoding |
//! | [`compact`] | compact node and peer info (IPv4 and IPv6) |
//! | [`routing`] | k-buckets split around our id, node states, ping-before-replace, refresh |
//! | [`storage`] | announced peers with expiry and count/byte limits |
//! | [`token`] | write tokens from a secret rotated every 5 minutes |
//! | [`secure_id`] | BEP 42 node ids from an external IP, and their check |
//! | [`Dht`] | the node: answers queries, runs lookups and announces |
//! | `driver` (feature `tokio`) | the node on tokio UDP sockets, with an async API |
//!
//! Two nodes talking, with the datagrams carried by hand:
//!
//! ```
//! use std::time::Instant;
//! use seedbed_dht::{Config, Dht, Event, InfoHash, NodeId};
//!
//! let now = Instant::now();
//! let config = Config { ipv6: false, ..Config::default() };
//! let mut a = Dht::new(config.clone(), NodeId([1; 20]), [1; 32], now);
//! let mut b = Dht::new(config, NodeId([2; 20]), [2; 32], now);
//! let (addr_a, addr_b) = ("127.0.0.1:6881".parse().unwrap(), "127.0.0.1:6882".parse().unwrap());
//!
//! // Carries datagrams between the two until both are quiet.
//! fn run(a: &mut Dht, addr_a: std::net::SocketAddr, b: &mut Dht, addr_b: std::net::SocketAddr, now: Instant) {
//!     loop {
//!         let mut moved = false;
//!         while let Some(t) = a.poll_transmit() {
//!             b.handle(now, addr_a, &t.data);
//!             moved = true;
//!         }
//!         while let Some(t) = b.poll_transmit() {
//!             a.handle(now, addr_b, &t.data);
//!             moved = true;
//!         }
//!         if !moved {
//!             return;
//!         }
//!     }
//! }
//!
//! a.bootstrap(now, &[addr_b])?;
//! run(&mut a, addr_a, &mut b, addr_b, now);
//! // b announces a torrent (to a, the only node it knows), a looks it up.
//! let info_hash = InfoHash([0xab; 20]);
//! b.announce(now, info_hash, 51413, false)?;
//! run(&mut a, addr_a, &mut b, addr_b, now);
//! let lookup = a.get_peers(now, info_hash)?;
//! run(&mut a, addr_a, &mut b, addr_b, now);
//! let peers: Vec<_> = std::iter::from_fn(|| a.poll_event())
//!     .filter_map(|e| match e {
//!         Event::Peers { lookup: l, peers, .. } if l == lookup => Some(peers),
//!         _ => None,
//!     })
//!     .flatten()
//!     .collect();
//! assert_eq!(peers, vec!["127.0.0.1:51413".parse().unwrap()]);
//! # Ok::<(), seedbed_dht::Error>(())
//! ```
//!
//! A real program calls [`Dht::handle_timeout`] at [`Dht::poll_timeout`];
//! the tokio driver does all of this:
//! `cargo run --release --example dht -- get-peers HASH --bootstrap ADDR`.

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
