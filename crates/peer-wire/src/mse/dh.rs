//! The 768-bit Diffie-Hellman key exchange of MSE: prime `P`, generator 2,
//! public keys and the shared secret `S` as 96 big-endian bytes.
//!
//! Big-integer arithmetic is `num-bigint`'s (Montgomery exponentiation for
//! the odd modulus). Private keys come from the caller: nothing here is
//! random.

use std::fmt;
use std::sync::OnceLock;

use num_bigint::BigUint;

use super::error::Error;
use super::KEY_LEN;

/// The spec's prime `P` (768 bits, the Oakley group 1 prime), big-endian.
pub const PRIME: [u8; KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];

/// The generator `G`: 2.
pub const GENERATOR: u32 = 2;

/// Shortest private key accepted, in bytes (160 bits, the spec's
/// recommended length; its minimum is 128 bits).
pub const MIN_PRIVATE_KEY_LEN: usize = 20;
/// Longest private key accepted, in bytes (768 bits).
pub const MAX_PRIVATE_KEY_LEN: usize = KEY_LEN;

fn prime() -> &'static BigUint {
    static P: OnceLock<BigUint> = OnceLock::new();
    P.get_or_init(|| BigUint::from_bytes_be(&PRIME))
}

/// Left-pads a number below `P` to 96 big-endian bytes.
fn to_key_bytes(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// A Diffie-Hellman private key `Xa` or `Xb`: 20 to 96 random bytes
/// (160 to 768 bits), big-endian. Its `Debug` output hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(BigUint);

impl PrivateKey {
    /// A private key from random bytes.
    ///
    /// # Errors
    /// [`Error::InvalidPrivateKey`] for fewer than 20 or more than 96 bytes,
    /// or all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, Error> {
        let len = bytes.len();
        if !(MIN_PRIVATE_KEY_LEN..=MAX_PRIVATE_KEY_LEN).contains(&len)
            || bytes.iter().all(|&b| b == 0)
        {
            return Err(Error::InvalidPrivateKey { len });
        }
        Ok(PrivateKey(BigUint::from_bytes_be(bytes)))
    }

    /// Our public key, `Y = G^X mod P`.
    pub fn public_key(&self) -> PublicKey {
        let y = BigUint::from(GENERATOR).modpow(&self.0, prime());
        PublicKey(to_key_bytes(&y))
    }

    /// The shared secret `S = Y^X mod P` from the peer's public key `Y`.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`] when `Y` is outside `[2, P - 2]`: 0, 1
    /// and `P - 1` (and anything not below `P`) would let a third party
    /// know or force `S`.
    pub fn shared_secret(&self, theirs: &PublicKey) -> Result<SharedSecret, Error> {
        let y = BigUint::from_bytes_be(&theirs.0);
        let p = prime();
        if y < BigUint::from(2u32) || y >= p - 1u32 {
            return Err(Error::InvalidPublicKey);
        }
        Ok(SharedSecret(to_key_bytes(&y.modpow(&self.0, p))))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// A Diffie-Hellman public key `Ya` or `Yb`: 96 bytes, big-endian,
/// left-padded with zeros.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// The shared secret `S`: 96 bytes, big-endian, left-padded with zeros
/// (as every client hashes it). Its `Debug` output hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(pub [u8; KEY_LEN]);

impl SharedSecret {
    /// The 96 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let a = PrivateKey::from_bytes(&[0x11; 20]).unwrap();
        let b = PrivateKey::from_bytes(&[0x22; 96]).unwrap();
        let sa = a.shared_secret(&b.public_key()).unwrap();
        let sb = b.shared_secret(&a.public_key()).unwrap();
        assert_eq!(sa, sb);
    }

    #[test]
    fn private_key_length_bounds() {
        assert!(PrivateKey::from_bytes(&[1; 19]).is_err());
        assert!(PrivateKey::from_bytes(&[1; 20]).is_ok());
        assert!(PrivateKey::from_bytes(&[1; 96]).is_ok());
        assert!(PrivateKey::from_bytes(&[1; 97]).is_err());
        assert!(PrivateKey::from_bytes(&[0; 20]).is_err());
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let a = PrivateKey::from_bytes(&[0x11; 20]).unwrap();
        let mut p_minus = PRIME;
        p_minus[KEY_LEN - 1] -= 1; // P - 1
        let mut p_minus_2 = PRIME;
        p_minus_2[KEY_LEN - 1] -= 2;
        let mut one = [0u8; KEY_LEN];
        one[KEY_LEN - 1] = 1;
        let mut two = [0u8; KEY_LEN];
        two[KEY_LEN - 1] = 2;
        for bad in [[0u8; KEY_LEN], one, p_minus, PRIME, [0xff; KEY_LEN]] {
            assert!(matches!(
                a.shared_secret(&PublicKey(bad)),
                Err(Error::InvalidPublicKey)
            ));
        }
        assert!(a.shared_secret(&PublicKey(two)).is_ok());
        assert!(a.shared_secret(&PublicKey(p_minus_2)).is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let a = PrivateKey::from_bytes(&[0x11; 20]).unwrap();
        assert_eq!(format!("{a:?}"), "PrivateKey(..)");
        let s = a.shared_secret(&a.public_key()).unwrap();
        assert_eq!(format!("{s:?}"), "SharedSecret(..)");
    }
}
