//! Decoder settings: strictness and limits.

/// Settings for [`decode_with`](crate::decode_with) and
/// [`decode_prefix_with`](crate::decode_prefix_with).
///
/// The defaults are lenient, like the clients people use (libtorrent,
/// Transmission): unsorted and duplicate dictionary keys and leading zeros
/// are accepted; only the limits below bound the work.
///
/// ```
/// use seedbed_bencode::{decode_with, DecodeOptions};
/// let opts = DecodeOptions::new().canonical(true).max_depth(8);
/// assert!(decode_with(b"d1:bi1e1:ai2ee", &opts).is_err()); // keys out of order
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    pub(crate) canonical: bool,
    pub(crate) allow_trailing: bool,
    pub(crate) max_depth: usize,
    pub(crate) max_items: usize,
}

impl DecodeOptions {
    /// Default nesting limit: 100 levels of lists and dictionaries, as in
    /// libtorrent's `bdecode`.
    pub const DEFAULT_MAX_DEPTH: usize = 100;
    /// Default item limit: 2,000,000 values (integers, strings, lists,
    /// dictionaries and keys each count as one), as libtorrent's default
    /// token limit.
    pub const DEFAULT_MAX_ITEMS: usize = 2_000_000;

    /// Lenient decoding with the default limits.
    pub const fn new() -> Self {
        DecodeOptions {
            canonical: false,
            allow_trailing: false,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_items: Self::DEFAULT_MAX_ITEMS,
        }
    }

    /// Canonical (strict) mode: reject unsorted or duplicate dictionary
    /// keys ([`Error::UnsortedKey`](crate::Error::UnsortedKey)), leading
    /// zeros in integers and string lengths
    /// ([`Error::LeadingZero`](crate::Error::LeadingZero)) and `i-0e`
    /// ([`Error::NegativeZero`](crate::Error::NegativeZero)). Off by default.
    pub const fn canonical(mut self, on: bool) -> Self {
        self.canonical = on;
        self
    }

    /// Accept bytes after the root value of [`decode_with`](crate::decode_with)
    /// (six real .torrent files end with a stray `\n`). Off by default:
    /// trailing bytes are [`Error::TrailingBytes`](crate::Error::TrailingBytes).
    /// [`decode_prefix_with`](crate::decode_prefix_with) always allows them.
    pub const fn allow_trailing(mut self, on: bool) -> Self {
        self.allow_trailing = on;
        self
    }

    /// The deepest nesting of lists and dictionaries accepted; the root
    /// container is depth 1. Past it: [`Error::DepthLimit`](crate::Error::DepthLimit).
    /// The decoder does not recurse, so any limit is safe for the stack.
    pub const fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// The most values accepted in one input (each integer, string, list,
    /// dictionary and key counts as one). Past it:
    /// [`Error::ItemLimit`](crate::Error::ItemLimit). Memory used by a
    /// decoded document is about 24 bytes per item.
    pub const fn max_items(mut self, items: usize) -> Self {
        self.max_items = items;
        self
    }

    /// Whether canonical mode is on.
    pub const fn is_canonical(&self) -> bool {
        self.canonical
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::new()
    }
}
