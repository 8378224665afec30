//! Bencoding (BEP 3): a zero-copy decoder with raw spans and limits, and a
//! canonical encoder.
//!
//! This crate does no IO. It decodes a byte slice into a [`Document`], a flat
//! tape of values that borrows the input: byte strings are never copied, and
//! every value, dictionaries included, knows its exact raw bytes
//! ([`Value::raw`]) so a torrent's `info` dictionary can be hashed as it was
//! written. It encodes [`OwnedValue`]s (and re-encodes decoded values) in
//! canonical form only: keys sorted as raw bytes.
//!
//! Decoding is lenient by default, like the clients people use: unsorted and
//! duplicate keys are kept in source order, leading zeros are accepted.
//! [`DecodeOptions::canonical`] makes it strict. Limits on nesting depth and
//! item count are settings with documented defaults; the decoder does not
//! recurse and allocates nothing sized by a length read from the input.
//!
//! ```
//! use seedbed_bencode::{decode, Encode, Entry, OwnedValue};
//!
//! let input = b"d8:announce18:http://t.example/a4:infod4:name3:abc6:lengthi5eee";
//! let doc = decode(input).unwrap();
//! let root = Entry::root(doc.root());
//! assert_eq!(root.key("announce")?.str()?, "http://t.example/a");
//! let info = root.key("info")?;
//! assert_eq!(info.value().raw(), b"d4:name3:abc6:lengthi5ee"); // exact bytes, unsorted
//! assert_eq!(info.key("length")?.int()?, 5);
//!
//! // Building a message: canonical output.
//! let mut m = OwnedValue::dict();
//! m.insert("y", "q");
//! m.insert("t", "aa");
//! assert_eq!(m.to_bencode(), b"d1:t2:aa1:y1:qe");
//! # Ok::<(), seedbed_bencode::Error>(())
//! ```
//!
//! With the `serde` feature, [`from_bytes`] deserializes borrowing `&[u8]`
//! and `&str` from the input, and [`to_bytes`] serializes with sorted keys,
//! skipping `None` fields.

mod access;
mod decode;
mod document;
mod encode;
mod error;
mod options;
mod owned;
mod reader;
#[cfg(feature = "serde")]
mod serde_impl;

pub use access::Entry;
pub use decode::{decode, decode_prefix, decode_prefix_with, decode_with};
pub use document::{Dict, Document, Entries, Items, Kind, List, Value};
pub use encode::{write_bytes, write_int, Encode};
pub use error::{Error, Expected};
pub use options::DecodeOptions;
pub use owned::OwnedValue;
pub use reader::{Item, Reader, MAX_READER_DEPTH};
#[cfg(feature = "serde")]
pub use serde_impl::{from_bytes, from_bytes_with, from_value, to_bytes, to_value, to_writer};
