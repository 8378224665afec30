//! BEP 9 `ut_metadata`: fetching the `info` dictionary from peers in
//! 16 KiB pieces.

use bytes::{BufMut, Bytes};
use seedbed_bencode::{write_bytes, write_int};

use crate::error::Error;
use crate::extension::{decode_payload, invalid};
use crate::limits::Limits;

/// Size of a metadata piece: 16 KiB; only the last piece may be shorter
/// (BEP 9, "metadata").
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// Number of metadata pieces for a metadata size in bytes.
pub fn metadata_piece_count(metadata_size: u32) -> u32 {
    metadata_size.div_ceil(METADATA_PIECE_LEN)
}

const MSG: &str = "ut_metadata";

/// A `ut_metadata` message (BEP 9, "extension message"): a bencoded
/// dictionary with `msg_type` and `piece`; a data message's piece bytes
/// follow the dictionary.
///
/// ```
/// use seedbed_peer_wire::{Limits, MetadataMessage};
/// let raw = b"d8:msg_typei1e5:piecei0e10:total_sizei5eeHELLO";
/// let msg = MetadataMessage::decode(&bytes::Bytes::from_static(raw), &Limits::new())?;
/// let MetadataMessage::Data { piece, total_size, data } = &msg else { panic!() };
/// assert_eq!((*piece, *total_size, &data[..]), (0, 5, &b"HELLO"[..]));
/// assert_eq!(msg.to_bytes(), &raw[..]);
/// # Ok::<(), seedbed_peer_wire::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetadataMessage {
    /// `msg_type` 0: please send metadata piece `piece`.
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// `msg_type` 1: a metadata piece.
    Data {
        /// Metadata piece index.
        piece: u32,
        /// `total_size`: the whole metadata size in bytes.
        total_size: u32,
        /// The piece bytes (at most [`METADATA_PIECE_LEN`]); a zero-copy
        /// slice of the payload.
        data: Bytes,
    },
    /// `msg_type` 2: the peer will not send piece `piece`.
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
    /// Another `msg_type`: must be ignored, not an error (BEP 9).
    Unknown {
        /// The `msg_type` read.
        msg_type: i64,
        /// Metadata piece index.
        piece: u32,
    },
}

