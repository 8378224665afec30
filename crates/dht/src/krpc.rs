//! KRPC messages (BEP 5 "KRPC Protocol" and "DHT Queries"): every query and
//! response of the Mainline DHT, errors, and the extensions real nodes send:
//! BEP 32 (`nodes6`, `want`), BEP 42 (`ip`), BEP 43 (`ro`), BEP 51
//! (`sample_infohashes`).
//!
//! Decoding is zero-copy on `seedbed-bencode`: a [`Message`] borrows the
//! datagram (tokens, versions, node and peer lists are views into it).
//! Reading is lenient like libtorrent's (keys in any order, unknown keys
//! ignored, node lists cut to whole entries, peer values of another length
//! skipped); encoding is canonical (keys sorted, minimal integers).
//!
//! ```
//! use seedbed_dht::krpc::{Body, Message, Query, TransactionId};
//! use seedbed_dht::NodeId;
//!
//! let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
//! let msg = Message::decode(ping)?;
//! assert_eq!(msg.transaction_id.as_bytes(), b"aa");
//! let Body::Query(Query::Ping { id }) = msg.body else { panic!() };
//! assert_eq!(&id.0, b"abcdefghij0123456789");
//!
//! // Encoding is canonical: the same bytes come back.
//! assert_eq!(msg.to_vec(), ping);
//! # Ok::<(), seedbed_dht::Error>(())
//! ```

use std::fmt;
use std::net::SocketAddr;

use bytes::BufMut;
use seedbed_bencode::{decode_with, write_bytes, write_int, DecodeOptions, Dict, Value};
use seedbed_metainfo::InfoHash;

use crate::compact::{addr_len, decode_addr, encode_addr, CompactNodes, Family};
use crate::error::Error;
use crate::id::NodeId;

/// The deepest nesting a KRPC message may have (the root dictionary is
/// depth 1; `values` in `r` is depth 3). Deeper: [`Error::Bencode`].
pub const MAX_DEPTH: usize = 8;
/// The most bencode values (integers, strings, lists, dictionaries and keys)
/// one message may hold; more: [`Error::Bencode`]. A 1,500-byte datagram
/// holds at most about 500.
pub const MAX_ITEMS: usize = 2048;

const OPTIONS: DecodeOptions = DecodeOptions::new()
    .max_depth(MAX_DEPTH)
    .max_items(MAX_ITEMS);

/// A transaction id (`t`): an opaque short byte string chosen by the
/// querying node and echoed in the reply, at most
/// [`TransactionId::MAX_LEN`] bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransactionId {
    len: u8,
    bytes: [u8; TransactionId::MAX_LEN],
}

impl TransactionId {
    /// The longest transaction id accepted: 16 bytes (BEP 5 suggests 2;
    /// libtorrent sends 2, others 4).
    pub const MAX_LEN: usize = 16;

    /// From a slice of at most [`MAX_LEN`](Self::MAX_LEN) bytes; `None` if
    /// longer.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > Self::MAX_LEN {
            return None;
        }
        let mut t = TransactionId {
            len: bytes.len() as u8,
            bytes: [0; Self::MAX_LEN],
        };
        t.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(t)
    }

    /// A 4-byte transaction id holding `v` big-endian (what this crate's
    /// node sends).
    pub fn from_u32(v: u32) -> Self {
        let mut t = TransactionId {
            len: 4,
            bytes: [0; Self::MAX_LEN],
        };
        t.bytes[..4].copy_from_slice(&v.to_be_bytes());
        t
    }

    /// The value of a 4-byte transaction id, `None` for other lengths.
    pub fn to_u32(&self) -> Option<u32> {
        (self.len == 4).then(|| {
            u32::from_be_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// The `want` argument of `find_node`, `get_peers` and `sample_infohashes`
/// (BEP 32): which node lists the reply should carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Want {
    /// `n4`: the reply should include `nodes` (IPv4).
    pub n4: bool,
    /// `n6`: the reply should include `nodes6` (IPv6).
    pub n6: bool,
}

impl Want {
    /// Both families.
    pub const BOTH: Want = Want { n4: true, n6: true };
}

/// A KRPC error code (BEP 5, "Errors").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 201: generic error.
    Generic,
    /// 202: server error.
    Server,
    /// 203: protocol error, such as a malformed packet, invalid arguments,
    /// or a bad token.
    Protocol,
    /// 204: method unknown.
    MethodUnknown,
    /// Any other code.
    Other(i64),
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Generic => 201,
            ErrorCode::Server => 202,
            ErrorCode::Protocol => 203,
            ErrorCode::MethodUnknown => 204,
            ErrorCode::Other(c) => c,
        }
    }

    /// From the numeric code.
    pub fn from_code(code: i64) -> Self {
        match code {
            201 => ErrorCode::Generic,
            202 => ErrorCode::Server,
            203 => ErrorCode::Protocol,
            204 => ErrorCode::MethodUnknown,
            c => ErrorCode::Other(c),
        }
    }
}

