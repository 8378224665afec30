//! The MSE handshake's error type.

/// Everything that can go wrong in an MSE handshake.
///
/// Offsets (`offset`) count bytes received on the connection from its
/// first byte (the first byte of the peer's Diffie-Hellman public key) and
/// point at the start of the offending field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A private key of fewer than 20 or more than 96 bytes, or all zero
    /// (the spec asks for at least 128 bits, recommends 160; we require
    /// 160 to 768).
    #[error("a Diffie-Hellman private key must be 20 to 96 bytes and not zero, got {len} bytes")]
    InvalidPrivateKey {
        /// Its length in bytes.
        len: usize,
    },

    /// Padding we were asked to send is longer than the spec's 512 bytes.
    #[error("{what} of {len} bytes is longer than the limit of {max}")]
    PaddingTooLong {
        /// `"PadA"`, `"PadB"`, `"PadC"` or `"PadD"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit: 512.
        max: usize,
    },

    /// The initial payload (IA) we were asked to send is longer than
    /// 65535 bytes (its length field has 16 bits).
    #[error("initial payload of {len} bytes does not fit its 16-bit length field")]
    InitialPayloadTooLong {
        /// Its length in bytes.
        len: usize,
    },

    /// The crypto methods to offer or accept are empty or name no method
    /// this crate knows (plaintext 0x01, RC4 0x02).
    #[error("no known crypto method in {methods:#x}")]
    NoMethods {
        /// The bitfield given.
        methods: u32,
    },

    /// The peer's Diffie-Hellman public key is outside `[2, P - 2]`: it
    /// would force a shared secret of 0, 1 or `P - 1`.
    #[error("the peer's Diffie-Hellman public key is degenerate (outside [2, P-2])")]
    InvalidPublicKey,

    /// The synchronisation point (`HASH('req1', S)` for the responder, the
    /// encrypted VC for the initiator) is not within the peer's 512 bytes
    /// of padding.
    #[error("{what} not found in the {searched} bytes after the public key")]
    SyncNotFound {
        /// `"HASH('req1', S)"` or `"VC"`.
        what: &'static str,
        /// Bytes searched after the 96-byte public key.
        searched: usize,
    },

    /// `HASH('req2', SKEY) xor HASH('req3', S)` names no torrent the
    /// lookup knows.
    #[error("the obfuscated info hash at offset {offset} names no torrent we have")]
    UnknownInfoHash {
        /// Offset of the 20-byte field.
        offset: u64,
    },

    /// The decrypted verification constant is not 8 zero bytes: the peer
    /// used other keys (another shared secret or info hash).
    #[error("verification constant at offset {offset} is not zero after decryption")]
    InvalidVc {
        /// Offset of the 8-byte VC.
        offset: u64,
    },

    /// The initiator offers no crypto method the responder allows.
    #[error("crypto_provide {provided:#x} at offset {offset} offers nothing of the allowed {allowed:#x}")]
    NoCommonMethod {
        /// Offset of `crypto_provide`.
        offset: u64,
        /// The peer's `crypto_provide`.
        provided: u32,
        /// The methods we allow.
        allowed: u32,
    },

    /// The responder's `crypto_select` is not exactly one of the methods
    /// we offered.
    #[error(
        "crypto_select {selected:#x} at offset {offset} is not one of the offered {provided:#x}"
    )]
    InvalidCryptoSelect {
        /// Offset of `crypto_select`.
        offset: u64,
        /// The peer's `crypto_select`.
        selected: u32,
        /// What we offered.
        provided: u32,
    },

    /// The peer announces PadC or PadD longer than 512 bytes.
    #[error("{what} length {len} at offset {offset} is more than the limit of 512")]
    PeerPaddingTooLong {
        /// `"PadC"` or `"PadD"`.
        what: &'static str,
        /// Offset of the 2-byte length field.
        offset: u64,
        /// The length announced.
        len: u16,
    },

    /// The peer's initial payload (IA) is longer than
    /// [`Config::max_initial_payload`](crate::mse::Config::max_initial_payload).
    #[error("len(IA) {len} at offset {offset} is more than the limit of {max}")]
    PeerInitialPayloadTooLong {
        /// Offset of the 2-byte length field.
        offset: u64,
        /// The length announced.
        len: u16,
        /// The limit in force.
        max: u16,
    },

    /// The connection closed before the handshake finished (stream
    /// helpers only).
    #[error("connection closed during the MSE handshake after {received} bytes")]
    Closed {
        /// Bytes received before the close.
        received: u64,
    },

    /// The handshake did not finish within its time limit (stream helpers
    /// only).
    #[error("MSE handshake timed out")]
    TimedOut,

    /// An incoming connection used a kind (plaintext or encrypted) that
    /// the accept options refuse (stream helpers only).
    #[error("incoming {kind} connection refused by policy")]
    Refused {
        /// `"plaintext"` or `"encrypted"`.
        kind: &'static str,
    },

    /// Reading from or writing to the transport failed (stream helpers
    /// only).
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The stream offset of the offending field, when the error has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::UnknownInfoHash { offset }
            | Error::InvalidVc { offset }
            | Error::NoCommonMethod { offset, .. }
            | Error::InvalidCryptoSelect { offset, .. }
            | Error::PeerPaddingTooLong { offset, .. }
            | Error::PeerInitialPayloadTooLong { offset, .. } => Some(*offset),
            Error::SyncNotFound { searched, .. } => Some(super::KEY_LEN as u64 + *searched as u64),
            _ => None,
        }
    }
}
