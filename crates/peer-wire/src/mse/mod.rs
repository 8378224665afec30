//! Message Stream Encryption (MSE, also called Protocol Encryption, PE):
//! the obfuscated handshake of Azureus/Vuze that libtorrent
//! (`pe_*` settings), Transmission, qBittorrent and µTorrent speak. There
//! is no BEP for it; the spec is the Vuze wiki's "Message Stream
//! Encryption" page.
//!
//! ```text
//! 1 A->B: Ya, PadA
//! 2 B->A: Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload stream)
//! 5 A->B: ENCRYPT2(payload stream)
//! ```
//!
//! `Ya`, `Yb` are 768-bit Diffie-Hellman public keys (96 bytes, prime
//! [`PRIME`], generator 2) and `S` the shared secret; `SKEY` is the
//! torrent's info hash; `HASH` is SHA-1; `VC` is 8 zero bytes; the pads
//! are 0 to 512 bytes. `ENCRYPT` is RC4 keyed with `HASH('keyA', S, SKEY)`
//! (A to B) or `HASH('keyB', S, SKEY)` (B to A), the first 1024 bytes of
//! keystream discarded; `ENCRYPT2` is the method B selected from what A
//! offered: plaintext (0x01) or RC4 (0x02, continuing the same
//! keystreams). Both sides find where the other's padding ends by
//! searching for a value only they can compute (`HASH('req1', S)`, the
//! encrypted VC), within the 512-byte bound.
//!
//! This module is sans-IO: [`Initiator`] and [`Responder`] take received
//! bytes and hand back bytes to send and, at the end, the [`Established`]
//! method, torrent and keystreams. Private keys and padding come from the
//! caller in [`Secrets`]: nothing here reads a clock or a random source.
//! [`classify`] tells an incoming plaintext handshake from an encrypted
//! one by its first bytes. With the `mse-stream` feature, `MseStream`
//! runs the handshake over any tokio stream and then encrypts and
//! decrypts transparently, so the peer wire codecs work over it unchanged.
//!
//! Hostile input is bounded: a peer gets 512 bytes of padding before the
//! synchronisation point, PadC/PadD of at most 512 bytes, an initial
//! payload of at most [`Config::max_initial_payload`]; past that the
//! machines return an [`Error`]. Time limits are the driver's (the stream
//! helpers take a timeout).

mod cipher;
mod dh;
mod error;
mod initiator;
mod keys;
mod responder;
#[cfg(feature = "mse-stream")]
mod stream;

pub use cipher::{Rc4Pair, Rc4Stream};
pub use dh::{
    PrivateKey, PublicKey, SharedSecret, GENERATOR, MAX_PRIVATE_KEY_LEN, MIN_PRIVATE_KEY_LEN, PRIME,
};
pub use error::Error;
pub use initiator::Initiator;
pub use keys::{key_a, key_b, obfuscated_skey, req1, req3, SkeyHash};
pub use responder::Responder;
#[cfg(feature = "mse-stream")]
pub use stream::{accept, connect, AcceptOptions, MseStream};

use seedbed_metainfo::InfoHash;

use crate::handshake::PROTOCOL;

/// Length of a Diffie-Hellman public key and of the shared secret: 96
/// bytes (768 bits).
pub const KEY_LEN: usize = 96;

/// The spec's bound on every padding (PadA, PadB, PadC, PadD): 512 bytes.
pub const MAX_PAD_LEN: usize = 512;

/// The verification constant: 8 zero bytes.
pub const VC: [u8; 8] = [0; 8];

/// The `crypto_provide` / `crypto_select` bitfield (32 bits, big-endian
/// on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CryptoMethods(pub u32);

impl CryptoMethods {
    /// 0x01: the payload stream is plaintext (only the handshake is
    /// obfuscated).
    pub const PLAINTEXT: CryptoMethods = CryptoMethods(0x01);
    /// 0x02: the payload stream is RC4.
    pub const RC4: CryptoMethods = CryptoMethods(0x02);
    /// Both: 0x03.
    pub const BOTH: CryptoMethods = CryptoMethods(0x03);

    /// Whether `method`'s bit is set.
    pub const fn contains(self, method: Method) -> bool {
        self.0 & method.bits() != 0
    }

    /// The known bits, or [`Error::NoMethods`] when none is set.
    fn known(self) -> Result<CryptoMethods, Error> {
        let known = self.0 & Self::BOTH.0;
        if known == 0 {
            return Err(Error::NoMethods { methods: self.0 });
        }
        Ok(CryptoMethods(known))
    }
}

/// The method of the payload stream.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Method {
    /// Plaintext (0x01).
    Plaintext,
    /// RC4 (0x02).
    Rc4,
}

