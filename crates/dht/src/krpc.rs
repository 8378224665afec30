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

use seedbed_metainfo::InfoHash;

use crate::compact::{decode_addr, CompactNodes};
use crate::id::NodeId;

/// The deepest nesting a KRPC message may have (the root dictionary is
/// depth 1; `values` in `r` is depth 3). Deeper: [`Error::Bencode`](crate::Error::Bencode).
pub const MAX_DEPTH: usize = 8;
/// The most bencode values (integers, strings, lists, dictionaries and keys)
/// one message may hold; more: [`Error::Bencode`](crate::Error::Bencode). A 1,500-byte datagram
/// holds at most about 500.
pub const MAX_ITEMS: usize = 2048;

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

mod decode;
mod encode;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
