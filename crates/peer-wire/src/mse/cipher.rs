//! RC4 as MSE uses it: keyed with a 20-byte SHA-1 output, the first 1024
//! bytes of keystream discarded. The cipher is RustCrypto's `rc4`.

use std::fmt;

use rc4::{KeyInit, StreamCipher};

/// One direction's RC4 keystream, positioned after the spec's 1024-byte
/// discard. Encrypting and decrypting are the same operation.
pub struct Rc4Stream(rc4::Rc4);

impl Rc4Stream {
    /// Keystream bytes discarded after keying: 1024.
    pub const DISCARD: usize = 1024;

    /// RC4 keyed with `key` (`HASH('keyA', S, SKEY)` or
    /// `HASH('keyB', S, SKEY)`), 1024 bytes of keystream discarded.
    pub fn new(key: &[u8; 20]) -> Rc4Stream {
        let mut rc4 = rc4::Rc4::new_from_slice(key).expect("RC4 takes 1 to 256 byte keys");
        let mut discard = [0u8; Self::DISCARD];
        rc4.apply_keystream(&mut discard);
        Rc4Stream(rc4)
    }

    /// XORs the next `data.len()` keystream bytes into `data`, in place.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }

    /// XORs the next `input.len()` keystream bytes into `input`, writing
    /// to `output` (one pass: encrypt-while-copying).
    ///
    /// # Panics
    /// If the two slices differ in length.
    pub fn apply_to(&mut self, input: &[u8], output: &mut [u8]) {
        self.0.apply_keystream_b2b(input, output);
    }
}

impl fmt::Debug for Rc4Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rc4Stream(..)")
    }
}

/// The two keystreams of an RC4 connection after the handshake: ours to
/// encrypt what we send, the peer's to decrypt what we receive.
#[derive(Debug)]
pub struct Rc4Pair {
    /// Encrypts what we send (keyA for the initiator, keyB for the
    /// responder).
    pub encrypt: Rc4Stream,
    /// Decrypts what we receive.
    pub decrypt: Rc4Stream,
}
