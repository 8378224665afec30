//! BitTorrent metainfo: `.torrent` files (BEP 3 v1, BEP 52 v2 and hybrid),
//! info hashes, file layout, magnet links (BEP 9, BEP 53) and torrent
//! creation.
//!
//! This crate does no network IO and pulls in no async runtime: it reads
//! and writes bytes you hand it.
//!
//! # Reading a torrent
//!
//! [`Torrent::from_bytes`] reads a whole `.torrent` file; [`Info::from_bytes`]
//! reads a bare `info` dictionary (as assembled from `ut_metadata`, BEP 9).
//! Reading is lenient like libtorrent (unsorted keys, trailing bytes,
//! non-UTF-8 names, unknown keys), then validates into types whose
//! invariants hold:
//!
//! - info hashes are SHA-1 (v1) and SHA-256 (v2) of the exact `info` bytes
//!   ([`Info::raw`]), never of a re-encoding;
//! - every file path is a [`FilePath`], sanitised with libtorrent's rules so
//!   it can never leave the download folder;
//! - [`Geometry`] holds the piece and block sizes, and only it makes
//!   [`PieceIndex`] and [`Block`] values; [`Info::file_spans`] maps a byte
//!   range of the torrent to the files it covers;
//! - v2 piece layers are checked against each file's `pieces root`
//!   ([`Torrent::verify_piece_layers`]);
//! - every length read is bounded by [`ParseOptions`] before it is used.
//!
//! ```
//! use seedbed_metainfo::{Torrent, Version};
//!
//! let data: &[u8] = b"d8:announce31:http://tracker.example/announce\
//!     4:infod5:filesld6:lengthi20000e4:pathl5:a.txteed6:lengthi5000e4:pathl3:sub5:b.binee\
//!     e4:name4:demo12:piece lengthi16384e6:pieces40:AAAAAAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBBBBBee";
//! let torrent = Torrent::from_bytes(data)?;
//! let info = torrent.info();
//! assert_eq!(info.version(), Version::V1);
//! assert_eq!(info.name(), "demo");
//! assert_eq!(info.total_size(), 25_000);
//! assert_eq!(torrent.trackers()[0][0], "http://tracker.example/announce");
//! println!("{}", torrent.info_hash()); // 40 hex digits, for trackers and peers
//!
//! // Piece 1 holds the end of a.txt and all of sub/b.bin.
//! let g = info.geometry();
//! let p1 = g.piece(1).unwrap();
//! assert_eq!(g.piece_len(p1), 25_000 - 16_384);
//! for span in info.piece_spans(p1) {
//!     let file = &info.files()[span.file];
//!     let on_disk = file.path().to_path_buf_under("/downloads");
//!     println!("{} bytes at {} of {}", span.len, span.offset, on_disk.display());
//! }
//! assert_eq!(info.files()[1].path().as_str(), "demo/sub/b.bin");
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```
//!
//! # Magnet links
//!
//! [`Magnet`] parses BEP 9 links (v1 `urn:btih:`, v2 `urn:btmh:`, both for
//! hybrid torrents) with their trackers, web seeds, peers and BEP 53
//! select-only ranges, and formats them byte for byte like libtorrent.
//!
//! ```
//! use seedbed_metainfo::Magnet;
//!
//! let m: Magnet = "magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\
//!                  &dn=demo&tr=udp%3A%2F%2Ftracker.example%3A6969&so=0,2-3"
//!     .parse()?;
//! assert_eq!(m.trackers(), ["udp://tracker.example:6969"]);
//! assert!(m.selects_file(2) && !m.selects_file(1));
//! // From a loaded torrent: `Magnet::from(&torrent)`.
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```
//!
//! # Creating a torrent
//!
//! [`TorrentBuilder`] makes v1, v2 or hybrid torrents from a file or a
//! directory ([`TorrentBuilder::build_from_path`]) or from any readers
//! ([`TorrentBuilder::build`]), hashing on all cores. The `info` dictionary
//! is byte-identical to mktorrent's (v1) and libtorrent's (v2, hybrid).
//! The BEP 52 merkle functions are public in [`create::merkle`].
//!
//! ```
//! use seedbed_metainfo::{Content, TorrentBuilder, TorrentVersion};
//!
//! let data = vec![0u8; 100_000];
//! let content = Content::single_file("zeros.bin", data.len() as u64)?;
//! let created = TorrentBuilder::new(TorrentVersion::Hybrid)
//!     .tracker("http://tracker.example/announce")
//!     .build(&content, |_| Ok(&data[..]), |hashed, total| {
//!         assert!(hashed <= total);
//!     })?;
//! let torrent = created.to_torrent()?; // read back with the reader
//! assert_eq!(torrent.info_hash_v2(), created.info_hash_v2());
//! let bytes: &[u8] = created.as_bytes(); // the .torrent file
//! assert!(bytes.starts_with(b"d8:announce"));
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```

pub mod create;
mod error;
mod files;
mod geometry;
mod id;
mod info;
mod magnet;
mod merkle;
mod options;
mod path;
mod torrent;

pub use create::{
    auto_piece_length, Content, ContentFile, CreatedTorrent, TorrentBuilder, TorrentVersion,
    MAX_PIECE_LENGTH, MIN_PIECE_LENGTH,
};
pub use error::Error;
pub use files::{FileAttr, FileEntry, FileSpan, FileSpans};
pub use geometry::{Block, Geometry, PieceIndex, BLOCK_SIZE};
pub use id::{InfoHash, InfoHashV2, PeerId};
pub use info::{Info, Version, Warning};
pub use magnet::{HostPort, Magnet, MagnetErrorKind, MAX_SELECT_INDEX};
pub use options::ParseOptions;
pub use path::{FilePath, MAX_COMPONENT_LEN};
pub use torrent::{DhtNode, Torrent};
