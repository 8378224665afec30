//! An owned value type, backed by [`Bytes`], for building messages.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{BufMut, Bytes};

use crate::document::{DebugBytes, Kind, Value};
use crate::encode::{write_bytes, write_int, Encode};

/// An owned bencode value. Dictionaries are `BTreeMap`s keyed by raw bytes,
/// so encoding is always canonical.
///
/// Nesting is whatever the builder makes it; converting and dropping recurse
/// once per level, so values from hostile input should come from a decoder
/// with a small [`max_depth`](crate::DecodeOptions::max_depth) (the default
/// 100 is fine).
///
/// ```
/// use seedbed_bencode::{Encode, OwnedValue};
/// let mut m = OwnedValue::dict();
/// m.insert("msg_type", 0);
/// m.insert("piece", 3);
/// assert_eq!(m.to_bencode(), b"d8:msg_typei0e5:piecei3ee");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Bytes),
    /// A list.
    List(Vec<OwnedValue>),
    /// A dictionary, keys sorted as raw bytes.
    Dict(BTreeMap<Bytes, OwnedValue>),
}

impl OwnedValue {
    /// An empty dictionary.
    pub fn dict() -> Self {
        OwnedValue::Dict(BTreeMap::new())
    }

    /// Inserts `key: value` if this is a dictionary; returns the previous
    /// value of the key. Does nothing (returns `None`) on other types.
    pub fn insert(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<OwnedValue>,
    ) -> Option<OwnedValue> {
        match self {
            OwnedValue::Dict(d) => d.insert(key.into(), value.into()),
            _ => None,
        }
    }

    /// The value for `key`, if this is a dictionary that has it.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&OwnedValue> {
        match self {
            OwnedValue::Dict(d) => d.get(key.as_ref()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            OwnedValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            OwnedValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is one and it is valid.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[OwnedValue]> {
        match self {
            OwnedValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&BTreeMap<Bytes, OwnedValue>> {
        match self {
            OwnedValue::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The canonical encoding as [`Bytes`].
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_bencode())
    }

    /// The length in bytes of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        fn digits(mut v: u64) -> usize {
            let mut n = 1;
            while v >= 10 {
                v /= 10;
                n += 1;
            }
            n
        }
        fn bytes_len(b: &[u8]) -> usize {
            digits(b.len() as u64) + 1 + b.len()
        }
        match self {
            OwnedValue::Int(i) => 2 + usize::from(*i < 0) + digits(i.unsigned_abs()),
            OwnedValue::Bytes(b) => bytes_len(b),
            OwnedValue::List(l) => 2 + l.iter().map(OwnedValue::encoded_len).sum::<usize>(),
            OwnedValue::Dict(d) => {
                2 + d
                    .iter()
                    .map(|(k, v)| bytes_len(k) + v.encoded_len())
                    .sum::<usize>()
            }
        }
    }

    pub(crate) fn from_value(v: Value<'_, '_>) -> OwnedValue {
        match v.kind() {
            Kind::Int(i) => OwnedValue::Int(i),
            Kind::Bytes(b) => OwnedValue::Bytes(Bytes::copy_from_slice(b)),
            Kind::List(l) => OwnedValue::List(l.iter().map(OwnedValue::from_value).collect()),
            Kind::Dict(d) => {
                let mut map = BTreeMap::new();
                for (k, x) in d.iter() {
                    map.entry(Bytes::copy_from_slice(k))
                        .or_insert_with(|| OwnedValue::from_value(x));
                }
                OwnedValue::Dict(map)
            }
        }
    }
}

impl Encode for OwnedValue {
    fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        match self {
            OwnedValue::Int(i) => write_int(buf, *i),
            OwnedValue::Bytes(b) => write_bytes(buf, b),
            OwnedValue::List(l) => {
                buf.put_u8(b'l');
                for v in l {
                    v.encode(buf);
                }
                buf.put_u8(b'e');
            }
            OwnedValue::Dict(d) => {
                buf.put_u8(b'd');
                for (k, v) in d {
                    write_bytes(buf, k);
                    v.encode(buf);
                }
                buf.put_u8(b'e');
            }
        }
    }
}

/// Structural equality with a decoded value. A decoded dictionary with
/// unsorted or duplicate keys equals the owned one it converts to only when
/// its entries are already sorted and unique.
impl PartialEq<Value<'_, '_>> for OwnedValue {
    fn eq(&self, other: &Value<'_, '_>) -> bool {
        match (self, other.kind()) {
            (OwnedValue::Int(a), Kind::Int(b)) => *a == b,
            (OwnedValue::Bytes(a), Kind::Bytes(b)) => a.as_ref() == b,
            (OwnedValue::List(a), Kind::List(b)) => {
                let mut it = b.iter();
                a.iter().all(|x| it.next().is_some_and(|y| x == &y)) && it.next().is_none()
            }
            (OwnedValue::Dict(a), Kind::Dict(b)) => {
                let mut it = b.iter();
                a.iter()
                    .all(|(k, x)| it.next().is_some_and(|(k2, y)| k.as_ref() == k2 && x == &y))
                    && it.next().is_none()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnedValue::Int(i) => write!(f, "{i}"),
            OwnedValue::Bytes(b) => fmt::Debug::fmt(&DebugBytes(b), f),
            OwnedValue::List(l) => f.debug_list().entries(l).finish(),
            OwnedValue::Dict(d) => f
                .debug_map()
                .entries(d.iter().map(|(k, v)| (DebugBytes(k), v)))
                .finish(),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for OwnedValue {
            fn from(v: $t) -> Self {
                OwnedValue::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, bool);

impl From<&str> for OwnedValue {
    fn from(v: &str) -> Self {
        OwnedValue::Bytes(Bytes::copy_from_slice(v.as_bytes()))
    }
}
impl From<String> for OwnedValue {
    fn from(v: String) -> Self {
        OwnedValue::Bytes(Bytes::from(v))
    }
}
impl From<&[u8]> for OwnedValue {
    fn from(v: &[u8]) -> Self {
        OwnedValue::Bytes(Bytes::copy_from_slice(v))
    }
}
impl From<Vec<u8>> for OwnedValue {
    fn from(v: Vec<u8>) -> Self {
        OwnedValue::Bytes(Bytes::from(v))
    }
}
impl From<Bytes> for OwnedValue {
    fn from(v: Bytes) -> Self {
        OwnedValue::Bytes(v)
    }
}
impl From<Vec<OwnedValue>> for OwnedValue {
    fn from(v: Vec<OwnedValue>) -> Self {
        OwnedValue::List(v)
    }
}
impl From<BTreeMap<Bytes, OwnedValue>> for OwnedValue {
    fn from(v: BTreeMap<Bytes, OwnedValue>) -> Self {
        OwnedValue::Dict(v)
    }
}
impl From<Value<'_, '_>> for OwnedValue {
    fn from(v: Value<'_, '_>) -> Self {
        OwnedValue::from_value(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches() {
        let mut d = OwnedValue::dict();
        d.insert("a", -12);
        d.insert("b", OwnedValue::List(vec![0.into(), "xyz".into()]));
        d.insert("", i64::MIN);
        assert_eq!(d.encoded_len(), d.to_bencode().len());
    }
}
