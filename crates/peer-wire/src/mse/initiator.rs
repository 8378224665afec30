//! The initiator (A) side of the MSE handshake: the peer that dialled.

use bytes::{Buf, BytesMut};
use seedbed_metainfo::InfoHash;

use super::cipher::{Rc4Pair, Rc4Stream};
use super::dh::{PublicKey, SharedSecret};
use super::error::Error;
use super::keys;
use super::{
    check_padding, find, CryptoMethods, Established, Method, Secrets, KEY_LEN, MAX_PAD_LEN, VC,
};

/// The initiator's state machine (sans-IO): feed it what the peer sends
/// with [`receive`](Self::receive), send what
/// [`poll_transmit`](Self::poll_transmit) hands back, until `receive`
/// returns the [`Established`] connection.
///
/// What goes on the wire (spec steps 1, 3 and 5):
///
/// | step | bytes |
/// |---|---|
/// | 1 | `Ya` (96), PadA (0-512) |
/// | 3 | `HASH('req1', S)` (20), `HASH('req2', SKEY) xor HASH('req3', S)` (20), `ENCRYPT(VC (8), crypto_provide (4), len(PadC) (2), PadC, len(IA) (2), IA)` |
/// | 5 | the payload stream, in the method the responder selected |
///
/// and what it reads (step 2 and 4): `Yb` (96), PadB (0-512), then
/// `ENCRYPT(VC, crypto_select (4), len(PadD) (2), PadD)`. The VC is found
/// by searching for its encryption within the 512 bytes after `Yb`.
///
/// ```
/// use bytes::BytesMut;
/// use seedbed_metainfo::InfoHash;
/// use seedbed_peer_wire::mse::{Config, Initiator, Method, PrivateKey, Responder, Secrets, SkeyHash};
///
/// let ih = InfoHash([7; 20]);
/// let secrets = |k: u8| Secrets::new(PrivateKey::from_bytes(&[k; 20]).unwrap(), vec![k; 30], vec![]);
/// let mut a = Initiator::new(&Config::default(), ih, b"hello", secrets(1))?;
/// let mut b = Responder::new(&Config::default(), secrets(2))?;
/// let lookup = |h: &SkeyHash| (*h == SkeyHash::of(&ih)).then_some(ih);
/// let (mut to_b, mut to_a) = (BytesMut::new(), BytesMut::new());
/// let (mut done_a, mut done_b) = (None, None);
/// while done_a.is_none() || done_b.is_none() {
///     if let Some(out) = a.poll_transmit() { to_b.extend_from_slice(&out) }
///     if done_b.is_none() { done_b = b.receive(&mut to_b, lookup)? }
///     if let Some(out) = b.poll_transmit() { to_a.extend_from_slice(&out) }
///     if done_a.is_none() { done_a = a.receive(&mut to_a)? }
/// }
/// let (a, b) = (done_a.unwrap(), done_b.unwrap());
/// assert_eq!((a.method, b.method), (Method::Plaintext, Method::Plaintext));
/// assert_eq!(&to_b[..], b"hello"); // the responder's buffer now starts with IA
/// assert_eq!(b.info_hash, ih);
/// # Ok::<(), seedbed_peer_wire::mse::Error>(())
/// ```
#[derive(Debug)]
pub struct Initiator {
    state: State,
    info_hash: InfoHash,
    provide: CryptoMethods,
    secrets: Secrets,
    initial_payload: Vec<u8>,
    transmit: Vec<u8>,
    /// Bytes of the peer's stream consumed so far.
    consumed: u64,
}

#[derive(Debug)]
enum State {
    /// Waiting for the 96 bytes of `Yb`.
    PublicKey,
    /// Searching for the encrypted VC in PadB.
    SyncVc {
        pattern: [u8; 8],
        rc4: Rc4Pair,
        scanned: usize,
    },
    /// Waiting for crypto_select and len(PadD).
    CryptoSelect {
        rc4: Rc4Pair,
    },
    /// Waiting for PadD.
    PadD {
        rc4: Rc4Pair,
        method: Method,
        len: usize,
    },
    Done,
}

impl Initiator {
    /// Starts a handshake for the torrent `info_hash` (SKEY), offering
    /// `config.methods`, with `initial_payload` (IA, usually the 68-byte
    /// BitTorrent handshake; libtorrent accepts at most 68 bytes) sent
    /// encrypted in step 3. Step 1 is ready in
    /// [`poll_transmit`](Self::poll_transmit) at once.
    ///
    /// # Errors
    /// [`Error::NoMethods`], [`Error::PaddingTooLong`] (PadA, PadC over 512
    /// bytes), [`Error::InitialPayloadTooLong`] (over 65535 bytes).
    pub fn new(
        config: &super::Config,
        info_hash: InfoHash,
        initial_payload: &[u8],
        secrets: Secrets,
    ) -> Result<Initiator, Error> {
        let provide = config.methods.known()?;
        check_padding("PadA", &secrets.key_padding)?;
        check_padding("PadC", &secrets.crypto_padding)?;
        if initial_payload.len() > usize::from(u16::MAX) {
            return Err(Error::InitialPayloadTooLong {
                len: initial_payload.len(),
            });
        }
        let mut transmit = Vec::with_capacity(KEY_LEN + secrets.key_padding.len());
        transmit.extend_from_slice(&secrets.private_key.public_key().0);
        transmit.extend_from_slice(&secrets.key_padding);
        Ok(Initiator {
            state: State::PublicKey,
            info_hash,
            provide,
            secrets,
            initial_payload: initial_payload.to_vec(),
            transmit,
            consumed: 0,
        })
    }

