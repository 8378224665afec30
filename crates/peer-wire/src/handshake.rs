//! The BEP 3 handshake: 68 bytes, and its reserved bits.

use std::fmt;

use bytes::BufMut;
use seedbed_metainfo::{InfoHash, PeerId};

use crate::error::Error;

/// The 20-byte protocol header every handshake starts with: the byte 19
/// followed by `BitTorrent protocol` (BEP 3, "handshake").
pub const PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";

/// The 8 reserved bytes of the handshake, with the extension bits named.
///
/// | bit | byte, mask | meaning |
/// |---|---|---|
/// | [`DHT`](Self::DHT) | `[7] & 0x01` | BEP 5: the peer runs a DHT node (expect a `port` message) |
/// | [`FAST`](Self::FAST) | `[7] & 0x04` | BEP 6: fast extension |
/// | [`V2_UPGRADE`](Self::V2_UPGRADE) | `[7] & 0x10` | BEP 52, "Upgrade Path": also supports v2 for a hybrid torrent |
/// | [`EXTENSION_PROTOCOL`](Self::EXTENSION_PROTOCOL) | `[5] & 0x10` | BEP 10: extension protocol |
///
/// Other bits are kept as they were read.
///
/// ```
/// use seedbed_peer_wire::Reserved;
/// let r = Reserved::ZERO.with(Reserved::FAST).with(Reserved::EXTENSION_PROTOCOL);
/// assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
/// assert!(r.fast() && r.extension_protocol() && !r.dht());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reserved(pub [u8; 8]);

/// One named reserved bit: a byte index and a mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ReservedBit {
    /// Index into the 8 reserved bytes.
    pub byte: usize,
    /// The bit within that byte.
    pub mask: u8,
}

impl Reserved {
    /// No bits set.
    pub const ZERO: Reserved = Reserved([0; 8]);
    /// BEP 5 DHT: `reserved[7] & 0x01`.
    pub const DHT: ReservedBit = ReservedBit {
        byte: 7,
        mask: 0x01,
    };
    /// BEP 6 fast extension: `reserved[7] & 0x04`.
    pub const FAST: ReservedBit = ReservedBit {
        byte: 7,
        mask: 0x04,
    };
    /// BEP 52 v2 upgrade for hybrid torrents: `reserved[7] & 0x10`.
    pub const V2_UPGRADE: ReservedBit = ReservedBit {
        byte: 7,
        mask: 0x10,
    };
    /// BEP 10 extension protocol: `reserved[5] & 0x10`.
    pub const EXTENSION_PROTOCOL: ReservedBit = ReservedBit {
        byte: 5,
        mask: 0x10,
    };

    /// Whether `bit` is set.
    pub const fn has(&self, bit: ReservedBit) -> bool {
        self.0[bit.byte] & bit.mask != 0
    }

    /// A copy with `bit` set.
    pub const fn with(mut self, bit: ReservedBit) -> Self {
        self.0[bit.byte] |= bit.mask;
        self
    }

    /// A copy with `bit` cleared.
    pub const fn without(mut self, bit: ReservedBit) -> Self {
        self.0[bit.byte] &= !bit.mask;
        self
    }

    /// BEP 5 DHT bit.
    pub const fn dht(&self) -> bool {
        self.has(Self::DHT)
    }

    /// BEP 6 fast extension bit.
    pub const fn fast(&self) -> bool {
        self.has(Self::FAST)
    }

    /// BEP 10 extension protocol bit.
    pub const fn extension_protocol(&self) -> bool {
        self.has(Self::EXTENSION_PROTOCOL)
    }

    /// BEP 52 v2 upgrade bit.
    pub const fn v2_upgrade(&self) -> bool {
        self.has(Self::V2_UPGRADE)
    }

    /// The bits both sides set: an extension is on only if both ends set
    /// its bit (BEP 6, BEP 10).
    pub const fn intersect(&self, other: &Reserved) -> Reserved {
        let mut out = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            out[i] = self.0[i] & other.0[i];
            i += 1;
        }
        Reserved(out)
    }

    /// Names of the set bits this crate knows, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (Self::DHT, "dht"),
            (Self::FAST, "fast"),
            (Self::V2_UPGRADE, "v2_upgrade"),
            (Self::EXTENSION_PROTOCOL, "extension_protocol"),
        ]
        .into_iter()
        .filter(|(b, _)| self.has(*b))
        .map(|(_, n)| n)
        .collect()
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, " {:?})", self.names())
    }
}

/// The first 48 bytes of a handshake: enough for a listener to route an
/// incoming connection to its torrent before the peer id arrives.
///
/// Shape: 20 bytes [`PROTOCOL`], 8 bytes [`Reserved`], 20 bytes info hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakePrefix {
    /// The reserved bytes.
    pub reserved: Reserved,
    /// The info hash (v1, or v2 truncated to 20 bytes).
    pub info_hash: InfoHash,
}

impl HandshakePrefix {
    /// Length in bytes: 48.
    pub const LEN: usize = 48;