/// One KRPC message: a query, a response or an error, with the keys every
/// message may carry. Borrows the datagram it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// `t`: the transaction id.
    pub transaction_id: TransactionId,
    /// `v`: the sender's client version (BEP 5: two characters of a BEP 20
    /// client id and two of version), if sent.
    pub version: Option<&'a [u8]>,
    /// `ip` (BEP 42): in a reply, the querying node's address as the
    /// replying node saw it (our external address).
    pub ip: Option<SocketAddr>,
    /// `ro` (BEP 43): the querying node is read-only and must not be added
    /// to routing tables.
    pub read_only: bool,
    /// The query, response or error.
    pub body: Body<'a>,
}

/// What a [`Message`] is (`y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// `y` = `q`.
    Query(Query<'a>),
    /// `y` = `r`.
    Response(Response<'a>),
    /// `y` = `e`.
    Error(ErrorReply<'a>),
}

/// A query (`q` with its arguments `a`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query<'a> {
    /// `ping`.
    Ping {
        /// The querying node's id.
        id: NodeId,
    },
    /// `find_node`: the K closest nodes to `target`.
    FindNode {
        /// The querying node's id.
        id: NodeId,
        /// The id sought.
        target: NodeId,
        /// BEP 32 `want`, if sent.
        want: Option<Want>,
    },
    /// `get_peers`: peers of `info_hash`, or the closest nodes to it, and a
    /// token for a later `announce_peer`.
    GetPeers {
        /// The querying node's id.
        id: NodeId,
        /// The torrent's info hash.
        info_hash: InfoHash,
        /// BEP 32 `want`, if sent.
        want: Option<Want>,
    },
    /// `announce_peer`: store the sender as a peer of `info_hash`.
    AnnouncePeer {
        /// The querying node's id.
        id: NodeId,
        /// The torrent's info hash.
        info_hash: InfoHash,
        /// The peer's TCP/uTP port; ignored when `implied_port` is set.
        port: u16,
        /// `implied_port` = 1: use the UDP source port instead of `port`.
        implied_port: bool,
        /// The token from an earlier `get_peers` reply.
        token: &'a [u8],
    },
    /// `sample_infohashes` (BEP 51): a sample of the info hashes stored.
    SampleInfohashes {
        /// The querying node's id.
        id: NodeId,
        /// The id near which to return nodes.
        target: NodeId,
        /// BEP 32 `want`, if sent.
        want: Option<Want>,
    },
    /// Any other method: answered with error 204 (method unknown).
    Unknown {
        /// The querying node's id.
        id: NodeId,
        /// The method name (`q`).
        method: &'a [u8],
    },
}

impl Query<'_> {
    /// The querying node's id.
    pub fn id(&self) -> NodeId {
        match *self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. }
            | Query::SampleInfohashes { id, .. }
            | Query::Unknown { id, .. } => id,
        }
    }

    /// The method name (`q`).
    pub fn method(&self) -> &[u8] {
        match self {
            Query::Ping { .. } => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
            Query::SampleInfohashes { .. } => b"sample_infohashes",
            Query::Unknown { method, .. } => method,
        }
    }
}

