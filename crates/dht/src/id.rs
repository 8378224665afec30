//! Node ids: 160-bit identifiers in the same space as info hashes, and the
//! XOR distance between them (BEP 5, "Overview").

use std::fmt;
use std::str::FromStr;

use seedbed_metainfo::InfoHash;

/// A 160-bit DHT node id (BEP 5), 20 bytes in network byte order. Also the
/// type of lookup targets: an info hash is a point of the same space
/// (`NodeId::from(info_hash)`).
///
/// Ordering is the numeric order of the big-endian 160-bit integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

/// The XOR distance between two ids (BEP 5): smaller is closer. Ordered as
/// the unsigned big-endian 160-bit integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct Distance(pub [u8; 20]);

impl NodeId {
    /// Length in bytes (20).
    pub const LEN: usize = 20;
    /// The id `0x00…00`.
    pub const ZERO: NodeId = NodeId([0; 20]);
    /// The id `0xff…ff`.
    pub const MAX: NodeId = NodeId([0xff; 20]);

    /// From exactly 20 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<NodeId> {
        <[u8; 20]>::try_from(bytes).ok().map(NodeId)
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The XOR distance to `other`.
    #[inline]
    pub fn distance(&self, other: &NodeId) -> Distance {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// How many leading bits `self` and `other` share, 0..=160 (160 when
    /// they are equal).
    #[inline]
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        let (a, b) = split(&self.0);
        let (c, d) = split(&other.0);
        let hi = a ^ c;
        if hi != 0 {
            return hi.leading_zeros() as usize;
        }
        let lo = b ^ d;
        if lo != 0 {
            return 128 + lo.leading_zeros() as usize;
        }
        160
    }

    /// Bit `index` (0 is the most significant bit of byte 0), for index
    /// 0..160. Panics past 159.
    pub fn bit(&self, index: usize) -> bool {
        self.0[index / 8] & (0x80 >> (index % 8)) != 0
    }

    /// An id that shares exactly its first `prefix_len` bits with `self`
    /// (bit `prefix_len` is flipped; with `prefix_len` 160 it is `self`);
    /// the remaining bits come from `random`. This is a random id in the
    /// routing table bucket that holds ids with that common prefix, used to
    /// refresh it (BEP 5, "Routing Table").
    pub fn random_with_prefix(&self, prefix_len: usize, random: [u8; 20]) -> NodeId {
        if prefix_len >= 160 {
            return *self;
        }
        let mut out = random;
        let full = prefix_len / 8;
        out[..full].copy_from_slice(&self.0[..full]);
        let rem = prefix_len % 8;
        let mask: u8 = if rem == 0 { 0 } else { 0xff << (8 - rem) };
        out[full] = (self.0[full] & mask) | (random[full] & !mask);
        // Flip bit `prefix_len` relative to self.
        let bit = 0x80u8 >> rem;
        out[full] = (out[full] & !bit) | (!self.0[full] & bit);
        NodeId(out)
    }

    /// Lowercase hex, 40 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

#[inline]
fn split(b: &[u8; 20]) -> (u128, u32) {
    let mut hi = [0u8; 16];
    hi.copy_from_slice(&b[..16]);
    let mut lo = [0u8; 4];
    lo.copy_from_slice(&b[16..]);
    (u128::from_be_bytes(hi), u32::from_be_bytes(lo))
}

impl Distance {
    /// The distance as (high 128 bits, low 32 bits), for fast comparison.
    #[inline]
    pub fn to_parts(&self) -> (u128, u32) {
        split(&self.0)
    }

    /// The number of leading zero bits, 0..=160.
    pub fn leading_zeros(&self) -> usize {
        NodeId(self.0).common_prefix_len(&NodeId::ZERO)
    }
}

impl From<[u8; 20]> for NodeId {
    fn from(b: [u8; 20]) -> Self {
        NodeId(b)
    }
}

impl From<InfoHash> for NodeId {
    fn from(h: InfoHash) -> Self {
        NodeId(h.0)
    }
}

impl From<NodeId> for InfoHash {
    fn from(id: NodeId) -> Self {
        InfoHash(id.0)
    }
}

impl AsRef<[u8]> for NodeId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Lowercase hex.
impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// The error of parsing a [`NodeId`] from hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 40 hex characters")]
pub struct ParseNodeIdError;

/// Parses 40 hex characters (either case).
impl FromStr for NodeId {
    type Err = ParseNodeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let h: InfoHash = s.parse().map_err(|_| ParseNodeIdError)?;
        Ok(NodeId(h.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distance_orders_by_xor() {
        let a = NodeId([0; 20]);
        let mut b = [0; 20];
        b[19] = 1;
        let mut c = [0; 20];
        c[0] = 0x80;
        let (b, c) = (NodeId(b), NodeId(c));
        assert!(a.distance(&b) < a.distance(&c));
        assert_eq!(a.distance(&a), Distance([0; 20]));
        assert_eq!(a.common_prefix_len(&b), 159);
        assert_eq!(a.common_prefix_len(&c), 0);
        assert_eq!(a.common_prefix_len(&a), 160);
    }

    #[test]
    fn hex_round_trip() {
        let id: NodeId = "0123456789abcdef0123456789ABCDEF01234567".parse().unwrap();
        assert_eq!(id.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert!("0123".parse::<NodeId>().is_err());
    }

    proptest! {
        #[test]
        fn random_with_prefix_shares_exactly_the_prefix(
            own in any::<[u8; 20]>(), random in any::<[u8; 20]>(), len in 0usize..=160
        ) {
            let own = NodeId(own);
            let id = own.random_with_prefix(len, random);
            prop_assert_eq!(own.common_prefix_len(&id), len);
        }

        #[test]
        fn prefix_len_matches_bits(a in any::<[u8; 20]>(), b in any::<[u8; 20]>()) {
            let (a, b) = (NodeId(a), NodeId(b));
            let n = a.common_prefix_len(&b);
            for i in 0..n {
                prop_assert_eq!(a.bit(i), b.bit(i));
            }
            if n < 160 {
                prop_assert_ne!(a.bit(n), b.bit(n));
            }
            prop_assert_eq!(a.distance(&b).leading_zeros(), n);
        }
    }
}
