//! BEP 11 `ut_pex`: peer exchange.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use bytes::{BufMut, Bytes};
use seedbed_bencode::write_bytes;

use crate::error::Error;
use crate::extension::{decode_payload, invalid};

const MSG: &str = "ut_pex";

/// The flags byte of one added peer (BEP 11, "added.f").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// 0x01: prefers encryption.
    pub const PREFERS_ENCRYPTION: u8 = 0x01;
    /// 0x02: seed or upload only.
    pub const SEED: u8 = 0x02;
    /// 0x04: supports uTP.
    pub const UTP: u8 = 0x04;
    /// 0x08: supports `ut_holepunch`.
    pub const HOLEPUNCH: u8 = 0x08;
    /// 0x10: reachable (we connected out to it).
    pub const REACHABLE: u8 = 0x10;

    /// Whether flag `mask` (one of the constants) is set.
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask != 0
    }
}

impl fmt::Debug for PexFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PexFlags({:#04x})", self.0)
    }
}

/// A `ut_pex` message (BEP 11): peers the sender connected to or dropped
/// since its last message, in compact form (IPv4: 6 bytes each, IPv6: 18
/// bytes each, big-endian address then port).
///
/// Flags lists are kept as read: BEP 11 gives one byte per added peer, but
/// a sender may omit them (empty here) or send a different count.
///
/// ```
/// use std::net::SocketAddrV4;
/// use seedbed_peer_wire::{PexFlags, PexMessage};
/// let msg = PexMessage {
///     added: vec!["10.0.0.1:6881".parse().unwrap()],
///     added_flags: vec![PexFlags(PexFlags::SEED)],
///     ..PexMessage::default()
/// };
/// let bytes = msg.to_bytes();
/// assert_eq!(&bytes[..], b"d5:added6:\x0a\x00\x00\x01\x1a\xe17:added.f1:\x02e");
/// assert_eq!(PexMessage::decode(&bytes)?, msg);
/// # Ok::<(), seedbed_peer_wire::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PexMessage {
    /// `added`: IPv4 peers connected since the last message.
    pub added: Vec<SocketAddrV4>,
    /// `added.f`: one flags byte per `added` peer.
    pub added_flags: Vec<PexFlags>,
    /// `added6`: IPv6 peers connected since the last message.
    pub added6: Vec<SocketAddrV6>,
    /// `added6.f`: one flags byte per `added6` peer.
    pub added6_flags: Vec<PexFlags>,
    /// `dropped`: IPv4 peers disconnected since the last message.
    pub dropped: Vec<SocketAddrV4>,
    /// `dropped6`: IPv6 peers disconnected since the last message.
    pub dropped6: Vec<SocketAddrV6>,
}

fn compact_v4(b: &[u8]) -> Option<Vec<SocketAddrV4>> {
    if b.len() % 6 != 0 {
        return None;
    }
    Some(
        b.chunks_exact(6)
            .map(|c| {
                SocketAddrV4::new(
                    Ipv4Addr::new(c[0], c[1], c[2], c[3]),
                    u16::from_be_bytes([c[4], c[5]]),
                )
            })
            .collect(),
    )
}

fn compact_v6(b: &[u8]) -> Option<Vec<SocketAddrV6>> {
    if b.len() % 18 != 0 {
        return None;
    }
    Some(
        b.chunks_exact(18)
            .map(|c| {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&c[..16]);
                SocketAddrV6::new(Ipv6Addr::from(ip), u16::from_be_bytes([c[16], c[17]]), 0, 0)
            })
            .collect(),
    )
}

