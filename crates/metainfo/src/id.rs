//! Fixed-size identifiers: info hashes (v1, v2) and peer ids.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], Error> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return Err(Error::InvalidHex {
            expected: N * 2,
            reason: "wrong length",
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]);
        let lo = hex_val(pair[1]);
        match (hi, lo) {
            (Some(h), Some(l)) => out[i] = h << 4 | l,
            _ => {
                return Err(Error::InvalidHex {
                    expected: N * 2,
                    reason: "non-hex character",
                })
            }
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[usize::from(b >> 4)];
        buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
    f.write_str(std::str::from_utf8(&buf[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// From exactly
            #[doc = concat!(stringify!($len), " bytes.")]
            ///
            /// # Errors
            /// [`Error::InvalidLength`] for any other length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
                <[u8; $len]>::try_from(bytes)
                    .map($name)
                    .map_err(|_| Error::InvalidLength { expected: $len, found: bytes.len() })
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex,
            #[doc = concat!(stringify!($len), " × 2 characters.")]
            pub fn to_hex(&self) -> String {
                self.to_string()
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(b: [u8; $len]) -> Self {
                $name(b)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        /// Lowercase hex.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        /// Parses hex (either case).
        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                parse_hex::<$len>(s).map($name)
            }
        }
    };
}

id_type!(
    /// A 20-byte info hash as used on the wire (BEP 3 handshake) and at
    /// trackers: the SHA-1 of a v1 or hybrid torrent's `info` dictionary, or
    /// the first 20 bytes of a v2 info hash (BEP 52, "Info Hash").
    InfoHash,
    20
);

id_type!(
    /// A v2 info hash: the SHA-256 of the `info` dictionary, 32 bytes
    /// (BEP 52). Use [`InfoHashV2::truncated`] for the 20-byte form used in
    /// handshakes and at trackers.
    InfoHashV2,
    32
);

id_type!(
    /// A 20-byte peer id (BEP 3; client prefixes as in BEP 20).
    PeerId,
    20
);

impl InfoHashV2 {
    /// The first 20 bytes, used on the wire and at trackers (BEP 52).
    pub fn truncated(&self) -> InfoHash {
        let mut b = [0u8; 20];
        b.copy_from_slice(&self.0[..20]);
        InfoHash(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h: InfoHash = "D2474E86C95B19B8BCFDB92BC12C9D44667CFA36".parse().unwrap();
        assert_eq!(h.to_string(), "d2474e86c95b19b8bcfdb92bc12c9d44667cfa36");
        assert!("d2474e86".parse::<InfoHash>().is_err());
        assert!("g2474e86c95b19b8bcfdb92bc12c9d44667cfa36"
            .parse::<InfoHash>()
            .is_err());
        let v2 = InfoHashV2([7; 32]);
        assert_eq!(v2.to_string().parse::<InfoHashV2>().unwrap(), v2);
        assert_eq!(v2.truncated().0, [7; 20]);
        assert!(PeerId::from_slice(&[0; 19]).is_err());
    }
}