/// A response (`r`). Responses do not name the query they answer, so every
/// optional return value is here; which ones are set depends on the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The responding node's id.
    pub id: NodeId,
    /// `nodes`: compact IPv4 node info (26 bytes each).
    pub nodes: Option<CompactNodes<'a>>,
    /// `nodes6` (BEP 32): compact IPv6 node info (38 bytes each).
    pub nodes6: Option<CompactNodes<'a>>,
    /// `token`: the write token of a `get_peers` reply.
    pub token: Option<&'a [u8]>,
    /// `values`: peers of a `get_peers` reply.
    pub values: Option<Values<'a>>,
    /// `samples` (BEP 51): concatenated 20-byte info hashes.
    pub samples: Option<Samples<'a>>,
    /// `num` (BEP 51): how many info hashes the node stores.
    pub num: Option<i64>,
    /// `interval` (BEP 51): seconds before the node should be sampled again
    /// (0..=21600).
    pub interval: Option<i64>,
}

impl<'a> Response<'a> {
    /// A response with only the id (the answer to `ping` and
    /// `announce_peer`).
    pub fn new(id: NodeId) -> Self {
        Response {
            id,
            nodes: None,
            nodes6: None,
            token: None,
            values: None,
            samples: None,
            num: None,
            interval: None,
        }
    }
}

/// An error reply (`e`: `[code, message]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReply<'a> {
    /// The error code.
    pub code: ErrorCode,
    /// The message (usually ASCII).
    pub message: &'a [u8],
    /// The replying node's id: libtorrent also puts `r` = `{id}` in its
    /// errors; `None` when absent.
    pub id: Option<NodeId>,
}

/// The `values` of a `get_peers` reply: compact peer addresses, 6 bytes
/// (IPv4) or 18 bytes (IPv6) each (BEP 5, BEP 32). Either a view of a
/// received list or a slice of addresses to send.
///
/// Iteration skips received entries of any other length.
#[derive(Clone, Copy)]
pub struct Values<'a>(ValuesRepr<'a>);

#[derive(Clone, Copy)]
enum ValuesRepr<'a> {
    /// The raw bencoded list (`l…e`), every item a byte string (checked
    /// when decoded).
    Encoded(&'a [u8]),
    Peers(&'a [SocketAddr]),
}

impl<'a> Values<'a> {
    /// Values to send.
    pub fn from_peers(peers: &'a [SocketAddr]) -> Self {
        Values(ValuesRepr::Peers(peers))
    }

    /// The peer addresses, in order.
    pub fn iter(&self) -> ValuesIter<'a> {
        match self.0 {
            ValuesRepr::Encoded(raw) => ValuesIter::Encoded(raw.get(1..).unwrap_or_default()),
            ValuesRepr::Peers(p) => ValuesIter::Peers(p.iter()),
        }
    }

    /// The number of peer addresses [`iter`](Self::iter) yields.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

impl PartialEq for Values<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Values<'_> {}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`Values`].
#[derive(Clone, Debug)]
pub enum ValuesIter<'a> {
    /// Over received bytes: the rest of the list after its `l`.
    #[doc(hidden)]
    Encoded(&'a [u8]),
    /// Over addresses to send.
    #[doc(hidden)]
    Peers(std::slice::Iter<'a, SocketAddr>),
}

impl Iterator for ValuesIter<'_> {
    type Item = SocketAddr;
    fn next(&mut self) -> Option<SocketAddr> {
        match self {
            ValuesIter::Peers(it) => it.next().copied(),
            ValuesIter::Encoded(rest) => loop {
                // Items are byte strings `len:bytes` (checked at decode).
                let colon = rest.iter().position(|&b| b == b':')?;
                let len = parse_len(&rest[..colon])?;
                let body = rest.get(colon + 1..colon + 1 + len)?;
                *rest = &rest[colon + 1 + len..];
                if let Some(a) = decode_addr(body) {
                    return Some(a);
                }
            },
        }
    }
}

fn parse_len(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    let mut n = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
    }
    Some(n)
}