impl Method {
    /// Its `crypto_select` value.
    pub const fn bits(self) -> u32 {
        match self {
            Method::Plaintext => 0x01,
            Method::Rc4 => 0x02,
        }
    }

    /// The method a `crypto_select` value names, if exactly one.
    pub const fn from_bits(bits: u32) -> Option<Method> {
        match bits {
            0x01 => Some(Method::Plaintext),
            0x02 => Some(Method::Rc4),
            _ => None,
        }
    }
}

/// Settings of one handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Methods offered (initiator: `crypto_provide`) or accepted
    /// (responder). Default [`CryptoMethods::BOTH`], as libtorrent's
    /// `allowed_enc_level`.
    pub methods: CryptoMethods,
    /// Responder: select RC4 when the initiator offers both and both are
    /// allowed; otherwise plaintext. Default `false`, as libtorrent's
    /// `prefer_rc4`.
    pub prefer_rc4: bool,
    /// Responder: longest initial payload (IA) accepted, in bytes. A
    /// BitTorrent handshake is 68 bytes; default 1024.
    pub max_initial_payload: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            methods: CryptoMethods::BOTH,
            prefer_rc4: false,
            max_initial_payload: 1024,
        }
    }
}

/// The random inputs of one handshake, from the caller's random source.
#[derive(Clone, Debug)]
pub struct Secrets {
    /// The Diffie-Hellman private key `Xa` or `Xb`.
    pub private_key: PrivateKey,
    /// PadA (initiator) or PadB (responder), sent after the public key:
    /// 0 to 512 random bytes (the length should be random too).
    pub key_padding: Vec<u8>,
    /// PadC (initiator) or PadD (responder), sent encrypted after the
    /// crypto field: 0 to 512 bytes.
    pub crypto_padding: Vec<u8>,
}

impl Secrets {
    /// Bundles a private key and the two paddings.
    pub fn new(private_key: PrivateKey, key_padding: Vec<u8>, crypto_padding: Vec<u8>) -> Self {
        Secrets {
            private_key,
            key_padding,
            crypto_padding,
        }
    }
}

/// A finished handshake.
#[derive(Debug)]
pub struct Established {
    /// The method of the payload stream.
    pub method: Method,
    /// The torrent (SKEY): the one the initiator asked for, or the one the
    /// responder's lookup found.
    pub info_hash: InfoHash,
    /// The keystreams, positioned after everything the machine consumed
    /// or decrypted in the caller's buffer; `Some` exactly when `method`
    /// is [`Method::Rc4`].
    pub rc4: Option<Rc4Pair>,
}

/// What kind of connection an incoming peer opened.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Incoming {
    /// A plain BitTorrent handshake (`\x13BitTorrent protocol`).
    Plaintext,
    /// Anything else: an MSE handshake starts with a public key.
    Encrypted,
}

/// Tells a plain handshake from an MSE one by the first bytes received:
/// `None` while the bytes so far (fewer than 20) are a prefix of
/// `\x13BitTorrent protocol`; [`Incoming::Encrypted`] as soon as one
/// differs (an MSE public key starts with those 20 bytes with probability
/// 2^-160).
///
/// ```
/// use seedbed_peer_wire::mse::{classify, Incoming};
/// assert_eq!(classify(b"\x13BitTorrent protocol\0\0"), Some(Incoming::Plaintext));
/// assert_eq!(classify(b"\x13Bit"), None);
/// assert_eq!(classify(b"\x13Bxt"), Some(Incoming::Encrypted));
/// ```
pub fn classify(first: &[u8]) -> Option<Incoming> {
    let n = first.len().min(PROTOCOL.len());
    if first[..n] != PROTOCOL[..n] {
        Some(Incoming::Encrypted)
    } else if n == PROTOCOL.len() {
        Some(Incoming::Plaintext)
    } else {
        None
    }
}

fn check_padding(what: &'static str, pad: &[u8]) -> Result<(), Error> {
    if pad.len() > MAX_PAD_LEN {
        return Err(Error::PaddingTooLong {
            what,
            len: pad.len(),
            max: MAX_PAD_LEN,
        });
    }
    Ok(())
}

/// Searches `pattern` at positions `from..` within the first `window`
/// bytes of `buf`. `Ok(position)`, or `Err(next)`: the first position
/// not yet fully checked, to resume from when more bytes arrive.
fn find(buf: &[u8], pattern: &[u8], from: usize, window: usize) -> Result<usize, usize> {
    let avail = &buf[..buf.len().min(window)];
    if avail.len() < pattern.len() {
        return Err(from);
    }
    let last = avail.len() - pattern.len();
    (from..=last)
        .find(|&p| &avail[p..p + pattern.len()] == pattern)
        .ok_or(last + 1)
}
