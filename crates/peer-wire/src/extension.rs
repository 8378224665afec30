//! The BEP 10 extension protocol: the extended handshake, the per-peer
//! extension id mapping, and dispatch of extended messages to BEP 9
//! (`ut_metadata`) and BEP 11 (`ut_pex`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};
use seedbed_bencode::{DecodeOptions, Document, Encode, OwnedValue, Value};

use crate::error::Error;
use crate::limits::Limits;
use crate::message::Message;
use crate::metadata::MetadataMessage;
use crate::pex::PexMessage;

/// Extension name of BEP 9 metadata exchange.
pub const UT_METADATA: &str = "ut_metadata";
/// Extension name of BEP 11 peer exchange.
pub const UT_PEX: &str = "ut_pex";

/// Nesting limit for extension payloads: real ones are at most 3 deep.
const MAX_DEPTH: usize = 32;

pub(crate) fn decode_payload<'a>(
    message: &'static str,
    payload: &'a [u8],
) -> Result<(Document<'a>, &'a [u8]), Error> {
    let opts = DecodeOptions::new().max_depth(MAX_DEPTH);
    seedbed_bencode::decode_prefix_with(payload, &opts)
        .map_err(|source| Error::Bencode { message, source })
}

pub(crate) fn invalid(message: &'static str, v: Value<'_, '_>, reason: &'static str) -> Error {
    Error::InvalidExtension {
        message,
        offset: v.span().start,
        reason,
    }
}

/// The BEP 10 extended handshake (extended message id 0): a bencoded
/// dictionary, every key optional.
///
/// Reading is lenient: a known key whose value has the wrong type or range
/// (say `p` as a string) is not an error; it is kept in
/// [`extra`](Self::extra) as read, together with every unknown key, so
/// nothing is lost. `m` entries that are not an integer 0..=255 or whose
/// name is not UTF-8 are dropped.
///
/// ```
/// use seedbed_peer_wire::{ExtendedHandshake, Limits};
/// let hs = ExtendedHandshake::decode(b"d1:md11:ut_metadatai2ee4:reqqi500e1:v4:LT20e", &Limits::new())?;
/// assert_eq!(hs.m["ut_metadata"], 2);
/// assert_eq!(hs.reqq, Some(500));
/// assert_eq!(hs.v.as_deref(), Some("LT20"));
/// assert_eq!(hs.to_bytes(), &b"d1:md11:ut_metadatai2ee4:reqqi500e1:v4:LT20e"[..]);
/// # Ok::<(), seedbed_peer_wire::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtendedHandshake {
    /// `m`: extension name → the sender's id for it; 0 disables (BEP 10).
    pub m: BTreeMap<String, u8>,
    /// `v`: client name and version, UTF-8.
    pub v: Option<String>,
    /// `p`: the sender's TCP listen port.
    pub p: Option<u16>,
    /// `reqq`: how many outstanding requests the sender queues without
    /// dropping any (libtorrent's default is 250).
    pub reqq: Option<u32>,
    /// `yourip`: the receiver's address as the sender sees it (4 or 16
    /// bytes on the wire).
    pub yourip: Option<IpAddr>,
    /// `ipv4`: the sender's IPv4 address (4 bytes on the wire).
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's IPv6 address (16 bytes on the wire).
    pub ipv6: Option<Ipv6Addr>,
    /// `metadata_size`: size of the `info` dictionary in bytes (BEP 9),
    /// at most [`Limits::max_metadata_size`].
    pub metadata_size: Option<u32>,
    /// `upload_only`: 1 when the sender is a seed or only uploads (as
    /// libtorrent sends it; integer 0 or 1 on the wire).
    pub upload_only: Option<bool>,
    /// Every other key, and known keys whose values did not fit, as read.
    pub extra: BTreeMap<Bytes, OwnedValue>,
}