    /// Bytes to send to the peer, if any. Call after `new` and after every
    /// [`receive`](Self::receive), and send them in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| std::mem::take(&mut self.transmit))
    }

    /// Whether the handshake has finished (`receive` returned
    /// [`Established`]).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Consumes what the peer sent from the front of `buf` (append every
    /// read to it). Returns `Ok(None)` while more bytes are needed, and
    /// [`Established`] once step 4 is complete: `buf` then holds the start
    /// of the peer's payload stream, already decrypted if RC4 was selected
    /// (the keystream in [`Established::rc4`] continues after it).
    ///
    /// Bytes are only looked at within the spec's bounds: 96 + 512 + 8
    /// bytes to find the VC, then fixed lengths; `buf` may hold more (the
    /// payload stream), and that is left alone until the end.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`], [`Error::SyncNotFound`] (no VC within
    /// 512 bytes of PadB), [`Error::InvalidCryptoSelect`],
    /// [`Error::PeerPaddingTooLong`] (PadD over 512). After an error, or
    /// after the handshake finished, further calls return `Ok(None)` and
    /// do nothing.
    pub fn receive(&mut self, buf: &mut BytesMut) -> Result<Option<Established>, Error> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(None),
                State::PublicKey => {
                    if buf.len() < KEY_LEN {
                        self.state = State::PublicKey;
                        return Ok(None);
                    }
                    let mut yb = [0u8; KEY_LEN];
                    yb.copy_from_slice(&buf[..KEY_LEN]);
                    let s = self.secrets.private_key.shared_secret(&PublicKey(yb))?;
                    self.advance(buf, KEY_LEN);
                    let mut rc4 = self.step3(&s);
                    let mut pattern = VC;
                    rc4.decrypt.apply(&mut pattern);
                    self.state = State::SyncVc {
                        pattern,
                        rc4,
                        scanned: 0,
                    };
                }
                State::SyncVc {
                    pattern,
                    rc4,
                    scanned,
                } => {
                    let window = MAX_PAD_LEN + VC.len();
                    match find(buf, &pattern, scanned, window) {
                        Ok(at) => {
                            self.advance(buf, at + VC.len());
                            self.state = State::CryptoSelect { rc4 };
                        }
                        Err(scanned) if buf.len() >= window => {
                            let _ = scanned;
                            return Err(Error::SyncNotFound {
                                what: "VC",
                                searched: window,
                            });
                        }
                        Err(scanned) => {
                            self.state = State::SyncVc {
                                pattern,
                                rc4,
                                scanned,
                            };
                            return Ok(None);
                        }
                    }
                }
                State::CryptoSelect { mut rc4 } => {
                    if buf.len() < 6 {
                        self.state = State::CryptoSelect { rc4 };
                        return Ok(None);
                    }
                    let mut field = [0u8; 6];
                    field.copy_from_slice(&buf[..6]);
                    rc4.decrypt.apply(&mut field);
                    let selected = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                    let len = u16::from_be_bytes([field[4], field[5]]);
                    let method = match Method::from_bits(selected) {
                        Some(m) if self.provide.contains(m) => m,
                        _ => {
                            return Err(Error::InvalidCryptoSelect {
                                offset: self.consumed,
                                selected,
                                provided: self.provide.0,
                            })
                        }
                    };
                    if usize::from(len) > MAX_PAD_LEN {
                        return Err(Error::PeerPaddingTooLong {
                            what: "PadD",
                            offset: self.consumed + 4,
                            len,
                        });
                    }
                    self.advance(buf, 6);
                    self.state = State::PadD {
                        rc4,
                        method,
                        len: usize::from(len),
                    };
                }
                State::PadD {
                    mut rc4,
                    method,
                    len,
                } => {
                    if buf.len() < len {
                        self.state = State::PadD { rc4, method, len };
                        return Ok(None);
                    }
                    rc4.decrypt.apply(&mut buf[..len]);
                    self.advance(buf, len);
                    let rc4 = match method {
                        Method::Rc4 => {
                            rc4.decrypt.apply(buf);
                            Some(rc4)
                        }
                        Method::Plaintext => None,
                    };
                    return Ok(Some(Established {
                        method,
                        info_hash: self.info_hash,
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

    /// Queues step 3 and returns the keystreams, positioned after it.
    fn step3(&mut self, s: &SharedSecret) -> Rc4Pair {
        let mut rc4 = Rc4Pair {
            encrypt: Rc4Stream::new(&keys::key_a(s, &self.info_hash)),
            decrypt: Rc4Stream::new(&keys::key_b(s, &self.info_hash)),
        };
        let pad = &self.secrets.crypto_padding;
        let ia = &self.initial_payload;
        let out = &mut self.transmit;
        out.reserve(40 + 8 + 4 + 2 + pad.len() + 2 + ia.len());
        out.extend_from_slice(&keys::req1(s));
        out.extend_from_slice(&keys::obfuscated_skey(&self.info_hash, s));
        let start = out.len();
        out.extend_from_slice(&VC);
        out.extend_from_slice(&self.provide.0.to_be_bytes());
        out.extend_from_slice(&(pad.len() as u16).to_be_bytes());
        out.extend_from_slice(pad);
        out.extend_from_slice(&(ia.len() as u16).to_be_bytes());
        out.extend_from_slice(ia);
        rc4.encrypt.apply(&mut out[start..]);
        self.initial_payload = Vec::new();
        rc4
    }
}
