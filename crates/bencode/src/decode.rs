//! The decoder: nom parsers for the scalar tokens, and a non-recursive loop
//! that builds the flat token tape of a [`Document`].

use nom::bytes::complete::take_while;
use nom::IResult;

use crate::document::{Document, Tag, Token};
use crate::error::{Error, Expected};
use crate::options::DecodeOptions;

/// Decodes one bencoded value that spans all of `input`, leniently and with
/// the default limits ([`DecodeOptions::new`]).
///
/// Byte strings are not copied: the returned [`Document`] borrows `input`.
///
/// # Errors
/// Any decoding [`Error`], with the byte offset where it was found;
/// [`Error::TrailingBytes`] when bytes follow the value.
///
/// ```
/// let doc = seedbed_bencode::decode(b"d3:cow3:mooe").unwrap();
/// let moo = doc.root().as_dict().unwrap().get(b"cow").unwrap();
/// assert_eq!(moo.as_bytes(), Some(&b"moo"[..]));
/// assert_eq!(moo.span(), 6..11);
/// ```
pub fn decode(input: &[u8]) -> Result<Document<'_>, Error> {
    decode_with(input, &DecodeOptions::new())
}

/// Decodes one bencoded value with the given options.
///
/// # Errors
/// As [`decode`]; trailing bytes are an error unless
/// [`DecodeOptions::allow_trailing`] is set.
pub fn decode_with<'a>(input: &'a [u8], opts: &DecodeOptions) -> Result<Document<'a>, Error> {
    let (doc, rest) = decode_prefix_with(input, opts)?;
    if !rest.is_empty() && !opts.allow_trailing {
        return Err(Error::TrailingBytes {
            offset: input.len() - rest.len(),
            count: rest.len(),
        });
    }
    Ok(doc)
}

/// Decodes the first bencoded value of `input` and returns it with the bytes
/// after it (BEP 9 `ut_metadata` data messages put the piece right after the
/// dictionary).
///
/// # Errors
/// Any decoding [`Error`]; never [`Error::TrailingBytes`].
///
/// ```
/// let (doc, rest) = seedbed_bencode::decode_prefix(b"d5:piecei0eeDATA").unwrap();
/// assert_eq!(doc.root().span(), 0..12);
/// assert_eq!(rest, b"DATA");
/// ```
pub fn decode_prefix(input: &[u8]) -> Result<(Document<'_>, &[u8]), Error> {
    decode_prefix_with(input, &DecodeOptions::new())
}

/// [`decode_prefix`] with options.
///
/// # Errors
/// Any decoding [`Error`]; never [`Error::TrailingBytes`].
pub fn decode_prefix_with<'a>(
    input: &'a [u8],
    opts: &DecodeOptions,
) -> Result<(Document<'a>, &'a [u8]), Error> {
    if input.len() > u32::MAX as usize {
        return Err(Error::InputTooLarge { len: input.len() });
    }
    let mut p = Parser {
        input,
        pos: 0,
        opts,
        tokens: Vec::with_capacity(estimate_tokens(input)),
        stack: Vec::new(),
    };
    p.run()?;
    let end = p.pos;
    Ok((Document::from_parts(input, p.tokens), &input[end..]))
}

fn estimate_tokens(input: &[u8]) -> usize {
    match input.first() {
        // A scalar root is one token.
        Some(b'0'..=b'9' | b'i') => 1,
        // Real torrents are dominated by long strings (a 600 KB torrent has
        // a few dozen values): a small first guess, then the Vec doubles.
        _ => (input.len() / 64).clamp(4, 256),
    }
}

/// A parse failure inside a scalar parser: where (as the remaining input)
/// and what.
#[derive(Debug)]
pub(crate) struct Fail<'a> {
    at: &'a [u8],
    kind: FailKind,
}

#[derive(Debug)]
enum FailKind {
    Eof(Expected),
    Unexpected(Expected),
    Overflow,
    LeadingZero,
    NegativeZero,
}

impl<'a> nom::error::ParseError<&'a [u8]> for Fail<'a> {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        Fail {
            at: input,
            kind: FailKind::Unexpected(Expected::Value),
        }
    }
    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, Fail<'a>>;

fn fail<T>(at: &[u8], kind: FailKind) -> PResult<'_, T> {
    Err(nom::Err::Error(Fail { at, kind }))
}

