//! The responder (B) side of the MSE handshake: the peer that accepted.

use bytes::{Buf, BytesMut};
use seedbed_metainfo::InfoHash;

use super::cipher::{Rc4Pair, Rc4Stream};
use super::dh::{PublicKey, SharedSecret};
use super::error::Error;
use super::keys::{self, SkeyHash};
use super::{
    check_padding, find, Config, CryptoMethods, Established, Method, Secrets, KEY_LEN, MAX_PAD_LEN,
    VC,
};

/// The responder's state machine (sans-IO): feed it what the peer sends
/// with [`receive`](Self::receive), send what
/// [`poll_transmit`](Self::poll_transmit) hands back, until `receive`
/// returns the [`Established`] connection.
///
/// What it reads (spec steps 1 and 3): `Ya` (96), PadA (0-512),
/// `HASH('req1', S)` (20, found by searching the 512 bytes after `Ya`),
/// `HASH('req2', SKEY) xor HASH('req3', S)` (20), then
/// `ENCRYPT(VC (8), crypto_provide (4), len(PadC) (2), PadC, len(IA) (2), IA)`.
/// What it sends (steps 2 and 4): `Yb` (96), PadB (0-512) as soon as `Ya`
/// is in, then `ENCRYPT(VC, crypto_select (4), len(PadD) (2), PadD)` as
/// soon as `crypto_provide` is in. Its own payload stream (the BitTorrent
/// handshake) follows, in the selected method.
///
/// The torrent is found through the caller's lookup from
/// [`SkeyHash`] (`HASH('req2', SKEY)`) to info hash, so one listener can
/// serve many torrents. See [`Initiator`](super::Initiator) for an example
/// of both sides.
#[derive(Debug)]
pub struct Responder {
    state: State,
    allowed: CryptoMethods,
    prefer_rc4: bool,
    max_initial_payload: u16,
    secrets: Secrets,
    transmit: Vec<u8>,
    consumed: u64,
}

#[derive(Debug)]
enum State {
    /// Waiting for the 96 bytes of `Ya`.
    PublicKey,
    /// Searching for `HASH('req1', S)` in PadA.
    SyncReq1 {
        s: Box<SharedSecret>,
        req1: [u8; 20],
        scanned: usize,
    },
    /// Waiting for the obfuscated SKEY, VC, crypto_provide and len(PadC).
    Skey {
        s: Box<SharedSecret>,
    },
    /// Waiting for PadC and len(IA).
    PadC {
        rc4: Rc4Pair,
        method: Method,
        info_hash: InfoHash,
        len: usize,
    },
    /// Waiting for IA.
    InitialPayload {
        rc4: Rc4Pair,
        method: Method,
        info_hash: InfoHash,
        len: usize,
    },
    Done,
}

/// Bytes from the obfuscated SKEY to len(PadC): 20 + 8 + 4 + 2.
const SKEY_TO_PADC: usize = 34;

impl Responder {
    /// Starts the responder side: accepts `config.methods`, selects RC4
    /// over plaintext when both are offered only if `config.prefer_rc4`,
    /// and takes an initial payload of at most
    /// `config.max_initial_payload` bytes.
    ///
    /// # Errors
    /// [`Error::NoMethods`], [`Error::PaddingTooLong`] (PadB, PadD over 512
    /// bytes).
    pub fn new(config: &Config, secrets: Secrets) -> Result<Responder, Error> {
        let allowed = config.methods.known()?;
        check_padding("PadB", &secrets.key_padding)?;
        check_padding("PadD", &secrets.crypto_padding)?;
        Ok(Responder {
            state: State::PublicKey,
            allowed,
            prefer_rc4: config.prefer_rc4,
            max_initial_payload: config.max_initial_payload,
            secrets,
            transmit: Vec::new(),
            consumed: 0,
        })
    }