/// The `samples` of a `sample_infohashes` reply (BEP 51): concatenated
/// 20-byte info hashes, cut to whole entries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Samples<'a>(&'a [u8]);

impl<'a> Samples<'a> {
    /// A view of `bytes` cut to a multiple of 20 bytes.
    pub fn new(bytes: &'a [u8]) -> Self {
        Samples(&bytes[..bytes.len() / 20 * 20])
    }

    /// The bytes (a multiple of 20).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The number of info hashes.
    pub fn len(&self) -> usize {
        self.0.len() / 20
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The info hashes.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = InfoHash> + 'a {
        self.0.chunks_exact(20).map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            InfoHash(h)
        })
    }
}

impl fmt::Debug for Samples<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// ---------------------------------------------------------------------------
// Decoding

struct Ctx {
    transaction_id: Option<TransactionId>,
    query: bool,
}

impl Ctx {
    fn err(&self, offset: usize, reason: &'static str) -> Error {
        Error::Message {
            offset,
            reason,
            transaction_id: self.transaction_id,
            query: self.query,
        }
    }
}

fn id_of(
    ctx: &Ctx,
    v: Option<Value<'_, '_>>,
    dict: &Dict<'_, '_>,
    what: &'static str,
) -> Result<NodeId, Error> {
    let v = v.ok_or_else(|| ctx.err(dict.as_value().span().start, what))?;
    v.as_bytes()
        .and_then(NodeId::from_slice)
        .ok_or_else(|| ctx.err(v.span().start, what))
}

fn want_of(v: Option<Value<'_, '_>>) -> Option<Want> {
    let list = v?.as_list()?;
    let mut w = Want::default();
    for item in list.iter() {
        match item.as_bytes() {
            Some(b"n4") => w.n4 = true,
            Some(b"n6") => w.n6 = true,
            _ => {}
        }
    }
    Some(w)
}