/// A run of ASCII digits (possibly empty).
fn digits(input: &[u8]) -> PResult<'_, &[u8]> {
    take_while(|b: u8| b.is_ascii_digit())(input)
}

/// Accumulates `digits` as a negative number (so `i64::MIN` fits), failing
/// at the digit where it stops fitting.
fn accumulate_negative(digits: &[u8]) -> Result<i64, usize> {
    let mut acc: i64 = 0;
    for (i, &d) in digits.iter().enumerate() {
        acc = acc
            .checked_mul(10)
            .and_then(|a| a.checked_sub(i64::from(d - b'0')))
            .ok_or(i)?;
    }
    Ok(acc)
}

/// The body of an integer after its `i`: `-?[0-9]+e`.
#[inline]
pub(crate) fn integer_body(input: &[u8], canonical: bool) -> PResult<'_, i64> {
    // Fast path: a non-negative integer of up to 18 digits, canonical.
    let mut v = 0i64;
    let mut n = 0;
    while n < input.len().min(18) {
        let d = input[n].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + i64::from(d);
        n += 1;
    }
    if n > 0 && input.get(n) == Some(&b'e') && (n == 1 || input[0] != b'0') {
        return Ok((&input[n + 1..], v));
    }
    integer_body_slow(input, canonical)
}

/// [`integer_body`] with every check and error.
fn integer_body_slow(input: &[u8], canonical: bool) -> PResult<'_, i64> {
    let (rest, negative) = match input.first() {
        Some(b'-') => (&input[1..], true),
        _ => (input, false),
    };
    let (after, ds) = digits(rest)?;
    if ds.is_empty() {
        return match after.first() {
            None => fail(after, FailKind::Eof(Expected::Digit)),
            Some(_) => fail(after, FailKind::Unexpected(Expected::Digit)),
        };
    }
    let neg = match accumulate_negative(ds) {
        Ok(n) => n,
        Err(i) => return fail(&rest[i..], FailKind::Overflow),
    };
    let value = if negative {
        neg
    } else {
        match neg.checked_neg() {
            Some(v) => v,
            None => return fail(&rest[ds.len() - 1..], FailKind::Overflow),
        }
    };
    match after.first() {
        Some(b'e') => {}
        None => return fail(after, FailKind::Eof(Expected::IntegerEnd)),
        Some(_) => return fail(after, FailKind::Unexpected(Expected::IntegerEnd)),
    }
    if canonical {
        if ds.len() > 1 && ds[0] == b'0' {
            return fail(rest, FailKind::LeadingZero);
        }
        if negative && value == 0 {
            return fail(input, FailKind::NegativeZero);
        }
    }
    Ok((&after[1..], value))
}

/// A byte string `len:bytes`, starting at its first digit. Returns the
/// string's content. The declared length is checked against the remaining
/// input before anything is sliced; nothing is allocated.
#[inline]
pub(crate) fn byte_string(input: &[u8], canonical: bool) -> PResult<'_, &[u8]> {
    // Fast path: up to 18 digits cannot overflow; one pass, no checks.
    let mut len = 0u64;
    let mut n = 0;
    while n < input.len().min(18) {
        let d = input[n].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        len = len * 10 + u64::from(d);
        n += 1;
    }
    if n > 0 && input.get(n) == Some(&b':') && !(canonical && n > 1 && input[0] == b'0') {
        let body = &input[n + 1..];
        if (body.len() as u64) >= len {
            let len = len as usize;
            return Ok((&body[len..], &body[..len]));
        }
    }
    byte_string_slow(input, canonical)
}

/// [`byte_string`] with every check and error.
fn byte_string_slow(input: &[u8], canonical: bool) -> PResult<'_, &[u8]> {
    let (after, ds) = digits(input)?;
    if ds.is_empty() {
        return match after.first() {
            None => fail(after, FailKind::Eof(Expected::Digit)),
            Some(_) => fail(after, FailKind::Unexpected(Expected::Digit)),
        };
    }
    let len = match accumulate_negative(ds).map(i64::checked_neg) {
        Ok(Some(n)) => n,
        Ok(None) => return fail(&input[ds.len() - 1..], FailKind::Overflow),
        Err(i) => return fail(&input[i..], FailKind::Overflow),
    };
    match after.first() {
        Some(b':') => {}
        None => return fail(after, FailKind::Eof(Expected::Colon)),
        Some(_) => return fail(after, FailKind::Unexpected(Expected::Colon)),
    }
    if canonical && ds.len() > 1 && ds[0] == b'0' {
        return fail(input, FailKind::LeadingZero);
    }
    let body = &after[1..];
    // `len` is non-negative and fits in i64; compare without casting down.
    if (body.len() as u64) < len as u64 {
        return fail(after, FailKind::Eof(Expected::StringBytes(len as u64)));
    }
    let len = len as usize;
    Ok((&body[len..], &body[..len]))
}