const MSG_HS: &str = "extended handshake";

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => None,
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl ExtendedHandshake {
    /// Parses the payload of an extended message with id 0 (after the id
    /// byte). Bytes after the dictionary are ignored.
    ///
    /// # Errors
    /// [`Error::Bencode`] for invalid bencode; [`Error::InvalidExtension`]
    /// when the root is not a dictionary; [`Error::MetadataTooLarge`] when
    /// `metadata_size` is over [`Limits::max_metadata_size`].
    pub fn decode(payload: &[u8], limits: &Limits) -> Result<Self, Error> {
        let (doc, _rest) = decode_payload(MSG_HS, payload)?;
        let root = doc.root();
        let dict = root
            .as_dict()
            .ok_or_else(|| invalid(MSG_HS, root, "not a dictionary"))?;
        let mut hs = ExtendedHandshake::default();
        for (key, value) in dict.iter() {
            let taken = match key {
                b"m" => match value.as_dict() {
                    Some(m) => {
                        for (name, id) in m.iter() {
                            let (Ok(name), Some(id)) =
                                (std::str::from_utf8(name), value_u8(id.as_int()))
                            else {
                                continue;
                            };
                            hs.m.entry(name.to_owned()).or_insert(id);
                        }
                        true
                    }
                    None => false,
                },
                b"v" => set_once(
                    &mut hs.v,
                    value
                        .as_bytes()
                        .and_then(|b| String::from_utf8(b.to_vec()).ok()),
                ),
                b"p" => set_once(
                    &mut hs.p,
                    value.as_int().and_then(|i| u16::try_from(i).ok()),
                ),
                b"reqq" => set_once(
                    &mut hs.reqq,
                    value.as_int().and_then(|i| u32::try_from(i).ok()),
                ),
                b"yourip" => set_once(&mut hs.yourip, value.as_bytes().and_then(ip_from)),
                b"ipv4" => set_once(
                    &mut hs.ipv4,
                    value
                        .as_bytes()
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map(Ipv4Addr::from),
                ),
                b"ipv6" => set_once(
                    &mut hs.ipv6,
                    value
                        .as_bytes()
                        .and_then(|b| <[u8; 16]>::try_from(b).ok())
                        .map(Ipv6Addr::from),
                ),
                b"metadata_size" => match value.as_int() {
                    Some(size) if size > i64::from(limits.get_max_metadata_size()) => {
                        return Err(Error::MetadataTooLarge {
                            what: "metadata_size",
                            found: size as u64,
                            max: u64::from(limits.get_max_metadata_size()),
                        })
                    }
                    size => set_once(
                        &mut hs.metadata_size,
                        size.and_then(|i| u32::try_from(i).ok()),
                    ),
                },
                b"upload_only" => set_once(
                    &mut hs.upload_only,
                    match value.as_int() {
                        Some(0) => Some(false),
                        Some(1) => Some(true),
                        _ => None,
                    },
                ),
                _ => false,
            };
            if !taken {
                hs.extra
                    .entry(Bytes::copy_from_slice(key))
                    .or_insert_with(|| value.to_owned_value());
            }
        }
        // A repeated key whose first value did not fit but a later one did:
        // the field wins, so re-encoding gives the same handshake.
        let set = [
            ("m", !hs.m.is_empty()),
            ("v", hs.v.is_some()),
            ("p", hs.p.is_some()),
            ("reqq", hs.reqq.is_some()),
            ("yourip", hs.yourip.is_some()),
            ("ipv4", hs.ipv4.is_some()),
            ("ipv6", hs.ipv6.is_some()),
            ("metadata_size", hs.metadata_size.is_some()),
            ("upload_only", hs.upload_only.is_some()),
        ];
        for (key, is_set) in set {
            if is_set {
                hs.extra.remove(key.as_bytes());
            }
        }
        Ok(hs)
    }

    /// The dictionary as an [`OwnedValue`]: `extra`, then the known fields
    /// over it.
    pub fn to_value(&self) -> OwnedValue {
        let mut d = self.extra.clone();
        let mut put = |k: &'static str, v: OwnedValue| {
            d.insert(Bytes::from_static(k.as_bytes()), v);
        };
        if !self.m.is_empty() {
            let m: BTreeMap<Bytes, OwnedValue> = self
                .m
                .iter()
                .map(|(k, v)| {
                    (
                        Bytes::copy_from_slice(k.as_bytes()),
                        OwnedValue::from(i64::from(*v)),
                    )
                })
                .collect();
            put("m", OwnedValue::Dict(m));
        }
        if let Some(v) = &self.v {
            put("v", OwnedValue::from(v.as_str()));
        }
        if let Some(p) = self.p {
            put("p", OwnedValue::from(i64::from(p)));
        }
        if let Some(q) = self.reqq {
            put("reqq", OwnedValue::from(i64::from(q)));
        }
        if let Some(ip) = &self.yourip {
            put("yourip", OwnedValue::from(ip_bytes(ip)));
        }
        if let Some(ip) = self.ipv4 {
            put("ipv4", OwnedValue::from(ip.octets().to_vec()));
        }
        if let Some(ip) = self.ipv6 {
            put("ipv6", OwnedValue::from(ip.octets().to_vec()));
        }
        if let Some(s) = self.metadata_size {
            put("metadata_size", OwnedValue::from(i64::from(s)));
        }
        if let Some(u) = self.upload_only {
            put("upload_only", OwnedValue::from(i64::from(u)));
        }
        OwnedValue::Dict(d)
    }

    /// Writes the canonical bencoded dictionary (the payload after the
    /// extended id byte).
    pub fn encode<B: BufMut + ?Sized>(&self, dst: &mut B) {
        self.to_value().encode(dst);
    }

    /// The canonical bencoded dictionary.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_value().to_bencode())
    }

    /// The `extended` message carrying this handshake (extended id 0).
    pub fn to_message(&self) -> Message {
        Message::Extended {
            id: 0,
            payload: self.to_bytes(),
        }
    }
}

