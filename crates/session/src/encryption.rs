//! Encryption policy (MSE/PE, the `mse` module of `seedbed-peer-wire`):
//! which connections are encrypted, as libtorrent's `in_enc_policy`,
//! `out_enc_policy`, `allowed_enc_level` and `prefer_rc4`; and the two
//! places it acts: dialling a peer and accepting one.
//!
//! Every connection is an [`MseStream`] over TCP or uTP: plain BitTorrent
//! connections pass straight through it, MSE ones are decrypted and
//! encrypted by it, and the peer wire codecs above see the same bytes
//! either way. Dialling with MSE sends our BitTorrent handshake as the
//! initial payload (IA); accepting tells a plain handshake from an MSE one
//! by the first bytes and routes MSE connections among the torrents by
//! `HASH('req2', info hash)`.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use seedbed_metainfo::InfoHash;
use seedbed_peer_wire::mse::{
    self, AcceptOptions, CryptoMethods, MseStream, PrivateKey, Secrets, SkeyHash, MAX_PAD_LEN,
};
use seedbed_peer_wire::{Handshake, HandshakeCodec, HandshakeEvent};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use crate::config::SessionConfig;
use crate::error::Error;
use crate::torrent::Registry;
use crate::transport::{Dialer, TransportStream};

/// A peer connection: TCP or uTP ([`TransportStream`]), through MSE or
/// passed through.
pub(crate) type PeerStream = MseStream<TransportStream>;

/// When a direction uses MSE (libtorrent's `pe_disabled`, `pe_enabled`,
/// `pe_forced`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncryptionPolicy {
    /// Plain BitTorrent only: incoming MSE connections are refused,
    /// outgoing ones are never tried.
    Disabled,
    /// Both: incoming connections of either kind are accepted; outgoing
    /// ones try one kind and, if the peer drops that, the other (the order
    /// is [`EncryptionConfig::encrypted_first`]).
    Enabled,
    /// MSE only: incoming plain connections are refused, outgoing ones
    /// always use MSE.
    Forced,
}

impl FromStr for EncryptionPolicy {
    type Err = String;

    /// `disabled`, `enabled` or `forced`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disabled" => Ok(EncryptionPolicy::Disabled),
            "enabled" => Ok(EncryptionPolicy::Enabled),
            "forced" => Ok(EncryptionPolicy::Forced),
            _ => Err(format!(
                "unknown encryption policy {s:?} (disabled, enabled, forced)"
            )),
        }
    }
}

/// What the payload of an MSE connection may be (libtorrent's
/// `allowed_enc_level`): the handshake is obfuscated either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncryptionLevel {
    /// Plaintext payload only (`crypto_provide` 0x01).
    Plaintext,
    /// RC4 payload only (0x02).
    Rc4,
    /// Either (0x03); the responder picks (see
    /// [`EncryptionConfig::prefer_rc4`]).
    Both,
}

impl FromStr for EncryptionLevel {
    type Err = String;

    /// `plaintext`, `rc4` or `both`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plaintext" => Ok(EncryptionLevel::Plaintext),
            "rc4" => Ok(EncryptionLevel::Rc4),
            "both" => Ok(EncryptionLevel::Both),
            _ => Err(format!(
                "unknown encryption level {s:?} (plaintext, rc4, both)"
            )),
        }
    }
}

impl EncryptionLevel {
    fn methods(self) -> CryptoMethods {
        match self {
            EncryptionLevel::Plaintext => CryptoMethods::PLAINTEXT,
            EncryptionLevel::Rc4 => CryptoMethods::RC4,
            EncryptionLevel::Both => CryptoMethods::BOTH,
        }
    }
}