impl<'a> Message<'a> {
    /// Decodes one KRPC message (one UDP datagram's payload).
    ///
    /// # Errors
    /// [`Error::Bencode`] when the datagram is not bencode (or breaks
    /// [`MAX_DEPTH`] / [`MAX_ITEMS`]); [`Error::Message`] with the byte
    /// offset when a required key is missing or has the wrong type or
    /// length (a node id that is not 20 bytes, a port out of range). The
    /// error keeps the transaction id when it was readable.
    pub fn decode(input: &'a [u8]) -> Result<Message<'a>, Error> {
        let doc = decode_with(input, &OPTIONS)?;
        let mut ctx = Ctx {
            transaction_id: None,
            query: false,
        };
        let root = doc
            .root()
            .as_dict()
            .ok_or_else(|| ctx.err(0, "message is not a dictionary"))?;
        let (mut t, mut y, mut q, mut a, mut r, mut e, mut v, mut ip, mut ro) =
            (None, None, None, None, None, None, None, None, None);
        for (k, val) in root.iter() {
            let slot = match k {
                b"t" => &mut t,
                b"y" => &mut y,
                b"q" => &mut q,
                b"a" => &mut a,
                b"r" => &mut r,
                b"e" => &mut e,
                b"v" => &mut v,
                b"ip" => &mut ip,
                b"ro" => &mut ro,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(val);
            }
        }
        let t: Value<'_, 'a> = t.ok_or_else(|| ctx.err(0, "missing transaction id `t`"))?;
        let tid = t.as_bytes().and_then(TransactionId::new).ok_or_else(|| {
            ctx.err(
                t.span().start,
                "transaction id `t` is not a string of at most 16 bytes",
            )
        })?;
        ctx.transaction_id = Some(tid);
        let y = y.ok_or_else(|| ctx.err(0, "missing message type `y`"))?;
        let kind = y.as_bytes().unwrap_or_default();
        ctx.query = kind == b"q";
        let version = v.and_then(|v| v.as_bytes());
        let ip = ip.and_then(|v| v.as_bytes()).and_then(decode_addr);
        let read_only = ro.and_then(|v| v.as_int()).is_some_and(|i| i != 0);
        let body = match kind {
            b"q" => Body::Query(decode_query(&ctx, q, a)?),
            b"r" => {
                let r = r.ok_or_else(|| ctx.err(0, "missing response `r`"))?;
                Body::Response(decode_response(&ctx, r)?)
            }
            b"e" => Body::Error(decode_error(&ctx, e, r)?),
            _ => return Err(ctx.err(y.span().start, "message type `y` is not q, r or e")),
        };
        Ok(Message {
            transaction_id: tid,
            version,
            ip,
            read_only,
            body,
        })
    }
}

fn decode_query<'a>(
    ctx: &Ctx,
    q: Option<Value<'_, 'a>>,
    a: Option<Value<'_, 'a>>,
) -> Result<Query<'a>, Error> {
    let q = q.ok_or_else(|| ctx.err(0, "missing method `q`"))?;
    let method = q
        .as_bytes()
        .ok_or_else(|| ctx.err(q.span().start, "method `q` is not a string"))?;
    let a = a.ok_or_else(|| ctx.err(0, "missing arguments `a`"))?;
    let args = a
        .as_dict()
        .ok_or_else(|| ctx.err(a.span().start, "arguments `a` are not a dictionary"))?;
    let (mut id, mut target, mut info_hash, mut port, mut implied, mut token, mut want) =
        (None, None, None, None, None, None, None);
    for (k, val) in args.iter() {
        let slot = match k {
            b"id" => &mut id,
            b"target" => &mut target,
            b"info_hash" => &mut info_hash,
            b"port" => &mut port,
            b"implied_port" => &mut implied,
            b"token" => &mut token,
            b"want" => &mut want,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val);
        }
    }
    let id = id_of(ctx, id, &args, "argument `id` is not a 20-byte node id")?;
    let want = want_of(want);
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: id_of(ctx, target, &args, "argument `target` is not a 20-byte id")?,
            want,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: id_of(
                ctx,
                info_hash,
                &args,
                "argument `info_hash` is not 20 bytes",
            )?
            .into(),
            want,
        },
        b"sample_infohashes" => Query::SampleInfohashes {
            id,
            target: id_of(ctx, target, &args, "argument `target` is not a 20-byte id")?,
            want,
        },
        b"announce_peer" => {
            let info_hash = id_of(
                ctx,
                info_hash,
                &args,
                "argument `info_hash` is not 20 bytes",
            )?
            .into();
            let implied_port = implied.and_then(|v| v.as_int()).is_some_and(|i| i != 0);
            let port = match port {
                Some(p) => match p.as_int().map(u16::try_from) {
                    Some(Ok(p)) => p,
                    _ if implied_port => 0,
                    _ => return Err(ctx.err(p.span().start, "argument `port` is not 0..=65535")),
                },
                None if implied_port => 0,
                None => {
                    return Err(ctx.err(args.as_value().span().start, "missing argument `port`"))
                }
            };
            let token = token
                .ok_or_else(|| ctx.err(args.as_value().span().start, "missing argument `token`"))?;
            let token = token
                .as_bytes()
                .ok_or_else(|| ctx.err(token.span().start, "argument `token` is not a string"))?;
            Query::AnnouncePeer {
                id,
                info_hash,
                port,
                implied_port,
                token,
            }
        }
        _ => Query::Unknown { id, method },
    })
}

