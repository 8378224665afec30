//! A thin BitTorrent engine built on the seedbed protocol crates: it
//! downloads and seeds v1, v2 and hybrid torrents (BEP 3, BEP 52) with real
//! peers, from .torrent files and magnet links (`btih` and `btmh`).
//!
//! It composes `seedbed-metainfo` (files, pieces), `seedbed-peer-wire`
//! (handshake, messages, codecs) and `seedbed-tracker-proto` (HTTP and UDP
//! announces) and adds only engine logic: piece picking (rarest first,
//! endgame), request pipelining, verification on hashing threads (SHA-1
//! pieces, SHA-256 merkle trees per file, piece layers fetched from peers
//! with BEP 52 `hash request`), storage
//! with positioned IO (files appear when their first piece is written),
//! choking, fast resume ([`ResumeData`]: unchanged files are trusted
//! without reading them), file priorities and a part file for skipped
//! files ([`FilePriority`]), sequential order and piece deadlines for
//! streaming, magnet links (metadata exchange, BEP 9), peer exchange
//! (BEP 11), the Mainline DHT (BEP 5, through `seedbed-dht`) and uTP (BEP
//! 29, through `seedbed-utp`). `DESIGN.md` in this crate describes the
//! tasks, channels and piece states.
//!
//! The DHT is on by default ([`SessionConfig::dht`]): the session binds a
//! UDP socket on its listen address and port, joins through the public
//! routers ([`DEFAULT_DHT_BOOTSTRAP`]), announces every public torrent and
//! takes its peers, looks the peers of magnet links up there, and sends
//! and follows the `port` message. Private torrents (BEP 27) never use it.
//! [`DhtConfig::disabled`] turns it off (the `seedbed` program's
//! `--no-dht`); [`DhtConfig::with_bootstrap`] joins through other nodes
//! (tests use loopback ones).
//!
//! Peer connections run over TCP and uTP (BEP 29, through `seedbed-utp`
//! on the same UDP socket as the DHT): both are accepted on the listen
//! port, and dials try uTP first and fall back to TCP, as libtorrent
//! does. [`SessionConfig::transports`] keeps one of them
//! ([`Transports::TcpOnly`], [`Transports::UtpOnly`]);
//! [`Stats::peers_utp`] and [`TorrentHandle::peers`] say which transport
//! each peer uses.
//!
//! ```no_run
//! # async fn f() -> Result<(), seedbed_session::Error> {
//! use seedbed_session::{AddTorrentOptions, Session, SessionConfig};
//!
//! let torrent = seedbed_metainfo::Torrent::from_bytes(std::fs::read("ubuntu.torrent").unwrap())?;
//! let session = Session::new(SessionConfig::default()).await?;
//! let handle = session
//!     .add_torrent(&torrent, AddTorrentOptions::new("downloads").seed(false))
//!     .await?;
//! let mut events = handle.events();
//! tokio::spawn(async move {
//!     while let Ok(e) = events.recv().await {
//!         println!("{e:?}");
//!     }
//! });
//! handle.wait_for_completion().await?;
//! println!("{:?}", handle.stats());
//! session.shutdown().await;
//! # Ok(()) }
//! ```

mod announce;
mod bind;
pub mod choker;
mod config;
mod dht;
mod encryption;
mod error;
mod file_selection;
mod handle;
mod hash_exchange;
mod merkle_verify;
mod metadata;
mod part_file;
mod peer;
mod peer_info;
pub mod picker;
mod progress;
mod rate_limit;
mod resume;
mod session;
mod storage;
mod streaming;
#[cfg(test)]
mod test_fixtures;
mod torrent;
mod tracker_info;
mod transport;
mod udp;
mod upgrade;
mod upload_queue;
mod verify;
mod wire_io;

pub use config::{AddTorrentOptions, SessionConfig};
pub use dht::{DhtConfig, DEFAULT_DHT_BOOTSTRAP};
pub use encryption::{EncryptionConfig, EncryptionLevel, EncryptionPolicy};
pub use error::Error;
pub use file_selection::FilePriority;
pub use handle::{Event, Stats, Status, TorrentHandle};
pub use peer_info::{client_name, PeerInfo, Transport};
pub use picker::PieceState;
pub use progress::{FileProgress, PieceMap};
pub use resume::{FileStamp, ResumeData, RESUME_FORMAT, RESUME_VERSION};
pub use session::Session;
pub use storage::{Allocation, DiskStats, Storage};
pub use tracker_info::{TrackerInfo, TrackerStatus};
pub use transport::Transports;