    /// Parses the start of a handshake.
    ///
    /// Returns `Ok(None)` while fewer than 48 bytes are available.
    ///
    /// # Errors
    /// [`Error::InvalidProtocol`] as soon as any of the first 20 bytes
    /// differ from [`PROTOCOL`], even before 48 bytes arrived.
    pub fn parse(input: &[u8]) -> Result<Option<HandshakePrefix>, Error> {
        check_protocol(input)?;
        if input.len() < Self::LEN {
            return Ok(None);
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&input[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&input[28..48]);
        Ok(Some(HandshakePrefix {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
        }))
    }
}

/// Checks whatever prefix of [`PROTOCOL`] is present.
fn check_protocol(input: &[u8]) -> Result<(), Error> {
    for (offset, (&found, &expected)) in input.iter().zip(PROTOCOL.iter()).enumerate() {
        if found != expected {
            return Err(Error::InvalidProtocol {
                offset,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// The BEP 3 handshake, 68 bytes: [`PROTOCOL`] (20), [`Reserved`] (8),
/// info hash (20), peer id (20).
///
/// ```
/// use seedbed_peer_wire::{Handshake, Reserved};
/// use seedbed_metainfo::{InfoHash, PeerId};
/// let hs = Handshake::new(InfoHash([0xaa; 20]), PeerId(*b"-SB0010-123456789012"))
///     .with_reserved(Reserved::ZERO.with(Reserved::FAST));
/// let bytes = hs.to_bytes();
/// assert_eq!(bytes.len(), 68);
/// assert_eq!(Handshake::parse(&bytes)?, Some(hs));
/// # Ok::<(), seedbed_peer_wire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// The reserved bytes.
    pub reserved: Reserved,
    /// The info hash (v1, or v2 truncated to 20 bytes).
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Length in bytes: 68.
    pub const LEN: usize = 68;

    /// A handshake with no reserved bits set.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        Handshake {
            reserved: Reserved::ZERO,
            info_hash,
            peer_id,
        }
    }

    /// A copy with these reserved bytes.
    pub fn with_reserved(mut self, reserved: Reserved) -> Self {
        self.reserved = reserved;
        self
    }

    /// The first 48 bytes' worth.
    pub fn prefix(&self) -> HandshakePrefix {
        HandshakePrefix {
            reserved: self.reserved,
            info_hash: self.info_hash,
        }
    }

    /// Parses a handshake from the start of `input`; bytes past 68 are
    /// ignored (they are the first messages).
    ///
    /// Returns `Ok(None)` while fewer than 68 bytes are available.
    ///
    /// # Errors
    /// [`Error::InvalidProtocol`] as soon as the header is wrong.
    pub fn parse(input: &[u8]) -> Result<Option<Handshake>, Error> {
        let Some(prefix) = HandshakePrefix::parse(input)? else {
            return Ok(None);
        };
        if input.len() < Self::LEN {
            return Ok(None);
        }
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&input[48..68]);
        Ok(Some(Handshake {
            reserved: prefix.reserved,
            info_hash: prefix.info_hash,
            peer_id: PeerId(peer_id),
        }))
    }

    /// Writes the 68 bytes.
    pub fn encode<B: BufMut + ?Sized>(&self, dst: &mut B) {
        dst.put_slice(PROTOCOL);
        dst.put_slice(&self.reserved.0);
        dst.put_slice(&self.info_hash.0);
        dst.put_slice(&self.peer_id.0);
    }

    /// The 68 bytes.
    pub fn to_bytes(&self) -> [u8; 68] {
        let mut out = [0u8; 68];
        self.encode(&mut &mut out[..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn named_bits_match_the_beps() {
        assert_eq!(Reserved::ZERO.with(Reserved::DHT).0[7], 0x01);
        assert_eq!(Reserved::ZERO.with(Reserved::FAST).0[7], 0x04);
        assert_eq!(Reserved::ZERO.with(Reserved::V2_UPGRADE).0[7], 0x10);
        assert_eq!(Reserved::ZERO.with(Reserved::EXTENSION_PROTOCOL).0[5], 0x10);
        let all = Reserved([0, 0, 0, 0, 0, 0x10, 0, 0x15]);
        assert_eq!(
            all.names(),
            ["dht", "fast", "v2_upgrade", "extension_protocol"]
        );
        assert!(!all.without(Reserved::FAST).fast());
        assert_eq!(
            all.intersect(&Reserved::ZERO.with(Reserved::DHT)),
            Reserved::ZERO.with(Reserved::DHT)
        );
    }

    #[test]
    fn info_hash_is_readable_at_48_bytes() {
        let hs = Handshake::new(InfoHash([7; 20]), PeerId([9; 20]));
        let bytes = hs.to_bytes();
        for n in 0..48 {
            assert_eq!(HandshakePrefix::parse(&bytes[..n]).unwrap(), None);
        }
        for n in 48..68 {
            assert_eq!(
                HandshakePrefix::parse(&bytes[..n]).unwrap(),
                Some(hs.prefix())
            );
            assert_eq!(Handshake::parse(&bytes[..n]).unwrap(), None);
        }
        assert_eq!(Handshake::parse(&bytes).unwrap(), Some(hs));
    }

    #[test]
    fn wrong_protocol_fails_at_the_first_bad_byte() {
        let err = Handshake::parse(b"\x13BitTorrent prot0").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidProtocol {
                offset: 16,
                found: b'0',
                ..
            }
        ));
        let err = HandshakePrefix::parse(b"GET / HTTP/1.1").unwrap_err();
        assert_eq!(err.offset(), Some(0));
    }

    proptest! {
        #[test]
        fn round_trip(r in any::<[u8; 8]>(), ih in any::<[u8; 20]>(), id in any::<[u8; 20]>()) {
            let hs = Handshake::new(InfoHash(ih), PeerId(id)).with_reserved(Reserved(r));
            let bytes = hs.to_bytes();
            prop_assert_eq!(&bytes[..20], PROTOCOL);
            prop_assert_eq!(Handshake::parse(&bytes).unwrap(), Some(hs));
        }
    }
}