fn value_u8(i: Option<i64>) -> Option<u8> {
    i.and_then(|i| u8::try_from(i).ok())
}

/// Sets `slot` from the first valid value; returns whether the value was
/// taken (a later duplicate key or an invalid value goes to `extra`).
fn set_once<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match (slot.is_some(), value) {
        (false, Some(v)) => {
            *slot = Some(v);
            true
        }
        _ => false,
    }
}

/// The extension ids of one connection, in both directions (BEP 10).
///
/// *Ours* are the ids we assign in our handshake's `m`: the peer uses them
/// in the messages it sends us, so incoming messages are looked up with
/// [`incoming`](Self::incoming). *Theirs* come from the peer's `m`: we must
/// use them for messages we send, see [`outgoing`](Self::outgoing).
///
/// ```
/// use seedbed_peer_wire::{ExtendedHandshake, ExtensionIds, UT_METADATA, UT_PEX};
/// let mut ids = ExtensionIds::with_defaults(); // ours: ut_metadata 1, ut_pex 2
/// let mut theirs = ExtendedHandshake::default();
/// theirs.m.insert(UT_METADATA.into(), 3);
/// ids.apply_handshake(&theirs);
/// assert_eq!(ids.incoming(1), Some(UT_METADATA)); // they send ut_metadata to us as id 1
/// assert_eq!(ids.outgoing(UT_METADATA), Some(3)); // we send it to them as id 3
/// assert_eq!(ids.outgoing(UT_PEX), None);         // they did not offer ut_pex
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionIds {
    ours: BTreeMap<String, u8>,
    theirs: BTreeMap<String, u8>,
}

impl ExtensionIds {
    /// No extensions on either side.
    pub fn new() -> Self {
        ExtensionIds::default()
    }

    /// Ours: [`UT_METADATA`] = 1 and [`UT_PEX`] = 2; theirs unknown yet.
    pub fn with_defaults() -> Self {
        let mut ids = ExtensionIds::new();
        ids.register(UT_METADATA, 1);
        ids.register(UT_PEX, 2);
        ids
    }

    /// Assigns our id for extension `name` (1..=255; 0 removes it). An id
    /// already used by another name is taken from it.
    pub fn register(&mut self, name: &str, id: u8) {
        self.ours.retain(|_, v| *v != id || id == 0);
        if id == 0 {
            self.ours.remove(name);
        } else {
            self.ours.insert(name.to_owned(), id);
        }
    }

