//! The SHA-1 derivations of MSE: the synchronisation hash, the obfuscated
//! info hash (SKEY) and the two RC4 keys. `HASH` is SHA-1 of the
//! concatenated arguments; `S` is the 96-byte shared secret and `SKEY`
//! the torrent's 20-byte info hash.

use seedbed_metainfo::InfoHash;
use sha1::{Digest, Sha1};

use super::dh::SharedSecret;

fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `HASH('req1', S)`: the initiator sends it so the responder can find
/// where PadA ends.
pub fn req1(s: &SharedSecret) -> [u8; 20] {
    hash(&[b"req1", s.as_bytes()])
}

/// `HASH('req3', S)`: the mask that hides [`SkeyHash`] on the wire.
pub fn req3(s: &SharedSecret) -> [u8; 20] {
    hash(&[b"req3", s.as_bytes()])
}

/// `HASH('req2', SKEY) xor HASH('req3', S)`: the 20 bytes the initiator
/// sends after `HASH('req1', S)` to name the torrent.
pub fn obfuscated_skey(info_hash: &InfoHash, s: &SharedSecret) -> [u8; 20] {
    let mut out = SkeyHash::of(info_hash).0;
    for (o, m) in out.iter_mut().zip(req3(s)) {
        *o ^= m;
    }
    out
}

/// `HASH('keyA', S, SKEY)`: the RC4 key of what the initiator sends.
pub fn key_a(s: &SharedSecret, info_hash: &InfoHash) -> [u8; 20] {
    hash(&[b"keyA", s.as_bytes(), &info_hash.0])
}

/// `HASH('keyB', S, SKEY)`: the RC4 key of what the responder sends.
pub fn key_b(s: &SharedSecret, info_hash: &InfoHash) -> [u8; 20] {
    hash(&[b"keyB", s.as_bytes(), &info_hash.0])
}

/// `HASH('req2', SKEY)`: what a responder recovers from the obfuscated
/// info hash, and looks up among its torrents (see
/// [`Responder::receive`](super::Responder::receive)). A listener serving
/// many torrents can keep a map from `SkeyHash::of(info_hash)` to each
/// torrent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SkeyHash(pub [u8; 20]);

impl SkeyHash {
    /// `HASH('req2', info_hash)`.
    pub fn of(info_hash: &InfoHash) -> SkeyHash {
        SkeyHash(hash(&[b"req2", &info_hash.0]))
    }

    /// Recovers `HASH('req2', SKEY)` from the 20 bytes on the wire.
    pub fn unmask(obfuscated: &[u8; 20], s: &SharedSecret) -> SkeyHash {
        let mut out = *obfuscated;
        for (o, m) in out.iter_mut().zip(req3(s)) {
            *o ^= m;
        }
        SkeyHash(out)
    }
}
