//! A pull reader: the values of an input one at a time, in order, with no
//! allocation (in canonical mode, one 1 KiB table of previous keys). For small messages read once and thrown away (a DHT
//! datagram, a peer's extension message) it skips building the tape of a
//! [`Document`](crate::Document); the checks and errors are the same.

use crate::decode::{byte_string, convert, integer_body};
use crate::error::{Error, Expected};
use crate::options::DecodeOptions;

/// The deepest nesting a [`Reader`] follows: 128 levels. A larger
/// [`DecodeOptions::max_depth`] is lowered to this (the open containers are
/// kept in a fixed 128-bit set, so a lenient reader never allocates).
pub const MAX_READER_DEPTH: usize = 128;

/// One value read by a [`Reader`]: a scalar with its content, or the start
/// of a container whose items follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// An integer, `i…e`, in `i64` range.
    Int(i64),
    /// A byte string, borrowed from the input. Inside a dictionary, keys
    /// are returned as `Bytes` too, each followed by its value.
    Bytes(&'a [u8]),
    /// A list started (`l`): its items follow, then `None` from
    /// [`Reader::next`].
    List,
    /// A dictionary started (`d`): key, value, key, value…, then `None`.
    Dict,
}

impl Item<'_> {
    /// Whether the item starts a list or a dictionary.
    pub fn is_container(&self) -> bool {
        matches!(self, Item::List | Item::Dict)
    }
}

/// Reads bencode value by value without building a tree and, unless
/// [`DecodeOptions::canonical`] is on (one 1 KiB table of previous keys),
/// without allocating: the same syntax checks, limits ([`DecodeOptions`]) and error
/// offsets as [`decode_with`](crate::decode_with), in one forward pass.
///
/// [`next`](Reader::next) returns each value with its byte offset, in
/// pre-order; dictionary keys come back as [`Item::Bytes`], each followed by
/// its value; `None` ends the current container (and, at the top, the
/// input). [`skip`](Reader::skip) passes over a container the caller does
/// not want; [`finish`](Reader::finish) checks that the root value is
/// complete and (unless [`DecodeOptions::allow_trailing`]) that nothing
/// follows it.
///
/// ```
/// use seedbed_bencode::{DecodeOptions, Item, Reader};
///
/// let mut r = Reader::new(b"d1:ai1e1:bl1:xee", &DecodeOptions::new());
/// assert_eq!(r.next()?, Some((0, Item::Dict)));
/// assert_eq!(r.next()?, Some((1, Item::Bytes(b"a"))));
/// assert_eq!(r.next()?, Some((4, Item::Int(1))));
/// assert_eq!(r.next()?, Some((7, Item::Bytes(b"b"))));
/// let (_, list) = r.next()?.unwrap();
/// r.skip(list)?; // the list and everything in it
/// assert_eq!(r.next()?, None); // the dictionary ended
/// assert_eq!(r.finish()?, 16);
/// # Ok::<(), seedbed_bencode::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// Open containers.
    depth: usize,
    /// Bit `d` set: the container at depth `d + 1` is a dictionary.
    dicts: u128,
    /// In an open dictionary: the next item is a key (or its end).
    key_next: bool,
    /// The root value has been read completely.
    done: bool,
    items: usize,
    max_depth: usize,
    max_items: usize,
    canonical: bool,
    allow_trailing: bool,
    /// Canonical mode only: the previous key of the dictionary at each
    /// depth (content start and end offsets), to check the order. A
    /// lenient reader carries none, which keeps it small to make and move.
    last_key: Option<Box<[(u32, u32); MAX_READER_DEPTH]>>,
}

