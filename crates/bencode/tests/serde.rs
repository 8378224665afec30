//! serde: borrowing deserialization, None-skipping sorted serialization.
#![cfg(feature = "serde")]

use std::collections::BTreeMap;

use seedbed_bencode::{from_bytes, to_bytes, to_value, Error};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct File<'a> {
    length: u64,
    #[serde(borrow)]
    path: Vec<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md5sum: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Info<'a> {
    name: &'a str,
    #[serde(rename = "piece length")]
    piece_length: u32,
    #[serde(with = "serde_bytes_compat", borrow)]
    pieces: &'a [u8],
    #[serde(borrow)]
    files: Vec<File<'a>>,
    private: Option<bool>,
}

/// `&[u8]` via deserialize_bytes / serialize_bytes without serde_bytes.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&'de [u8]>::deserialize(d)
    }
    use serde::Deserialize;
}

#[test]
fn borrows_from_the_input() {
    let input = b"d5:filesld6:lengthi3e4:pathl1:a1:beee4:name3:abc12:piece lengthi16384e6:pieces3:\x00\x01\xffe";
    let info: Info<'_> = from_bytes(input).unwrap();
    assert_eq!(info.name, "abc");
    assert_eq!(info.pieces, b"\x00\x01\xff");
    assert_eq!(info.files[0].path, ["a", "b"]);
    assert_eq!(info.private, None);
    // Borrowed: the pointers lie inside the input.
    let range = input.as_ptr_range();
    assert!(range.contains(&info.name.as_ptr()));
    assert!(range.contains(&info.pieces.as_ptr()));
}

#[test]
fn serializer_sorts_keys_and_skips_none() {
    let info = Info {
        name: "abc",
        piece_length: 16384,
        pieces: b"\x00\x01\xff",
        files: vec![File {
            length: 3,
            path: vec!["a", "b"],
            md5sum: None,
        }],
        private: None,
    };
    let out = to_bytes(&info).unwrap();
    assert_eq!(
        out,
        b"d5:filesld6:lengthi3e4:pathl1:a1:beee4:name3:abc12:piece lengthi16384e6:pieces3:\x00\x01\xffe"
    );
    let back: Info<'_> = from_bytes(&out).unwrap();
    assert_eq!(back, info);
}

#[test]
fn options_bools_enums_and_maps() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Event {
        Started,
        Data(u8),
        Pair(i32, i32),
        Named { a: u8 },
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct M {
        flag: bool,
        events: Vec<Event>,
        extra: BTreeMap<String, i64>,
        none: Option<u8>,
        some: Option<u8>,
    }
    let m = M {
        flag: true,
        events: vec![
            Event::Started,
            Event::Data(7),
            Event::Pair(-1, 2),
            Event::Named { a: 1 },
        ],
        extra: [("z".to_string(), 1), ("a".to_string(), 2)].into(),
        none: None,
        some: Some(3),
    };
    let out = to_bytes(&m).unwrap();
    assert_eq!(
        out,
        &b"d6:eventsl7:Startedd4:Datai7eed4:Pairli-1ei2eeed5:Namedd1:ai1eeee5:extrad1:ai2e1:zi1ee4:flagi1e4:somei3ee"[..]
    );
    assert_eq!(from_bytes::<M>(&out).unwrap(), m);
}

#[test]
fn errors_instead_of_panics() {
    // serde_bencode panics on None inside a list; we return an error.
    let e = to_bytes(&vec![Some(1), None]).unwrap_err();
    assert!(matches!(e, Error::Custom(_)), "{e}");
    assert!(to_bytes(&1.5f64).is_err());
    assert!(to_bytes(&u64::MAX).is_err());
    assert!(to_value(&Option::<u8>::None).is_err());
    assert!(from_bytes::<u8>(b"i256e").is_err());
    assert!(from_bytes::<bool>(b"i2e").is_err());
    // Decoding errors keep their offsets.
    assert_eq!(from_bytes::<i64>(b"i1x").unwrap_err().offset(), Some(2));
}