/// Turns a scalar parser's failure into an [`Error`] with its offset in
/// `input`.
pub(crate) fn convert(input: &[u8], e: nom::Err<Fail<'_>>) -> Error {
    let f = match e {
        nom::Err::Error(f) | nom::Err::Failure(f) => f,
        nom::Err::Incomplete(_) => {
            return Error::UnexpectedEof {
                offset: input.len(),
                expected: Expected::Value,
            }
        }
    };
    let offset = input.len() - f.at.len();
    match f.kind {
        FailKind::Eof(expected) => Error::UnexpectedEof { offset, expected },
        FailKind::Unexpected(expected) => Error::Unexpected {
            offset,
            expected,
            found: f.at.first().copied().unwrap_or(0),
        },
        FailKind::Overflow => Error::IntegerOverflow { offset },
        FailKind::LeadingZero => Error::LeadingZero { offset },
        FailKind::NegativeZero => Error::NegativeZero { offset },
    }
}

/// One open list or dictionary.
struct Frame {
    /// Index of the container's token.
    token: u32,
    /// Dictionaries: whether the next item is a key.
    expect_key: bool,
    is_dict: bool,
    /// Canonical mode: the previous key's content span.
    last_key: Option<(u32, u32)>,
}

struct Parser<'a, 'o> {
    input: &'a [u8],
    pos: usize,
    opts: &'o DecodeOptions,
    tokens: Vec<Token>,
    stack: Vec<Frame>,
}