/// Encryption settings of a session ([`SessionConfig::encryption`]).
/// The defaults are libtorrent's: enabled both ways, both levels, no
/// preference for RC4; we dial plain first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionConfig {
    /// Incoming connections (libtorrent's `in_enc_policy`). Default
    /// [`EncryptionPolicy::Enabled`].
    pub incoming: EncryptionPolicy,
    /// Outgoing connections (`out_enc_policy`). Default
    /// [`EncryptionPolicy::Enabled`].
    pub outgoing: EncryptionPolicy,
    /// What an MSE payload may be (`allowed_enc_level`). Default
    /// [`EncryptionLevel::Both`].
    pub level: EncryptionLevel,
    /// As MSE responder, select RC4 when the peer offers both
    /// (`prefer_rc4`). Default `false`: plaintext payload, obfuscated
    /// handshake.
    pub prefer_rc4: bool,
    /// With [`EncryptionPolicy::Enabled`] outgoing: dial MSE first and
    /// retry plain if the peer drops it (libtorrent's order), instead of
    /// plain first and MSE on retry. Default `false`: a plain dial costs no
    /// Diffie-Hellman round trip, and a peer that requires encryption
    /// drops it at once.
    pub encrypted_first: bool,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            incoming: EncryptionPolicy::Enabled,
            outgoing: EncryptionPolicy::Enabled,
            level: EncryptionLevel::Both,
            prefer_rc4: false,
            encrypted_first: false,
        }
    }
}

impl EncryptionConfig {
    /// The same `policy` both ways, other settings default.
    pub fn with_policy(policy: EncryptionPolicy) -> Self {
        EncryptionConfig {
            incoming: policy,
            outgoing: policy,
            ..EncryptionConfig::default()
        }
    }

    fn mse_config(&self) -> mse::Config {
        mse::Config {
            methods: self.level.methods(),
            prefer_rc4: self.prefer_rc4,
            ..mse::Config::default()
        }
    }

    /// The kinds of outgoing handshake to try, in order.
    fn dial_order(&self) -> &'static [bool] {
        match (self.outgoing, self.encrypted_first) {
            (EncryptionPolicy::Disabled, _) => &[false],
            (EncryptionPolicy::Forced, _) => &[true],
            (EncryptionPolicy::Enabled, false) => &[false, true],
            (EncryptionPolicy::Enabled, true) => &[true, false],
        }
    }
}

/// Fresh random inputs of one MSE handshake: a 160-bit private key (as
/// libtorrent) and paddings of random length, 0 to 512 bytes.
fn secrets() -> Secrets {
    let mut rng = rand::rng();
    let key = loop {
        let bytes: [u8; 20] = rng.random();
        if let Ok(k) = PrivateKey::from_bytes(&bytes) {
            break k;
        }
    };
    let mut pad = || {
        let mut v = vec![0u8; rng.random_range(0..=MAX_PAD_LEN)];
        rng.fill(&mut v[..]);
        v
    };
    let key_padding = pad();
    let crypto_padding = pad();
    Secrets::new(key, key_padding, crypto_padding)
}

fn peer_error(addr: SocketAddr, reason: impl ToString) -> Error {
    Error::Peer {
        addr,
        reason: reason.to_string(),
    }
}

/// Dials `addr` (uTP, then TCP, as `dialer`'s transports say) and
/// exchanges BitTorrent handshakes as the outgoing policy says: plain,
/// MSE, or one then the other when the peer drops the first after the
/// connection was made. Each attempt's connect is bounded by the dialer's
/// time-outs, each handshake by [`SessionConfig::connect_timeout`].
pub(crate) async fn dial(
    config: &SessionConfig,
    dialer: &Dialer,
    addr: SocketAddr,
    ours: Handshake,
) -> Result<(Framed<PeerStream, HandshakeCodec>, Handshake), Error> {
    let enc = &config.encryption;
    let limit = config.connect_timeout;
    let mut last = None;
    for &encrypted in enc.dial_order() {
        let stream = dialer.dial(addr).await?;
        match timeout(limit, handshake(stream, encrypted, enc, ours, limit)).await {
            Ok(Ok(theirs)) => return Ok(theirs),
            Ok(Err(e)) => {
                tracing::debug!(%addr, encrypted, %e, "handshake failed");
                last = Some(peer_error(addr, e));
            }
            Err(_) => last = Some(peer_error(addr, "handshake timed out")),
        }
    }
    Err(last.unwrap_or_else(|| peer_error(addr, "no dial attempt allowed")))
}

