//! The crate's one error type.

use std::fmt;

/// What the decoder expected at the offset where it stopped.
///
/// Used in [`Error::Unexpected`] and [`Error::UnexpectedEof`] to say what
/// would have been valid at that byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expected {
    /// Any value: `i`, `l`, `d` or a digit starting a byte string length.
    Value,
    /// A decimal digit (`0`-`9`), or `-` where an integer may start.
    Digit,
    /// The `:` that ends a byte string's length prefix.
    Colon,
    /// The `e` that ends an integer.
    IntegerEnd,
    /// A byte string (digit) as a dictionary key, or `e` ending the dictionary.
    KeyOrEnd,
    /// `n` bytes of byte string content.
    StringBytes(u64),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Value => f.write_str("a value (i, l, d or a digit)"),
            Expected::Digit => f.write_str("a digit"),
            Expected::Colon => f.write_str("':' after a string length"),
            Expected::IntegerEnd => f.write_str("'e' ending an integer"),
            Expected::KeyOrEnd => f.write_str("a string key or 'e' ending a dictionary"),
            Expected::StringBytes(n) => write!(f, "{n} bytes of string data"),
        }
    }
}

/// Every error of `seedbed-bencode`: decoding, typed access and serde.
///
/// Decoding errors carry `offset`, the byte offset into the input where the
/// problem was found. Access errors carry `path`, the key path of the value
/// (for example `info.files[3].length`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended while `expected` was still needed.
    #[error("unexpected end of input at byte {offset}: expected {expected}")]
    UnexpectedEof {
        /// Byte offset where more input was needed.
        offset: usize,
        /// What was needed.
        expected: Expected,
    },
    /// A byte that cannot appear here.
    #[error("unexpected byte {found:#04x} at byte {offset}: expected {expected}")]
    Unexpected {
        /// Byte offset of the offending byte.
        offset: usize,
        /// What would have been valid.
        expected: Expected,
        /// The byte found.
        found: u8,
    },
    /// An integer, or a string length, that does not fit in an `i64` (`u64`
    /// for lengths).
    #[error("integer out of range at byte {offset}")]
    IntegerOverflow {
        /// Byte offset of the digit where the value stopped fitting.
        offset: usize,
    },
    /// Canonical mode: a leading zero in an integer or string length.
    #[error("leading zero at byte {offset} (canonical mode)")]
    LeadingZero {
        /// Byte offset of the zero.
        offset: usize,
    },
    /// Canonical mode: `i-0e`.
    #[error("negative zero at byte {offset} (canonical mode)")]
    NegativeZero {
        /// Byte offset of the `-`.
        offset: usize,
    },
    /// Canonical mode: a dictionary key not greater than the key before it.
    #[error("dictionary key at byte {offset} is {} (canonical mode)", if *.duplicate { "a duplicate" } else { "out of order" })]
    UnsortedKey {
        /// Byte offset of the key.
        offset: usize,
        /// `true` when the key equals the previous one.
        duplicate: bool,
    },
    /// Lists and dictionaries nested deeper than [`DecodeOptions::max_depth`](crate::DecodeOptions::max_depth).
    #[error("nesting deeper than {limit} at byte {offset}")]
    DepthLimit {
        /// Byte offset of the container that went past the limit.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More values than [`DecodeOptions::max_items`](crate::DecodeOptions::max_items).
    #[error("more than {limit} items at byte {offset}")]
    ItemLimit {
        /// Byte offset of the first value past the limit.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Bytes after the root value, when they are not allowed.
    #[error("{count} trailing bytes after the root value at byte {offset}")]
    TrailingBytes {
        /// Byte offset of the first trailing byte.
        offset: usize,
        /// How many bytes follow the root value.
        count: usize,
    },
    /// The input is larger than the decoder can address (4 GiB - 1 bytes).
    #[error("input of {len} bytes is larger than 4 GiB - 1")]
    InputTooLarge {
        /// Length of the input in bytes.
        len: usize,
    },
    /// A required dictionary key is absent.
    #[error("missing key {path}")]
    MissingKey {
        /// Key path of the missing entry.
        path: String,
    },
    /// A value has another type than the one asked for.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Key path of the value.
        path: String,
        /// The type asked for.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A value has the right type but is not acceptable.
    #[error("{path}: {reason}")]
    InvalidValue {
        /// Key path of the value.
        path: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// A serde (de)serialization error.
    #[error("{0}")]
    Custom(String),
}

impl Error {
    /// The byte offset of a decoding error, `None` for access and serde
    /// errors.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Error::UnexpectedEof { offset, .. }
            | Error::Unexpected { offset, .. }
            | Error::IntegerOverflow { offset }
            | Error::LeadingZero { offset }
            | Error::NegativeZero { offset }
            | Error::UnsortedKey { offset, .. }
            | Error::DepthLimit { offset, .. }
            | Error::ItemLimit { offset, .. }
            | Error::TrailingBytes { offset, .. } => Some(offset),
            _ => None,
        }
    }
}
