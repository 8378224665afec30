//! seedbed: BitTorrent protocol libraries in Rust.
//!
//! This facade re-exports each layer as a module; each is also usable on its
//! own as a Cargo dependency.
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`bencode`] | `seedbed-bencode` | zero-copy bencode decoder and canonical encoder |

pub use seedbed_bencode as bencode;