fn decode_response<'a>(ctx: &Ctx, r: Value<'_, 'a>) -> Result<Response<'a>, Error> {
    let dict = r
        .as_dict()
        .ok_or_else(|| ctx.err(r.span().start, "response `r` is not a dictionary"))?;
    let (mut id, mut nodes, mut nodes6, mut token, mut values, mut samples, mut num, mut interval) =
        (None, None, None, None, None, None, None, None);
    for (k, val) in dict.iter() {
        let slot = match k {
            b"id" => &mut id,
            b"nodes" => &mut nodes,
            b"nodes6" => &mut nodes6,
            b"token" => &mut token,
            b"values" => &mut values,
            b"samples" => &mut samples,
            b"num" => &mut num,
            b"interval" => &mut interval,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val);
        }
    }
    let id = id_of(ctx, id, &dict, "response `id` is not a 20-byte node id")?;
    let bytes = |v: Option<Value<'_, 'a>>, what: &'static str| -> Result<Option<&'a [u8]>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v
                .as_bytes()
                .map(Some)
                .ok_or_else(|| ctx.err(v.span().start, what)),
        }
    };
    let int = |v: Option<Value<'_, 'a>>, what: &'static str| -> Result<Option<i64>, Error> {
        match v {
            None => Ok(None),
            Some(v) => v
                .as_int()
                .map(Some)
                .ok_or_else(|| ctx.err(v.span().start, what)),
        }
    };
    let values = match values {
        None => None,
        Some(v) => {
            let list = v
                .as_list()
                .ok_or_else(|| ctx.err(v.span().start, "`values` is not a list"))?;
            if let Some(bad) = list.iter().find(|i| i.as_bytes().is_none()) {
                return Err(ctx.err(bad.span().start, "`values` item is not a string"));
            }
            Some(Values(ValuesRepr::Encoded(v.raw())))
        }
    };
    Ok(Response {
        id,
        nodes: bytes(nodes, "`nodes` is not a string")?.map(|b| CompactNodes::new(b, Family::V4)),
        nodes6: bytes(nodes6, "`nodes6` is not a string")?
            .map(|b| CompactNodes::new(b, Family::V6)),
        token: bytes(token, "`token` is not a string")?,
        values,
        samples: bytes(samples, "`samples` is not a string")?.map(Samples::new),
        num: int(num, "`num` is not an integer")?,
        interval: int(interval, "`interval` is not an integer")?,
    })
}

fn decode_error<'a>(
    ctx: &Ctx,
    e: Option<Value<'_, 'a>>,
    r: Option<Value<'_, 'a>>,
) -> Result<ErrorReply<'a>, Error> {
    let e = e.ok_or_else(|| ctx.err(0, "missing error `e`"))?;
    let list = e
        .as_list()
        .ok_or_else(|| ctx.err(e.span().start, "error `e` is not a list"))?;
    let mut items = list.iter();
    let code = items.next().and_then(|v| v.as_int()).ok_or_else(|| {
        ctx.err(
            e.span().start,
            "error `e` does not start with an integer code",
        )
    })?;
    let message = items.next().and_then(|v| v.as_bytes()).unwrap_or_default();
    let id = r
        .and_then(|r| r.as_dict())
        .and_then(|d| d.get(b"id"))
        .and_then(|v| v.as_bytes())
        .and_then(NodeId::from_slice);
    Ok(ErrorReply {
        code: ErrorCode::from_code(code),
        message,
        id,
    })
}

// ---------------------------------------------------------------------------
// Encoding

fn key<B: BufMut + ?Sized>(buf: &mut B, k: &[u8]) {
    write_bytes(buf, k);
}

fn write_want<B: BufMut + ?Sized>(buf: &mut B, want: Option<Want>) {
    if let Some(w) = want {
        key(buf, b"want");
        buf.put_u8(b'l');
        if w.n4 {
            write_bytes(buf, b"n4");
        }
        if w.n6 {
            write_bytes(buf, b"n6");
        }
        buf.put_u8(b'e');
    }
}