    /// Bytes to send to the peer, if any. Call after every
    /// [`receive`](Self::receive) (also the one that returns
    /// [`Established`]), and send them in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| std::mem::take(&mut self.transmit))
    }

    /// Whether the handshake has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes what the peer sent from the front of `buf` (append every
    /// read to it). Returns `Ok(None)` while more bytes are needed, and
    /// [`Established`] once IA is complete: `buf` then holds the
    /// decrypted IA followed by the rest of the peer's payload stream
    /// (decrypted if RC4 was selected), that is, the BitTorrent stream from
    /// its first byte.
    ///
    /// `lookup` maps `HASH('req2', SKEY)` to the torrent's info hash; it is
    /// called at most once per handshake, and its answer is checked.
    ///
    /// Bytes are only looked at within the spec's bounds: 96 + 512 + 20
    /// bytes to find `HASH('req1', S)`, then fixed lengths (PadC at most
    /// 512 bytes, IA at most `max_initial_payload`).
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`], [`Error::SyncNotFound`],
    /// [`Error::UnknownInfoHash`], [`Error::InvalidVc`],
    /// [`Error::NoCommonMethod`], [`Error::PeerPaddingTooLong`],
    /// [`Error::PeerInitialPayloadTooLong`]. After an error, or after the
    /// handshake finished, further calls return `Ok(None)` and do nothing.
    pub fn receive<F>(
        &mut self,
        buf: &mut BytesMut,
        mut lookup: F,
    ) -> Result<Option<Established>, Error>
    where
        F: FnMut(&SkeyHash) -> Option<InfoHash>,
    {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(None),
                State::PublicKey => {
                    if buf.len() < KEY_LEN {
                        self.state = State::PublicKey;
                        return Ok(None);
                    }
                    let mut ya = [0u8; KEY_LEN];
                    ya.copy_from_slice(&buf[..KEY_LEN]);
                    let s = self.secrets.private_key.shared_secret(&PublicKey(ya))?;
                    self.advance(buf, KEY_LEN);
                    self.transmit
                        .extend_from_slice(&self.secrets.private_key.public_key().0);
                    self.transmit.extend_from_slice(&self.secrets.key_padding);
                    self.state = State::SyncReq1 {
                        req1: keys::req1(&s),
                        s: Box::new(s),
                        scanned: 0,
                    };
                }
                State::SyncReq1 { s, req1, scanned } => {
                    let window = MAX_PAD_LEN + req1.len();
                    match find(buf, &req1, scanned, window) {
                        Ok(at) => {
                            self.advance(buf, at + req1.len());
                            self.state = State::Skey { s };
                        }
                        Err(_) if buf.len() >= window => {
                            return Err(Error::SyncNotFound {
                                what: "HASH('req1', S)",
                                searched: window,
                            });
                        }
                        Err(scanned) => {
                            self.state = State::SyncReq1 { s, req1, scanned };
                            return Ok(None);
                        }
                    }
                }
                State::Skey { s } => {
                    if buf.len() < SKEY_TO_PADC {
                        self.state = State::Skey { s };
                        return Ok(None);
                    }
                    let (rc4, method, info_hash, len) =
                        self.skey(&buf[..SKEY_TO_PADC], &s, &mut lookup)?;
                    self.advance(buf, SKEY_TO_PADC);
                    self.state = State::PadC {
                        rc4,
                        method,
                        info_hash,
                        len,
                    };
                }
                State::PadC {
                    mut rc4,
                    method,
                    info_hash,
                    len,
                } => {
                    if buf.len() < len + 2 {
                        self.state = State::PadC {
                            rc4,
                            method,
                            info_hash,
                            len,
                        };
                        return Ok(None);
                    }
                    rc4.decrypt.apply(&mut buf[..len]);
                    let mut ia_len = [buf[len], buf[len + 1]];
                    rc4.decrypt.apply(&mut ia_len);
                    let ia_len = u16::from_be_bytes(ia_len);
                    if ia_len > self.max_initial_payload {
                        return Err(Error::PeerInitialPayloadTooLong {
                            offset: self.consumed + len as u64,
                            len: ia_len,
                            max: self.max_initial_payload,
                        });
                    }
                    self.advance(buf, len + 2);
                    self.state = State::InitialPayload {
                        rc4,
                        method,
                        info_hash,
                        len: usize::from(ia_len),
                    };
                }
                State::InitialPayload {
                    mut rc4,
                    method,
                    info_hash,
                    len,
                } => {
                    if buf.len() < len {
                        self.state = State::InitialPayload {
                            rc4,
                            method,
                            info_hash,
                            len,
                        };
                        return Ok(None);
                    }
                    // IA is always RC4; what follows is in the selected method.
                    let (ia, rest) = buf.split_at_mut(len);
                    rc4.decrypt.apply(ia);
                    let rc4 = match method {
                        Method::Rc4 => {
                            rc4.decrypt.apply(rest);
                            Some(rc4)
                        }
                        Method::Plaintext => None,
                    };
                    return Ok(Some(Established {
                        method,
                        info_hash,
                        rc4,
                    }));
                }
            }
        }
    }

    fn advance(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.consumed += n as u64;
    }

    /// Reads the obfuscated SKEY, VC, crypto_provide and len(PadC) (34
    /// bytes), selects the method and queues step 4.
    fn skey<F>(
        &mut self,
        field: &[u8],
        s: &SharedSecret,
        lookup: &mut F,
    ) -> Result<(Rc4Pair, Method, InfoHash, usize), Error>
    where
        F: FnMut(&SkeyHash) -> Option<InfoHash>,
    {
        let mut obfuscated = [0u8; 20];
        obfuscated.copy_from_slice(&field[..20]);
        let wanted = SkeyHash::unmask(&obfuscated, s);
        let info_hash = match lookup(&wanted) {
            Some(ih) if SkeyHash::of(&ih) == wanted => ih,
            _ => {
                return Err(Error::UnknownInfoHash {
                    offset: self.consumed,
                })
            }
        };
        let mut rc4 = Rc4Pair {
            encrypt: Rc4Stream::new(&keys::key_b(s, &info_hash)),
            decrypt: Rc4Stream::new(&keys::key_a(s, &info_hash)),
        };
        let mut rest = [0u8; 14];
        rest.copy_from_slice(&field[20..]);
        rc4.decrypt.apply(&mut rest);
        if rest[..8] != VC {
            return Err(Error::InvalidVc {
                offset: self.consumed + 20,
            });
        }
        let provided = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let common = provided & self.allowed.0;
        let method = if common & CryptoMethods::RC4.0 != 0
            && (self.prefer_rc4 || common & CryptoMethods::PLAINTEXT.0 == 0)
        {
            Method::Rc4
        } else if common & CryptoMethods::PLAINTEXT.0 != 0 {
            Method::Plaintext
        } else {
            return Err(Error::NoCommonMethod {
                offset: self.consumed + 28,
                provided,
                allowed: self.allowed.0,
            });
        };
        let pad_len = u16::from_be_bytes([rest[12], rest[13]]);
        if usize::from(pad_len) > MAX_PAD_LEN {
            return Err(Error::PeerPaddingTooLong {
                what: "PadC",
                offset: self.consumed + 32,
                len: pad_len,
            });
        }
        self.step4(&mut rc4, method);
        Ok((rc4, method, info_hash, usize::from(pad_len)))
    }

    /// Queues `ENCRYPT(VC, crypto_select, len(PadD), PadD)`.
    fn step4(&mut self, rc4: &mut Rc4Pair, method: Method) {
        let pad = &self.secrets.crypto_padding;
        let out = &mut self.transmit;
        let start = out.len();
        out.extend_from_slice(&VC);
        out.extend_from_slice(&method.bits().to_be_bytes());
        out.extend_from_slice(&(pad.len() as u16).to_be_bytes());
        out.extend_from_slice(pad);
        rc4.encrypt.apply(&mut out[start..]);
    }
}