    /// Our `m` dictionary, name → our id.
    pub fn ours(&self) -> &BTreeMap<String, u8> {
        &self.ours
    }

    /// The peer's `m` as known so far, name → their id.
    pub fn theirs(&self) -> &BTreeMap<String, u8> {
        &self.theirs
    }

    /// Our extended handshake with our `m` filled in; set the other fields
    /// on the result.
    pub fn our_handshake(&self) -> ExtendedHandshake {
        ExtendedHandshake {
            m: self.ours.clone(),
            ..ExtendedHandshake::default()
        }
    }

    /// Takes the peer's ids from its (possibly repeated) handshake: `m` is
    /// additive, and an id of 0 disables that extension (BEP 10).
    pub fn apply_handshake(&mut self, hs: &ExtendedHandshake) {
        for (name, &id) in &hs.m {
            if id == 0 {
                self.theirs.remove(name);
            } else {
                self.theirs.insert(name.clone(), id);
            }
        }
    }

    /// The extension name of an incoming extended message id (one of ours);
    /// `None` for 0 (the handshake) and ids we never assigned.
    pub fn incoming(&self, id: u8) -> Option<&str> {
        if id == 0 {
            return None;
        }
        self.ours
            .iter()
            .find(|(_, &v)| v == id)
            .map(|(k, _)| k.as_str())
    }

    /// The id to send extension `name` with, as the peer assigned it;
    /// `None` when the peer does not support it.
    pub fn outgoing(&self, name: &str) -> Option<u8> {
        self.theirs.get(name).copied()
    }
}

/// A parsed `extended` message (BEP 10), dispatched by extension id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionMessage {
    /// Extended id 0.
    Handshake(ExtendedHandshake),
    /// `ut_metadata` (BEP 9).
    Metadata(MetadataMessage),
    /// `ut_pex` (BEP 11).
    Pex(PexMessage),
    /// An extension this crate does not parse, or an id we never assigned:
    /// not an error; ignore it or parse it yourself.
    Unknown {
        /// The extended message id (ours).
        id: u8,
        /// The payload after the id byte.
        payload: Bytes,
    },
}

impl ExtensionMessage {
    /// Parses the payload of `Message::Extended { id, payload }`, looking
    /// `id` up among *our* ids.
    ///
    /// # Errors
    /// Those of [`ExtendedHandshake::decode`], [`MetadataMessage::decode`]
    /// and [`PexMessage::decode`].
    pub fn decode(
        id: u8,
        payload: &Bytes,
        ids: &ExtensionIds,
        limits: &Limits,
    ) -> Result<Self, Error> {
        if id == 0 {
            return ExtendedHandshake::decode(payload, limits).map(ExtensionMessage::Handshake);
        }
        Ok(match ids.incoming(id) {
            Some(UT_METADATA) => {
                ExtensionMessage::Metadata(MetadataMessage::decode(payload, limits)?)
            }
            Some(UT_PEX) => ExtensionMessage::Pex(PexMessage::decode(payload)?),
            _ => ExtensionMessage::Unknown {
                id,
                payload: payload.clone(),
            },
        })
    }

