//! The crate's one error type.

/// Every error of `seedbed-metainfo`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hex string of the wrong length or with a non-hex character.
    #[error("invalid hex: expected {expected} hex digits, {reason}")]
    InvalidHex {
        /// How many hex digits were expected (40 or 64).
        expected: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A byte slice of the wrong length for an identifier.
    #[error("invalid length: expected {expected} bytes, found {found}")]
    InvalidLength {
        /// Expected length in bytes.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The bencode layer rejected the input.
    #[error(transparent)]
    Bencode(#[from] seedbed_bencode::Error),
}