impl PexMessage {
    /// Parses the payload of a `ut_pex` extended message (after the
    /// extended id byte). Unknown keys are ignored.
    ///
    /// # Errors
    /// [`Error::Bencode`] for invalid bencode; [`Error::InvalidExtension`]
    /// when the root is not a dictionary, a known key is not a byte string,
    /// or a contact list is not a multiple of 6 (IPv4) or 18 (IPv6) bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let (doc, _) = decode_payload(MSG, payload)?;
        let root = doc.root();
        let dict = root
            .as_dict()
            .ok_or_else(|| invalid(MSG, root, "not a dictionary"))?;
        let mut msg = PexMessage::default();
        for (key, value) in dict.iter() {
            let known = matches!(
                key,
                b"added" | b"added.f" | b"added6" | b"added6.f" | b"dropped" | b"dropped6"
            );
            if !known {
                continue;
            }
            let b = value
                .as_bytes()
                .ok_or_else(|| invalid(MSG, value, "not a byte string"))?;
            let v4 = || {
                compact_v4(b).ok_or_else(|| {
                    invalid(MSG, value, "IPv4 contacts are not a multiple of 6 bytes")
                })
            };
            let v6 = || {
                compact_v6(b).ok_or_else(|| {
                    invalid(MSG, value, "IPv6 contacts are not a multiple of 18 bytes")
                })
            };
            match key {
                b"added" => msg.added = v4()?,
                b"added.f" => msg.added_flags = b.iter().map(|&f| PexFlags(f)).collect(),
                b"added6" => msg.added6 = v6()?,
                b"added6.f" => msg.added6_flags = b.iter().map(|&f| PexFlags(f)).collect(),
                b"dropped" => msg.dropped = v4()?,
                _ => msg.dropped6 = v6()?,
            }
        }
        Ok(msg)
    }

    /// Writes the canonical dictionary; empty lists are left out.
    pub fn encode<B: BufMut + ?Sized>(&self, dst: &mut B) {
        fn v4(list: &[SocketAddrV4]) -> Vec<u8> {
            let mut out = Vec::with_capacity(list.len() * 6);
            for a in list {
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_be_bytes());
            }
            out
        }
        fn v6(list: &[SocketAddrV6]) -> Vec<u8> {
            let mut out = Vec::with_capacity(list.len() * 18);
            for a in list {
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_be_bytes());
            }
            out
        }
        fn flags(list: &[PexFlags]) -> Vec<u8> {
            list.iter().map(|f| f.0).collect()
        }
        dst.put_u8(b'd');
        // Keys in canonical (raw byte) order.
        for (key, value) in [
            (&b"added"[..], v4(&self.added)),
            (b"added.f", flags(&self.added_flags)),
            (b"added6", v6(&self.added6)),
            (b"added6.f", flags(&self.added6_flags)),
            (b"dropped", v4(&self.dropped)),
            (b"dropped6", v6(&self.dropped6)),
        ] {
            if !value.is_empty() {
                write_bytes(dst, key);
                write_bytes(dst, &value);
            }
        }
        dst.put_u8(b'e');
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
    fn bad_lengths_and_types() {
        assert!(matches!(
            PexMessage::decode(b"d5:added5:abcdee"),
            Err(Error::InvalidExtension { offset: 8, .. })
        ));
        assert!(matches!(
            PexMessage::decode(b"d7:droppedi1ee"),
            Err(Error::InvalidExtension { .. })
        ));
        // Unknown keys are ignored; an empty message is fine.
        assert_eq!(
            PexMessage::decode(b"d1:xi1ee").unwrap(),
            PexMessage::default()
        );
    }

    pub(crate) fn strategy() -> impl Strategy<Value = PexMessage> {
        let v4 = || {
            proptest::collection::vec(
                (any::<[u8; 4]>(), any::<u16>())
                    .prop_map(|(ip, p)| SocketAddrV4::new(ip.into(), p)),
                0..4,
            )
        };
        let v6 = || {
            proptest::collection::vec(
                (any::<[u8; 16]>(), any::<u16>())
                    .prop_map(|(ip, p)| SocketAddrV6::new(ip.into(), p, 0, 0)),
                0..4,
            )
        };
        let flags = || proptest::collection::vec(any::<u8>().prop_map(PexFlags), 0..4);
        (v4(), flags(), v6(), flags(), v4(), v6()).prop_map(
            |(added, added_flags, added6, added6_flags, dropped, dropped6)| PexMessage {
                added,
                added_flags,
                added6,
                added6_flags,
                dropped,
                dropped6,
            },
        )
    }

    proptest! {
        #[test]
        fn round_trip(m in strategy()) {
            let bytes = m.to_bytes();
            prop_assert_eq!(PexMessage::decode(&bytes).unwrap(), m);
        }
    }
}