    /// The `extended` message to send this to the peer, with the peer's id
    /// for the extension (id 0 for the handshake).
    ///
    /// # Errors
    /// [`Error::ExtensionNotSupported`] when the peer did not advertise the
    /// extension.
    pub fn to_message(&self, ids: &ExtensionIds) -> Result<Message, Error> {
        let (name, payload) = match self {
            ExtensionMessage::Handshake(hs) => return Ok(hs.to_message()),
            ExtensionMessage::Metadata(m) => (UT_METADATA, m.to_bytes()),
            ExtensionMessage::Pex(p) => (UT_PEX, p.to_bytes()),
            ExtensionMessage::Unknown { id, payload } => {
                return Ok(Message::Extended {
                    id: *id,
                    payload: payload.clone(),
                })
            }
        };
        let id = ids
            .outgoing(name)
            .ok_or_else(|| Error::ExtensionNotSupported { name: name.into() })?;
        Ok(Message::Extended { id, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bep10_example_and_lenient_fields() {
        // BEP 10's example writes `6:µT_PEX`, but µ is two bytes in UTF-8.
        let raw = b"d1:md11:LT_metadatai1e7:\xc2\xb5T_PEXi2ee1:pi6881e1:v13:\xc2\xb5Torrent 1.2e";
        let hs = ExtendedHandshake::decode(raw, &Limits::new()).unwrap();
        assert_eq!(hs.m["LT_metadata"], 1);
        assert_eq!(hs.m["\u{b5}T_PEX"], 2);
        assert_eq!(hs.p, Some(6881));
        assert_eq!(hs.v.as_deref(), Some("\u{b5}Torrent 1.2"));
        assert_eq!(&hs.to_bytes()[..], &raw[..]);

        // A wrong type is kept in `extra`, not an error.
        let hs = ExtendedHandshake::decode(
            b"d1:p3:abc6:yourip4:\x7f\x00\x00\x011:xli1eee",
            &Limits::new(),
        )
        .unwrap();
        assert_eq!(hs.p, None);
        assert_eq!(hs.yourip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(hs.extra.len(), 2);
        assert_eq!(
            &hs.to_bytes()[..],
            b"d1:p3:abc1:xli1ee6:yourip4:\x7f\x00\x00\x01e"
        );
        // Repeated keys: the first value that fits is the field.
        let hs = ExtendedHandshake::decode(b"d1:p3:abc1:pi7e1:pi8ee", &Limits::new()).unwrap();
        assert_eq!((hs.p, hs.extra.len()), (Some(7), 0));
    }

    #[test]
    fn metadata_size_limit() {
        let limits = Limits::new().max_metadata_size(1000);
        let at = ExtendedHandshake::decode(b"d13:metadata_sizei1000ee", &limits).unwrap();
        assert_eq!(at.metadata_size, Some(1000));
        let past = ExtendedHandshake::decode(b"d13:metadata_sizei1001ee", &limits).unwrap_err();
        assert!(matches!(
            past,
            Error::MetadataTooLarge {
                found: 1001,
                max: 1000,
                ..
            }
        ));
    }

    #[test]
    fn not_a_dict_or_not_bencode() {
        assert!(matches!(
            ExtendedHandshake::decode(b"li1ee", &Limits::new()),
            Err(Error::InvalidExtension { offset: 0, .. })
        ));
        let err = ExtendedHandshake::decode(b"d1:pi1", &Limits::new()).unwrap_err();
        assert!(matches!(err, Error::Bencode { .. }));
        assert!(err.offset().is_some());
    }

    #[test]
    fn ids_both_directions_and_disable() {
        let mut ids = ExtensionIds::with_defaults();
        assert_eq!(ids.our_handshake().m.len(), 2);
        let mut hs = ExtendedHandshake::default();
        hs.m.insert(UT_PEX.into(), 7);
        hs.m.insert(UT_METADATA.into(), 9);
        ids.apply_handshake(&hs);
        assert_eq!(ids.outgoing(UT_PEX), Some(7));
        assert_eq!(ids.incoming(2), Some(UT_PEX));
        assert_eq!(ids.incoming(7), None);
        assert_eq!(ids.incoming(0), None);
        // A later handshake is additive; 0 disables.
        let mut later = ExtendedHandshake::default();
        later.m.insert(UT_PEX.into(), 0);
        ids.apply_handshake(&later);
        assert_eq!(ids.outgoing(UT_PEX), None);
        assert_eq!(ids.outgoing(UT_METADATA), Some(9));
        // Re-registering an id moves it.
        ids.register("lt_donthave", 2);
        assert_eq!(ids.incoming(2), Some("lt_donthave"));
        assert!(!ids.ours().contains_key(UT_PEX));

        let m = ExtensionMessage::Metadata(MetadataMessage::Request { piece: 0 });
        let Message::Extended { id, payload } = m.to_message(&ids).unwrap() else {
            panic!("not extended")
        };
        assert_eq!(id, 9);
        assert_eq!(&payload[..], b"d8:msg_typei0e5:piecei0ee");
        let p = ExtensionMessage::Pex(PexMessage::default());
        assert!(matches!(
            p.to_message(&ids),
            Err(Error::ExtensionNotSupported { .. })
        ));
        // Incoming: our id 1 is ut_metadata.
        let back = ExtensionMessage::decode(1, &payload, &ids, &Limits::new()).unwrap();
        assert_eq!(back, m);
        let unknown = ExtensionMessage::decode(77, &payload, &ids, &Limits::new()).unwrap();
        assert!(matches!(unknown, ExtensionMessage::Unknown { id: 77, .. }));
    }

    pub(crate) fn handshake_strategy() -> impl Strategy<Value = ExtendedHandshake> {
        (
            proptest::collection::btree_map("[a-z_]{1,12}", any::<u8>(), 0..5),
            proptest::option::of("[ -~]{0,20}"),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u8; 16]>().prop_map(IpAddr::from),
            ]),
            proptest::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
            proptest::option::of(any::<[u8; 16]>().prop_map(Ipv6Addr::from)),
            proptest::option::of(0u32..=Limits::DEFAULT_MAX_METADATA_SIZE),
            proptest::option::of(any::<bool>()),
            proptest::collection::btree_map("x_[a-z]{1,6}", any::<i64>(), 0..3),
        )
            .prop_map(
                |(m, v, p, reqq, yourip, ipv4, ipv6, metadata_size, upload_only, extra)| {
                    ExtendedHandshake {
                        m,
                        v,
                        p,
                        reqq,
                        yourip,
                        ipv4,
                        ipv6,
                        metadata_size,
                        upload_only,
                        extra: extra
                            .into_iter()
                            .map(|(k, v)| (Bytes::from(k), OwnedValue::from(v)))
                            .collect(),
                    }
                },
            )
    }

    fn through_the_wire(
        m: &ExtensionMessage,
        ids: &ExtensionIds,
        peer: &ExtensionIds,
    ) -> ExtensionMessage {
        // Encode with the peer's ids as we know them, frame it, decode the
        // frame, and parse it on the peer's side with its own ids.
        let msg = m.to_message(ids).unwrap();
        let mut buf = bytes::BytesMut::new();
        msg.encode(&mut buf);
        let mut dec = crate::MessageDecoder::default();
        let Some(Message::Extended { id, payload }) = dec.decode(&mut buf).unwrap() else {
            panic!("not an extended message")
        };
        ExtensionMessage::decode(id, &payload, peer, &Limits::new()).unwrap()
    }

    proptest! {
        #[test]
        fn extension_messages_round_trip_through_frames(
            hs in handshake_strategy(),
            meta in crate::metadata::tests::strategy(),
            pex in crate::pex::tests::strategy(),
            meta_id in 1u8..=255,
            pex_id in 1u8..=255,
        ) {
            prop_assume!(meta_id != pex_id);
            // The peer assigned these ids; we learn them from its handshake.
            let mut peer = ExtensionIds::new();
            peer.register(UT_METADATA, meta_id);
            peer.register(UT_PEX, pex_id);
            let mut ours = ExtensionIds::with_defaults();
            ours.apply_handshake(&peer.our_handshake());
            for m in [
                ExtensionMessage::Handshake(hs),
                ExtensionMessage::Metadata(meta),
                ExtensionMessage::Pex(pex),
            ] {
                prop_assert_eq!(through_the_wire(&m, &ours, &peer), m);
            }
        }

        #[test]
        fn handshake_round_trip(hs in handshake_strategy()) {
            let bytes = hs.to_bytes();
            let back = ExtendedHandshake::decode(&bytes, &Limits::new()).unwrap();
            prop_assert_eq!(&back, &hs);
            prop_assert_eq!(back.to_bytes(), bytes);
        }
    }
}