impl<'a> Reader<'a> {
    /// A reader over `input` with the options' strictness and limits
    /// (`max_depth` at most [`MAX_READER_DEPTH`]).
    pub fn new(input: &'a [u8], opts: &DecodeOptions) -> Self {
        Reader {
            input,
            pos: 0,
            depth: 0,
            dicts: 0,
            key_next: false,
            done: false,
            items: 0,
            max_depth: opts.max_depth.min(MAX_READER_DEPTH),
            max_items: opts.max_items,
            canonical: opts.canonical,
            allow_trailing: opts.allow_trailing,
            last_key: opts.canonical.then(|| Box::new([(0, 0); MAX_READER_DEPTH])),
        }
    }

    /// The offset of the next byte to read (after a container's `None`,
    /// the byte after its `e`).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// How many containers are open.
    pub fn depth(&self) -> usize {
        self.depth
    }

    #[inline]
    fn in_dict(&self) -> bool {
        self.depth > 0 && self.dicts & (1u128 << (self.depth - 1)) != 0
    }

    fn count(&mut self, start: usize) -> Result<(), Error> {
        if self.items >= self.max_items {
            return Err(Error::ItemLimit {
                offset: start,
                limit: self.max_items,
            });
        }
        self.items += 1;
        Ok(())
    }

    /// A value is complete: in a dictionary the next item is a key; at the
    /// top the input is done.
    fn after_value(&mut self) {
        if self.depth == 0 {
            self.done = true;
        } else {
            self.key_next = self.in_dict();
        }
    }