impl MetadataMessage {
    /// Parses the payload of a `ut_metadata` extended message (after the
    /// extended id byte). Bytes after the dictionary are the piece data of
    /// a data message and are ignored for other types.
    ///
    /// # Errors
    /// [`Error::Bencode`] for invalid bencode; [`Error::InvalidExtension`]
    /// when the root is not a dictionary or `msg_type`, `piece` (or
    /// `total_size` of a data message) is missing or out of range;
    /// [`Error::MetadataTooLarge`] when `total_size` is over
    /// [`Limits::max_metadata_size`] or the data is longer than
    /// [`METADATA_PIECE_LEN`].
    pub fn decode(payload: &Bytes, limits: &Limits) -> Result<Self, Error> {
        let (doc, rest) = decode_payload(MSG, payload)?;
        let root = doc.root();
        let dict = root
            .as_dict()
            .ok_or_else(|| invalid(MSG, root, "not a dictionary"))?;
        let msg_type = dict
            .get("msg_type")
            .ok_or_else(|| invalid(MSG, root, "no msg_type"))?;
        let msg_type = msg_type
            .as_int()
            .ok_or_else(|| invalid(MSG, msg_type, "msg_type is not an integer"))?;
        let piece = dict
            .get("piece")
            .ok_or_else(|| invalid(MSG, root, "no piece"))?;
        let piece = piece
            .as_int()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| invalid(MSG, piece, "piece is not an integer 0..2^32"))?;
        Ok(match msg_type {
            0 => MetadataMessage::Request { piece },
            1 => {
                let total = dict
                    .get("total_size")
                    .ok_or_else(|| invalid(MSG, root, "data without total_size"))?;
                let total_size = total.as_int().filter(|&i| i >= 0).ok_or_else(|| {
                    invalid(MSG, total, "total_size is not a non-negative integer")
                })?;
                let max = limits.get_max_metadata_size();
                if total_size > i64::from(max) {
                    return Err(Error::MetadataTooLarge {
                        what: "total_size",
                        found: total_size as u64,
                        max: u64::from(max),
                    });
                }
                if rest.len() > METADATA_PIECE_LEN as usize {
                    return Err(Error::MetadataTooLarge {
                        what: "piece data",
                        found: rest.len() as u64,
                        max: u64::from(METADATA_PIECE_LEN),
                    });
                }
                MetadataMessage::Data {
                    piece,
                    total_size: total_size as u32,
                    data: payload.slice(payload.len() - rest.len()..),
                }
            }
            2 => MetadataMessage::Reject { piece },
            msg_type => MetadataMessage::Unknown { msg_type, piece },
        })
    }

    /// Writes the canonical dictionary, then a data message's bytes.
    pub fn encode<B: BufMut + ?Sized>(&self, dst: &mut B) {
        let (msg_type, piece) = match self {
            MetadataMessage::Request { piece } => (0, *piece),
            MetadataMessage::Data { piece, .. } => (1, *piece),
            MetadataMessage::Reject { piece } => (2, *piece),
            MetadataMessage::Unknown { msg_type, piece } => (*msg_type, *piece),
        };
        dst.put_u8(b'd');
        write_bytes(dst, b"msg_type");
        write_int(dst, msg_type);
        write_bytes(dst, b"piece");
        write_int(dst, i64::from(piece));
        if let MetadataMessage::Data {
            total_size, data, ..
        } = self
        {
            write_bytes(dst, b"total_size");
            write_int(dst, i64::from(*total_size));
            dst.put_u8(b'e');
            dst.put_slice(data);
        } else {
            dst.put_u8(b'e');
        }
    }

    /// The encoded payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::new();
        self.encode(&mut v);
        Bytes::from(v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bep9_examples() {
        let l = Limits::new();
        let req = MetadataMessage::decode(&Bytes::from_static(b"d8:msg_typei0e5:piecei0ee"), &l);
        assert_eq!(req.unwrap(), MetadataMessage::Request { piece: 0 });
        let rej = MetadataMessage::decode(&Bytes::from_static(b"d8:msg_typei2e5:piecei0ee"), &l);
        assert_eq!(rej.unwrap(), MetadataMessage::Reject { piece: 0 });
        let unk = MetadataMessage::decode(&Bytes::from_static(b"d8:msg_typei9e5:piecei3ee"), &l);
        assert_eq!(
            unk.unwrap(),
            MetadataMessage::Unknown {
                msg_type: 9,
                piece: 3
            }
        );
        assert_eq!(metadata_piece_count(0), 0);
        assert_eq!(metadata_piece_count(16384), 1);
        assert_eq!(metadata_piece_count(16385), 2);
    }

    #[test]
    fn data_is_zero_copy_and_bounded() {
        let mut raw = b"d8:msg_typei1e5:piecei0e10:total_sizei20000ee".to_vec();
        raw.extend(std::iter::repeat_n(7u8, 16384));
        let payload = Bytes::from(raw);
        let MetadataMessage::Data { data, .. } =
            MetadataMessage::decode(&payload, &Limits::new()).unwrap()
        else {
            panic!("not data")
        };
        assert_eq!(data.len(), 16384);
        let range = payload.as_ptr_range();
        assert!(range.contains(&data.as_ptr()));

        let mut over = payload.to_vec();
        over.push(7);
        assert!(matches!(
            MetadataMessage::decode(&Bytes::from(over), &Limits::new()),
            Err(Error::MetadataTooLarge {
                what: "piece data",
                ..
            })
        ));
        let l = Limits::new().max_metadata_size(20000);
        assert!(MetadataMessage::decode(&payload, &l).is_ok());
        let l = Limits::new().max_metadata_size(19999);
        assert!(matches!(
            MetadataMessage::decode(&payload, &l),
            Err(Error::MetadataTooLarge {
                what: "total_size",
                found: 20000,
                ..
            })
        ));
    }

    #[test]
    fn missing_keys_are_errors_with_offsets() {
        let l = Limits::new();
        for (raw, reason) in [
            (&b"d5:piecei0ee"[..], "no msg_type"),
            (b"d8:msg_typei0ee", "no piece"),
            (b"d8:msg_typei1e5:piecei0ee", "data without total_size"),
            (
                b"d8:msg_typei0e5:piecei-1ee",
                "piece is not an integer 0..2^32",
            ),
        ] {
            match MetadataMessage::decode(&Bytes::copy_from_slice(raw), &l) {
                Err(Error::InvalidExtension { reason: r, .. }) => assert_eq!(r, reason),
                other => panic!("{other:?}"),
            }
        }
    }

    pub(crate) fn strategy() -> impl Strategy<Value = MetadataMessage> {
        prop_oneof![
            any::<u32>().prop_map(|piece| MetadataMessage::Request { piece }),
            any::<u32>().prop_map(|piece| MetadataMessage::Reject { piece }),
            (
                any::<u32>(),
                0..=Limits::DEFAULT_MAX_METADATA_SIZE,
                proptest::collection::vec(any::<u8>(), 0..=64)
            )
                .prop_map(|(piece, total_size, data)| MetadataMessage::Data {
                    piece,
                    total_size,
                    data: Bytes::from(data)
                }),
            (3i64.., any::<u32>())
                .prop_map(|(msg_type, piece)| MetadataMessage::Unknown { msg_type, piece }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(m in strategy()) {
            let bytes = m.to_bytes();
            prop_assert_eq!(MetadataMessage::decode(&bytes, &Limits::new()).unwrap(), m);
        }
    }
}
