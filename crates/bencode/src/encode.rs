//! The encoder: canonical bencode (BEP 3) into any [`bytes::BufMut`].
//!
//! Canonical means integers without leading zeros, and dictionary keys
//! sorted as raw bytes with no duplicates. Every encoder in this crate
//! writes only canonical output.

use bytes::BufMut;

use crate::document::{Kind, Value};

/// Something that can be written as canonical bencode.
pub trait Encode {
    /// Writes the canonical encoding into `buf`.
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B);

    /// The canonical encoding as a new `Vec<u8>`.
    fn to_bencode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// Writes `i<value>e`.
pub fn write_int<B: BufMut + ?Sized>(buf: &mut B, value: i64) {
    let mut tmp = [0u8; 22];
    let n = format_int(&mut tmp[1..], value);
    tmp[0] = b'i';
    tmp[n + 1] = b'e';
    buf.put_slice(&tmp[..n + 2]);
}

/// Writes `<len>:<bytes>`.
pub fn write_bytes<B: BufMut + ?Sized>(buf: &mut B, bytes: &[u8]) {
    let mut tmp = [0u8; 21];
    let n = format_uint(&mut tmp, bytes.len() as u64);
    tmp[n] = b':';
    buf.put_slice(&tmp[..n + 1]);
    buf.put_slice(bytes);
}

/// Formats `v` in decimal at the start of `out` (at least 20 bytes);
/// returns the number of bytes written.
fn format_int(out: &mut [u8], v: i64) -> usize {
    if v < 0 {
        out[0] = b'-';
        1 + format_uint(&mut out[1..], v.unsigned_abs())
    } else {
        format_uint(out, v as u64)
    }
}

fn format_uint(out: &mut [u8], mut v: u64) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let n = tmp.len() - i;
    out[..n].copy_from_slice(&tmp[i..]);
    n
}

impl Encode for i64 {
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        write_int(buf, *self);
    }
}

impl Encode for [u8] {
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        write_bytes(buf, self);
    }
}

impl Encode for str {
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        write_bytes(buf, self.as_bytes());
    }
}

/// A decoded value re-encoded canonically: keys sorted, duplicates dropped
/// (the first is kept, as [`Dict::get`](crate::Dict::get) sees it), leading
/// zeros removed. For the exact original bytes use [`Value::raw`]. Does not
/// recurse, so any nesting depth is safe.
impl Encode for Value<'_, '_> {
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        enum Frame<'d, 'a> {
            List(crate::document::Items<'d, 'a>),
            Dict(std::vec::IntoIter<(&'a [u8], Value<'d, 'a>)>),
        }
        let mut stack: Vec<Frame<'_, '_>> = Vec::new();
        let mut pending = Some(*self);
        loop {
            if let Some(v) = pending.take() {
                match v.kind() {
                    Kind::Int(i) => write_int(buf, i),
                    Kind::Bytes(b) => write_bytes(buf, b),
                    Kind::List(l) => {
                        buf.put_u8(b'l');
                        stack.push(Frame::List(l.iter()));
                    }
                    Kind::Dict(d) => {
                        buf.put_u8(b'd');
                        let mut entries: Vec<_> = d.iter().collect();
                        entries.sort_by(|a, b| a.0.cmp(b.0));
                        entries.dedup_by(|later, first| later.0 == first.0);
                        stack.push(Frame::Dict(entries.into_iter()));
                    }
                }
            }
            let Some(top) = stack.last_mut() else {
                return;
            };
            match top {
                Frame::List(items) => match items.next() {
                    Some(v) => pending = Some(v),
                    None => {
                        buf.put_u8(b'e');
                        stack.pop();
                    }
                },
                Frame::Dict(entries) => match entries.next() {
                    Some((k, v)) => {
                        write_bytes(buf, k);
                        pending = Some(v);
                    }
                    None => {
                        buf.put_u8(b'e');
                        stack.pop();
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(out, format!("i{v}e").into_bytes());
        }
    }

    #[test]
    fn value_reencodes_canonically() {
        let doc = crate::decode(b"d1:bi01e1:ali-0e2:xye1:bi2ee").unwrap();
        assert_eq!(doc.root().to_bencode(), b"d1:ali0e2:xye1:bi1ee");
    }
}