impl Message<'_> {
    /// Writes the canonical encoding (keys sorted) into `buf`.
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_u8(b'd');
        match &self.body {
            Body::Query(q) => {
                key(buf, b"a");
                encode_args(q, buf);
            }
            Body::Error(e) => {
                key(buf, b"e");
                buf.put_u8(b'l');
                write_int(buf, e.code.code());
                write_bytes(buf, e.message);
                buf.put_u8(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.ip {
            key(buf, b"ip");
            let mut a = [0u8; 18];
            let n = addr_len(ip);
            encode_addr(ip, &mut &mut a[..]);
            write_bytes(buf, &a[..n]);
        }
        if let Body::Query(q) = &self.body {
            key(buf, b"q");
            write_bytes(buf, q.method());
        }
        match &self.body {
            Body::Response(r) => {
                key(buf, b"r");
                encode_response(r, buf);
            }
            Body::Error(ErrorReply { id: Some(id), .. }) => {
                key(buf, b"r");
                buf.put_u8(b'd');
                key(buf, b"id");
                write_bytes(buf, &id.0);
                buf.put_u8(b'e');
            }
            _ => {}
        }
        if self.read_only {
            key(buf, b"ro");
            write_int(buf, 1);
        }
        key(buf, b"t");
        write_bytes(buf, self.transaction_id.as_bytes());
        if let Some(v) = self.version {
            key(buf, b"v");
            write_bytes(buf, v);
        }
        key(buf, b"y");
        write_bytes(
            buf,
            match self.body {
                Body::Query(_) => b"q",
                Body::Response(_) => b"r",
                Body::Error(_) => b"e",
            },
        );
        buf.put_u8(b'e');
    }

    /// The canonical encoding as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        self.encode(&mut v);
        v
    }
}

fn encode_args<B: BufMut + ?Sized>(q: &Query<'_>, buf: &mut B) {
    buf.put_u8(b'd');
    key(buf, b"id");
    write_bytes(buf, &q.id().0);
    match *q {
        Query::Ping { .. } | Query::Unknown { .. } => {}
        Query::FindNode { target, want, .. } | Query::SampleInfohashes { target, want, .. } => {
            key(buf, b"target");
            write_bytes(buf, &target.0);
            write_want(buf, want);
        }
        Query::GetPeers {
            info_hash, want, ..
        } => {
            key(buf, b"info_hash");
            write_bytes(buf, &info_hash.0);
            write_want(buf, want);
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            ..
        } => {
            if implied_port {
                key(buf, b"implied_port");
                write_int(buf, 1);
            }
            key(buf, b"info_hash");
            write_bytes(buf, &info_hash.0);
            key(buf, b"port");
            write_int(buf, i64::from(port));
            key(buf, b"token");
            write_bytes(buf, token);
        }
    }
    buf.put_u8(b'e');
}

fn encode_response<B: BufMut + ?Sized>(r: &Response<'_>, buf: &mut B) {
    buf.put_u8(b'd');
    key(buf, b"id");
    write_bytes(buf, &r.id.0);
    if let Some(i) = r.interval {
        key(buf, b"interval");
        write_int(buf, i);
    }
    if let Some(n) = &r.nodes {
        key(buf, b"nodes");
        write_bytes(buf, n.as_bytes());
    }
    if let Some(n) = &r.nodes6 {
        key(buf, b"nodes6");
        write_bytes(buf, n.as_bytes());
    }
    if let Some(n) = r.num {
        key(buf, b"num");
        write_int(buf, n);
    }
    if let Some(s) = &r.samples {
        key(buf, b"samples");
        write_bytes(buf, s.as_bytes());
    }
    if let Some(t) = r.token {
        key(buf, b"token");
        write_bytes(buf, t);
    }
    if let Some(values) = &r.values {
        key(buf, b"values");
        buf.put_u8(b'l');
        for a in values.iter() {
            let mut tmp = [0u8; 18];
            let n = addr_len(&a);
            encode_addr(&a, &mut &mut tmp[..]);
            write_bytes(buf, &tmp[..n]);
        }
        buf.put_u8(b'e');
    }
    buf.put_u8(b'e');
}

#[cfg(test)]
mod tests;