/// One outgoing handshake on a fresh connection.
async fn handshake(
    stream: TransportStream,
    encrypted: bool,
    enc: &EncryptionConfig,
    ours: Handshake,
    limit: Duration,
) -> Result<(Framed<PeerStream, HandshakeCodec>, Handshake), String> {
    let mut framed = if encrypted {
        // Our handshake goes as the initial payload (IA) when the payload
        // will be RC4; when it may be plaintext it follows step 4 instead:
        // Transmission 3.00 reads a non-empty IA as plaintext when it
        // selects plaintext (4.x does not), and drops the connection.
        let in_ia = enc.level == EncryptionLevel::Rc4;
        let ia = if in_ia { &ours.to_bytes()[..] } else { &[] };
        let s = mse::connect(
            stream,
            ours.info_hash,
            ia,
            &enc.mse_config(),
            secrets(),
            limit,
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut f = Framed::new(s, HandshakeCodec::new());
        if !in_ia {
            f.send(ours).await.map_err(|e| e.to_string())?;
        }
        f
    } else {
        let mut f = Framed::new(
            MseStream::plaintext(stream, BytesMut::new()),
            HandshakeCodec::new(),
        );
        f.send(ours).await.map_err(|e| e.to_string())?;
        f
    };
    match framed.next().await {
        Some(Ok(HandshakeEvent::Complete(hs))) => Ok((framed, hs)),
        Some(Ok(HandshakeEvent::Prefix(_))) => Err("unexpected handshake prefix".into()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("closed during the handshake".into()),
    }
}

/// The incoming side: what is accepted, and how MSE connections find
/// their torrent.
#[derive(Debug)]
pub(crate) struct Acceptor {
    options: AcceptOptions,
    registry: Arc<Registry>,
}

impl Acceptor {
    pub(crate) fn new(config: &SessionConfig, registry: Arc<Registry>) -> Acceptor {
        let enc = &config.encryption;
        Acceptor {
            options: AcceptOptions {
                allow_plaintext: enc.incoming != EncryptionPolicy::Forced,
                allow_encrypted: enc.incoming != EncryptionPolicy::Disabled,
                config: enc.mse_config(),
                timeout: config.connect_timeout,
            },
            registry,
        }
    }

    /// Classifies an incoming connection and runs the MSE responder if it
    /// is one; `None` (logged) when the policy refuses it or it fails.
    pub(crate) async fn accept(
        &self,
        stream: TransportStream,
        addr: SocketAddr,
    ) -> Option<PeerStream> {
        let lookup = |h: &SkeyHash| -> Option<InfoHash> {
            let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            // A hybrid is registered under its v1 hash and is also
            // reached by its truncated v2 hash (BEP 52).
            reg.iter().find_map(|(ih, slot)| {
                if SkeyHash::of(ih) == *h {
                    return Some(*ih);
                }
                let v2 = slot.shared.get()?.v2_wire_hash()?;
                (SkeyHash::of(&v2) == *h).then_some(v2)
            })
        };
        match mse::accept(stream, &self.options, secrets(), lookup).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(%addr, %e, "incoming connection dropped");
                None
            }
        }
    }
}

/// Whether the BitTorrent handshake of an incoming connection names the
/// torrent its MSE handshake did (always true for plain connections).
pub(crate) fn same_torrent(stream: &PeerStream, info_hash: &InfoHash) -> bool {
    stream.info_hash().is_none_or(|ih| ih == *info_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_order() {
        assert_eq!("forced".parse(), Ok(EncryptionPolicy::Forced));
        assert_eq!("rc4".parse(), Ok(EncryptionLevel::Rc4));
        assert!("on".parse::<EncryptionPolicy>().is_err());
        let mut c = EncryptionConfig::default();
        assert_eq!(c.dial_order(), &[false, true]);
        c.encrypted_first = true;
        assert_eq!(c.dial_order(), &[true, false]);
        c.outgoing = EncryptionPolicy::Forced;
        assert_eq!(c.dial_order(), &[true]);
        c.outgoing = EncryptionPolicy::Disabled;
        assert_eq!(c.dial_order(), &[false]);
    }

    #[test]
    fn secrets_are_in_bounds() {
        for _ in 0..50 {
            let s = secrets();
            assert!(s.key_padding.len() <= MAX_PAD_LEN);
            assert!(s.crypto_padding.len() <= MAX_PAD_LEN);
        }
    }
}