impl<'a> Parser<'a, '_> {
    fn offset_of(&self, rest: &[u8]) -> usize {
        self.input.len() - rest.len()
    }

    fn convert(&self, e: nom::Err<Fail<'_>>) -> Error {
        convert(self.input, e)
    }

    /// Appends a token; scalars get their `next` (the following index)
    /// here, containers when they close.
    fn push_token(&mut self, mut token: Token) -> Result<u32, Error> {
        if self.tokens.len() >= self.opts.max_items {
            return Err(Error::ItemLimit {
                offset: token.start as usize,
                limit: self.opts.max_items,
            });
        }
        let idx = self.tokens.len() as u32;
        if matches!(token.tag, Tag::Int | Tag::Bytes) {
            token.next = idx + 1;
        }
        self.tokens.push(token);
        Ok(idx)
    }

    fn run(&mut self) -> Result<(), Error> {
        let input = self.input;
        loop {
            let pos = self.pos;
            let rest = &input[pos..];
            let Some(&b) = rest.first() else {
                let expected = match self.stack.last() {
                    Some(f) if f.is_dict && f.expect_key => Expected::KeyOrEnd,
                    _ => Expected::Value,
                };
                return Err(Error::UnexpectedEof {
                    offset: pos,
                    expected,
                });
            };
            // Where are we: a dictionary key, the end of a container, or a value?
            if let Some(frame) = self.stack.last() {
                if b == b'e' && (!frame.is_dict || frame.expect_key) {
                    self.close(pos + 1);
                    if self.stack.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                if frame.is_dict && frame.expect_key {
                    self.key(rest)?;
                    continue;
                }
            }
            self.value(rest, b)?;
            if self.stack.is_empty() {
                return Ok(());
            }
        }
    }

    fn after_value(&mut self) {
        if let Some(frame) = self.stack.last_mut() {
            if frame.is_dict {
                frame.expect_key = true;
            }
        }
    }

    fn close(&mut self, end: usize) {
        let frame = self.stack.pop().expect("close with an open container");
        let next = self.tokens.len() as u32;
        let t = &mut self.tokens[frame.token as usize];
        t.end = end as u32;
        t.next = next;
        self.pos = end;
        self.after_value();
    }

    fn key(&mut self, rest: &'a [u8]) -> Result<(), Error> {
        let b = rest[0];
        if !b.is_ascii_digit() {
            return Err(Error::Unexpected {
                offset: self.pos,
                expected: Expected::KeyOrEnd,
                found: b,
            });
        }
        let canonical = self.opts.canonical;
        let (after, content) = byte_string(rest, canonical).map_err(|e| self.convert(e))?;
        let start = self.pos;
        let end = self.offset_of(after);
        let data = (end - content.len()) as u32;
        if canonical {
            let frame = self.stack.last().expect("key inside a dictionary");
            if let Some((ks, ke)) = frame.last_key {
                let prev = &self.input[ks as usize..ke as usize];
                if content <= prev {
                    return Err(Error::UnsortedKey {
                        offset: start,
                        duplicate: content == prev,
                    });
                }
            }
        }
        self.push_token(Token::new(Tag::Bytes, start, end, u64::from(data)))?;
        let frame = self.stack.last_mut().expect("key inside a dictionary");
        frame.expect_key = false;
        frame.last_key = Some((data, end as u32));
        self.pos = end;
        Ok(())
    }

    fn value(&mut self, rest: &'a [u8], b: u8) -> Result<(), Error> {
        let start = self.pos;
        let canonical = self.opts.canonical;
        match b {
            b'i' => {
                let (after, v) =
                    integer_body(&rest[1..], canonical).map_err(|e| self.convert(e))?;
                let end = self.offset_of(after);
                self.push_token(Token::new(Tag::Int, start, end, v as u64))?;
                self.pos = end;
                self.after_value();
            }
            b'0'..=b'9' => {
                let (after, content) = byte_string(rest, canonical).map_err(|e| self.convert(e))?;
                let end = self.offset_of(after);
                let data = (end - content.len()) as u64;
                self.push_token(Token::new(Tag::Bytes, start, end, data))?;
                self.pos = end;
                self.after_value();
            }
            b'l' | b'd' => {
                if self.stack.len() >= self.opts.max_depth {
                    return Err(Error::DepthLimit {
                        offset: start,
                        limit: self.opts.max_depth,
                    });
                }
                let is_dict = b == b'd';
                let tag = if is_dict { Tag::Dict } else { Tag::List };
                let token = self.push_token(Token::new(tag, start, start, 0))?;
                self.stack.push(Frame {
                    token,
                    expect_key: true,
                    is_dict,
                    last_key: None,
                });
                self.pos = start + 1;
            }
            _ => {
                return Err(Error::Unexpected {
                    offset: start,
                    expected: Expected::Value,
                    found: b,
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_extremes() {
        let d = decode(b"i-9223372036854775808e").unwrap();
        assert_eq!(d.root().as_int(), Some(i64::MIN));
        let d = decode(b"i9223372036854775807e").unwrap();
        assert_eq!(d.root().as_int(), Some(i64::MAX));
        assert!(matches!(
            decode(b"i9223372036854775808e"),
            Err(Error::IntegerOverflow { .. })
        ));
        assert!(matches!(
            decode(b"i-9223372036854775809e"),
            Err(Error::IntegerOverflow { .. })
        ));
    }

    #[test]
    fn canonical_rejections() {
        let strict = DecodeOptions::new().canonical(true);
        for (input, offset) in [
            (&b"i01e"[..], 1),
            (b"i-0e", 1),
            (b"03:abc", 0),
            (b"d1:bi1e1:ai1ee", 7),
            (b"d1:ai1e1:ai1ee", 7),
        ] {
            let e = decode_with(input, &strict).unwrap_err();
            assert_eq!(e.offset(), Some(offset), "{e}");
            assert!(decode(input).is_ok());
        }
    }

    #[test]
    fn trailing_bytes() {
        assert_eq!(
            decode(b"i1ei2e").unwrap_err(),
            Error::TrailingBytes {
                offset: 3,
                count: 3
            }
        );
        let opts = DecodeOptions::new().allow_trailing(true);
        assert_eq!(decode_with(b"i1e\n", &opts).unwrap().root().span(), 0..3);
    }

    #[test]
    fn streaming_prefix() {
        let input = b"d4:herp4:derped3:wat1:ke17:oh baby a triple!";
        let (a, rest) = decode_prefix(input).unwrap();
        assert_eq!(a.root().span(), 0..14);
        let (b, rest) = decode_prefix(rest).unwrap();
        assert_eq!(b.root().raw(), b"d3:wat1:ke");
        let (c, rest) = decode_prefix(rest).unwrap();
        assert_eq!(c.root().as_bytes(), Some(&b"oh baby a triple!"[..]));
        assert!(rest.is_empty());
    }
}