    /// The next value and its byte offset; `None` when the current
    /// container ends (its `e` is consumed) or, at the top, once the root
    /// value has been read.
    ///
    /// # Errors
    /// Every error [`decode_with`](crate::decode_with) gives for the same
    /// bytes, at the same offset: bad syntax, a key that is not a string,
    /// [`Error::DepthLimit`], [`Error::ItemLimit`], canonical-mode errors.
    /// [`Error::TrailingBytes`] is left to [`finish`](Reader::finish).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<(usize, Item<'a>)>, Error> {
        if self.done {
            return Ok(None);
        }
        if self.input.len() > u32::MAX as usize {
            return Err(Error::InputTooLarge {
                len: self.input.len(),
            });
        }
        let input = self.input;
        let start = self.pos;
        let rest = &input[start..];
        let Some(&b) = rest.first() else {
            let expected = if self.in_dict() && self.key_next {
                Expected::KeyOrEnd
            } else {
                Expected::Value
            };
            return Err(Error::UnexpectedEof {
                offset: start,
                expected,
            });
        };
        if self.depth > 0 {
            let dict = self.in_dict();
            if b == b'e' && (!dict || self.key_next) {
                self.pos = start + 1;
                self.depth -= 1;
                self.after_value();
                return Ok(None);
            }
            if dict && self.key_next {
                return self.key(rest, b).map(Some);
            }
        }
        let canonical = self.canonical;
        let item = match b {
            b'i' => {
                let (after, v) =
                    integer_body(&rest[1..], canonical).map_err(|e| convert(input, e))?;
                self.count(start)?;
                self.pos = input.len() - after.len();
                self.after_value();
                Item::Int(v)
            }
            b'0'..=b'9' => {
                let (after, content) =
                    byte_string(rest, canonical).map_err(|e| convert(input, e))?;
                self.count(start)?;
                self.pos = input.len() - after.len();
                self.after_value();
                Item::Bytes(content)
            }
            b'l' | b'd' => {
                if self.depth >= self.max_depth {
                    return Err(Error::DepthLimit {
                        offset: start,
                        limit: self.max_depth,
                    });
                }
                self.count(start)?;
                let is_dict = b == b'd';
                let bit = 1u128 << self.depth;
                if is_dict {
                    self.dicts |= bit;
                    if let Some(keys) = self.last_key.as_deref_mut() {
                        keys[self.depth] = (u32::MAX, 0);
                    }
                } else {
                    self.dicts &= !bit;
                }
                self.depth += 1;
                self.key_next = is_dict;
                self.pos = start + 1;
                if is_dict {
                    Item::Dict
                } else {
                    Item::List
                }
            }
            _ => {
                return Err(Error::Unexpected {
                    offset: start,
                    expected: Expected::Value,
                    found: b,
                })
            }
        };
        Ok(Some((start, item)))
    }

    #[inline]
    fn key(&mut self, rest: &'a [u8], b: u8) -> Result<(usize, Item<'a>), Error> {
        let start = self.pos;
        if !b.is_ascii_digit() {
            return Err(Error::Unexpected {
                offset: start,
                expected: Expected::KeyOrEnd,
                found: b,
            });
        }
        let input = self.input;
        let (after, content) = byte_string(rest, self.canonical).map_err(|e| convert(input, e))?;
        let end = input.len() - after.len();
        if let Some(keys) = self.last_key.as_deref_mut() {
            let slot = &mut keys[self.depth - 1];
            let data = end - content.len();
            if slot.0 != u32::MAX {
                let prev = &input[slot.0 as usize..slot.1 as usize];
                if content <= prev {
                    return Err(Error::UnsortedKey {
                        offset: start,
                        duplicate: content == prev,
                    });
                }
            }
            // Offsets fit: the canonical check is only kept for inputs
            // below 4 GiB, like the document decoder's spans.
            *slot = (data as u32, end as u32);
        }
        self.count(start)?;
        self.pos = end;
        self.key_next = false;
        Ok((start, Item::Bytes(content)))
    }

    /// Skips what remains of `item`, the value just returned by
    /// [`next`](Reader::next): nothing for a scalar, the whole list or
    /// dictionary (checked as it is read) for a container.
    ///
    /// # Errors
    /// As [`next`](Reader::next).
    #[inline]
    pub fn skip(&mut self, item: Item<'a>) -> Result<(), Error> {
        if !item.is_container() {
            return Ok(());
        }
        let target = self.depth - 1;
        loop {
            if self.next()?.is_none() && self.depth == target {
                return Ok(());
            }
        }
    }

    /// Checks that the root value was read to its end and that no bytes
    /// follow it (unless [`DecodeOptions::allow_trailing`]); returns the
    /// offset after the root value.
    ///
    /// # Errors
    /// [`Error::UnexpectedEof`] (or another decoding error) when the root
    /// value is incomplete: the rest is read to find the first error;
    /// [`Error::TrailingBytes`].
    pub fn finish(mut self) -> Result<usize, Error> {
        while !self.done {
            self.next()?;
        }
        let end = self.pos;
        if end < self.input.len() && !self.allow_trailing {
            return Err(Error::TrailingBytes {
                offset: end,
                count: self.input.len() - end,
            });
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_with;

    /// Reads everything; the same outcome as `decode_with`.
    fn read_all(input: &[u8], opts: &DecodeOptions) -> Result<usize, Error> {
        let mut r = Reader::new(input, opts);
        let mut n = 0;
        while r.next()?.is_some() || r.depth() > 0 {
            n += 1;
        }
        r.finish()?;
        Ok(n)
    }

    #[test]
    fn same_errors_as_the_document_decoder() {
        let strict = DecodeOptions::new().canonical(true);
        let shallow = DecodeOptions::new().max_depth(2);
        let few = DecodeOptions::new().max_items(3);
        for input in [
            &b""[..],
            b"d",
            b"l",
            b"i12",
            b"i1x",
            b"5:abc",
            b"di1ei2ee",
            b"d1:ae",
            b"d1:ai1e",
            b"le1",
            b"x",
            b"i9223372036854775808e",
            b"lllleeee",
            b"li1ei2ei3ee",
            b"d1:bi1e1:ai1ee",
            b"d1:ai1e1:ai1ee",
            b"i-0e",
            b"03:abc",
            b"d3:cow3:moo4:spaml1:a1:bee",
        ] {
            for opts in [&DecodeOptions::new(), &strict, &shallow, &few] {
                let doc = decode_with(input, opts).map(|_| ());
                let read = read_all(input, opts).map(|_| ());
                assert_eq!(read, doc, "{:?} {opts:?}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn keys_then_values_and_offsets() {
        let input = b"d3:cow3:moo4:spaml1:a1:bee";
        let mut r = Reader::new(input, &DecodeOptions::new());
        let mut seen = Vec::new();
        loop {
            match r.next().unwrap() {
                Some(x) => seen.push(x),
                None if r.depth() == 0 => break,
                None => seen.push((r.offset(), Item::Int(-1))),
            }
        }
        assert_eq!(
            seen,
            vec![
                (0, Item::Dict),
                (1, Item::Bytes(b"cow")),
                (6, Item::Bytes(b"moo")),
                (11, Item::Bytes(b"spam")),
                (17, Item::List),
                (18, Item::Bytes(b"a")),
                (21, Item::Bytes(b"b")),
                (25, Item::Int(-1)), // the list ended: offset after its `e`
            ]
        );
        assert_eq!(r.finish().unwrap(), input.len());
    }

    #[test]
    fn skip_containers_and_scalars() {
        let input = b"d1:ald1:xi1eee1:bi2ee";
        let mut r = Reader::new(input, &DecodeOptions::new());
        assert_eq!(r.next().unwrap(), Some((0, Item::Dict)));
        assert_eq!(r.next().unwrap(), Some((1, Item::Bytes(b"a"))));
        let (_, l) = r.next().unwrap().unwrap();
        r.skip(l).unwrap();
        assert_eq!(r.offset(), 14);
        assert_eq!(r.next().unwrap(), Some((14, Item::Bytes(b"b"))));
        let (_, i) = r.next().unwrap().unwrap();
        r.skip(i).unwrap();
        assert_eq!(r.next().unwrap(), None);
        assert_eq!(r.next().unwrap(), None);
        assert_eq!(r.finish().unwrap(), input.len());
    }

    #[test]
    fn depth_limit_at_and_past_and_the_cap() {
        let at = DecodeOptions::new().max_depth(3);
        assert!(read_all(b"llleee", &at).is_ok());
        assert_eq!(
            read_all(b"lllleeee", &at),
            Err(Error::DepthLimit {
                offset: 3,
                limit: 3
            })
        );
        // The reader follows at most MAX_READER_DEPTH levels, whatever the
        // options say.
        let deep = DecodeOptions::new().max_depth(1000);
        let ok = [b"l".repeat(128), b"e".repeat(128)].concat();
        assert!(read_all(&ok, &deep).is_ok());
        let past = [b"l".repeat(129), b"e".repeat(129)].concat();
        assert_eq!(
            read_all(&past, &deep),
            Err(Error::DepthLimit {
                offset: 128,
                limit: MAX_READER_DEPTH
            })
        );
    }

    #[test]
    fn item_limit_at_and_past() {
        let three = DecodeOptions::new().max_items(3);
        assert!(read_all(b"li1ei2ee", &three).is_ok());
        assert_eq!(
            read_all(b"li1ei2ei3ee", &three),
            Err(Error::ItemLimit {
                offset: 7,
                limit: 3
            })
        );
    }

    #[test]
    fn trailing_bytes_and_allowance() {
        assert_eq!(
            read_all(b"i1ei2e", &DecodeOptions::new()),
            Err(Error::TrailingBytes {
                offset: 3,
                count: 3
            })
        );
        let allow = DecodeOptions::new().allow_trailing(true);
        let r = Reader::new(b"i1e\n", &allow);
        let mut r2 = r.clone();
        assert_eq!(r2.next().unwrap(), Some((0, Item::Int(1))));
        assert_eq!(r.finish().unwrap(), 3);
    }

    #[test]
    fn huge_declared_length_reads_nothing() {
        assert_eq!(
            read_all(b"99999999999:x", &DecodeOptions::new()),
            decode_with(b"99999999999:x", &DecodeOptions::new()).map(|_| 0)
        );
    }
}
