//! The UDP tracker protocol (BEP 15) with the URL data option (BEP 41):
//! every packet of both directions, as types that encode and decode.
//!
//! All integers are big-endian. Requests start with a 64-bit connection id
//! (the protocol magic for a connect), a 32-bit action and a 32-bit
//! transaction id; responses with the action and the transaction id.
//!
//! Decoding never allocates more than the packet's own length (a UDP
//! datagram is at most 65,507 bytes), and a request that fails to decode
//! keeps its transaction id in [`Error::UdpPacket`] so a tracker can answer
//! with an [`ErrorResponse`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{BufMut, Bytes};

use crate::common::{self, Event, InfoHash, PeerId, PeerKey, ScrapeStats};
use crate::compact::{self, CompactPeers};
use crate::error::Error;

/// The magic `protocol_id` of a connect request: `0x41727101980`.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Size of an announce request without options: 98 bytes.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;

/// Most info hashes in one scrape request that BEP 15 suggests ("up to
/// about 74"). [`Request::write`] does not enforce it;
/// [`UdpClient::scrape`](crate::udp_client::UdpClient::scrape) refuses more.
pub const MAX_SCRAPE_HASHES: usize = 74;

/// A connection id (BEP 15, 64 bits): issued by the tracker in a connect
/// response, valid for 2 minutes at the tracker and reused by clients for
/// up to 1 minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnectionId(pub u64);

/// A transaction id (BEP 15, 32 bits): chosen at random by the client for
/// each request, echoed by the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId(pub u32);

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// The action codes of BEP 15.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Action {
    /// 0: connect.
    Connect = 0,
    /// 1: announce.
    Announce = 1,
    /// 2: scrape.
    Scrape = 2,
    /// 3: error (responses only).
    Error = 3,
}

/// Connect request (16 bytes): protocol id, action 0, transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectRequest {
    /// Echoed in the response.
    pub transaction_id: TransactionId,
}

/// Announce request (98 bytes, then BEP 41 options).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnnounceRequest {
    /// From the connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The torrent (20 bytes).
    pub info_hash: InfoHash,
    /// The announcing peer (20 bytes).
    pub peer_id: PeerId,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// The event (32-bit code on the wire).
    pub event: Event,
    /// The IPv4 address to announce, `None` for 0 (use the source address).
    pub ip: Option<Ipv4Addr>,
    /// The client's session key.
    pub key: PeerKey,
    /// Peers wanted; `None` is -1 on the wire (tracker default). Negative
    /// values read as `None`.
    pub num_want: Option<u32>,
    /// The TCP port of the peer.
    pub port: u16,
    /// BEP 41 URL data: path and query of the tracker URL (for example
    /// `/announce?passkey=x`), empty for none. Written as `URLData` options
    /// of at most 255 bytes each; read by concatenating them.
    pub url_data: Bytes,
}

/// Scrape request (16 + 20·N bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScrapeRequest {
    /// From the connect response.
    pub connection_id: ConnectionId,
    /// Echoed in the response.
    pub transaction_id: TransactionId,
    /// The torrents, 20 bytes each; at most about [`MAX_SCRAPE_HASHES`].
    pub info_hashes: Vec<InfoHash>,
}

/// A request from client to tracker.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// Action 0.
    Connect(ConnectRequest),
    /// Action 1.
    Announce(AnnounceRequest),
    /// Action 2.
    Scrape(ScrapeRequest),
}

/// Connect response (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// To use in announce and scrape requests.
    pub connection_id: ConnectionId,
}

/// Announce response (20 bytes, then 6 bytes per IPv4 peer or 18 bytes per
/// IPv6 peer: which one is decided by the address family of the packet).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnnounceResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Number of leechers.
    pub leechers: u32,
    /// Number of seeders.
    pub seeders: u32,
    /// The peers, all of one address family (the packet's).
    pub peers: Vec<SocketAddr>,
}

/// Scrape response (8 + 12·N bytes): counts in the order of the request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScrapeResponse {
    /// From the request.
    pub transaction_id: TransactionId,
    /// One entry per requested info hash: seeders (`complete`), completed
    /// (`downloaded`), leechers (`incomplete`).
    pub stats: Vec<ScrapeStats>,
}

/// Error response (8 bytes, then the message).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorResponse {
    /// From the request (0 when it could not be read).
    pub transaction_id: TransactionId,
    /// Human-readable message (read lossily as UTF-8).
    pub message: String,
}

/// A response from tracker to client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    /// Action 0.
    Connect(ConnectResponse),
    /// Action 1.
    Announce(AnnounceResponse),
    /// Action 2.
    Scrape(ScrapeResponse),
    /// Action 3.
    Error(ErrorResponse),
}

// ---------------------------------------------------------------------------
// Reading helpers
// ---------------------------------------------------------------------------

/// A big-endian integer at a constant offset of a fixed-size array: after
/// inlining, one load and a byte swap, no bounds check and no panic path.
macro_rules! be {
    ($t:ty, $b:expr, $at:expr) => {{
        const N: usize = std::mem::size_of::<$t>();
        let mut a = [0u8; N];
        a.copy_from_slice(&$b[$at..$at + N]);
        <$t>::from_be_bytes(a)
    }};
}

#[cold]
fn packet_err(offset: usize, reason: &'static str, tid: Option<TransactionId>) -> Error {
    Error::UdpPacket {
        offset,
        reason,
        transaction_id: tid,
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

impl Request {
    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Request::Connect(r) => r.transaction_id,
            Request::Announce(r) => r.transaction_id,
            Request::Scrape(r) => r.transaction_id,
        }
    }

    /// Decodes a request packet. Bytes after a scrape's last whole info
    /// hash are ignored, as are unknown BEP 41 options.
    ///
    /// # Errors
    /// [`Error::UdpPacket`] with the byte offset: shorter than 16 bytes
    /// (no transaction id), wrong protocol id in a connect, an announce
    /// shorter than 98 bytes, an unknown event code, a truncated option,
    /// an unknown action. All but the first keep the transaction id.
    #[inline]
    pub fn parse(packet: &[u8]) -> Result<Request, Error> {
        // The common packet, an announce of exactly 98 bytes (no options),
        // is read inline so the caller can build the request in place;
        // everything else, with the same checks, is `parse_any`.
        if let Some((p, [])) = packet.split_first_chunk::<ANNOUNCE_REQUEST_LEN>() {
            if be!(u32, p, 8) == Action::Announce as u32 {
                return parse_announce(p, &[]).map(Request::Announce);
            }
        }
        Self::parse_any(packet)
    }

    /// [`parse`](Self::parse) for any packet.
    #[inline(never)]
    fn parse_any(packet: &[u8]) -> Result<Request, Error> {
        let Some(head) = packet.first_chunk::<16>() else {
            return Err(packet_err(
                packet.len(),
                "request shorter than 16 bytes",
                None,
            ));
        };
        let transaction_id = TransactionId(be!(u32, head, 12));
        let connection_id = ConnectionId(be!(u64, head, 0));
        match be!(u32, head, 8) {
            1 => {
                let Some(p) = packet.first_chunk::<ANNOUNCE_REQUEST_LEN>() else {
                    return Err(packet_err(
                        packet.len(),
                        "announce request shorter than 98 bytes",
                        Some(transaction_id),
                    ));
                };
                parse_announce(p, &packet[ANNOUNCE_REQUEST_LEN..]).map(Request::Announce)
            }
            0 => {
                if connection_id.0 != PROTOCOL_ID {
                    return Err(packet_err(
                        0,
                        "connect request without the protocol id",
                        Some(transaction_id),
                    ));
                }
                Ok(Request::Connect(ConnectRequest { transaction_id }))
            }
            2 => Ok(Request::Scrape(ScrapeRequest {
                connection_id,
                transaction_id,
                info_hashes: packet[16..]
                    .chunks_exact(20)
                    .map(|c| InfoHash(c.try_into().unwrap_or_default()))
                    .collect(),
            })),
            _ => Err(packet_err(8, "unknown action", Some(transaction_id))),
        }
    }

    /// Encodes the request.
    #[inline]
    pub fn write<B: BufMut + ?Sized>(&self, buf: &mut B) {
        // The common packet, an announce, inline; the others in `write_other`.
        match self {
            Request::Announce(r) => write_announce(buf, r),
            _ => self.write_other(buf),
        }
    }

    /// [`write`](Self::write) for any request.
    #[inline(never)]
    fn write_other<B: BufMut + ?Sized>(&self, buf: &mut B) {
        match self {
            Request::Connect(r) => {
                buf.put_u64(PROTOCOL_ID);
                buf.put_u32(Action::Connect as u32);
                buf.put_u32(r.transaction_id.0);
            }
            Request::Announce(r) => write_announce(buf, r),
            Request::Scrape(r) => {
                buf.put_u64(r.connection_id.0);
                buf.put_u32(Action::Scrape as u32);
                buf.put_u32(r.transaction_id.0);
                for h in &r.info_hashes {
                    buf.put_slice(&h.0);
                }
            }
        }
    }

    /// Encodes the request into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(ANNOUNCE_REQUEST_LEN);
        self.write(&mut v);
        v
    }
}

/// Writes an announce request: one copy of the fixed 98 bytes, then the
/// BEP 41 `URLData` options.
#[inline]
fn write_announce<B: BufMut + ?Sized>(buf: &mut B, r: &AnnounceRequest) {
    // Neighbouring 32-bit fields are joined into 64-bit words: fewer
    // stores, fewer values held across the buffer's capacity check.
    let word = |hi: u32, lo: u32| (u64::from(hi) << 32 | u64::from(lo)).to_be_bytes();
    // `None` is -1 on the wire (all ones); more than `i32::MAX` is clamped.
    let num_want = r.num_want.map_or(u32::MAX, |n| n.min(i32::MAX as u32));
    let mut p = [0u8; ANNOUNCE_REQUEST_LEN];
    p[0..8].copy_from_slice(&r.connection_id.0.to_be_bytes());
    p[8..16].copy_from_slice(&word(Action::Announce as u32, r.transaction_id.0));
    // 4 + 16 bytes, not 16 + 4: in today's layout of a `Request` the
    // 16-byte load is then aligned, so after a move of the request it is
    // forwarded from one store (about 10% off parse + write in
    // benches/tracker.rs).
    p[16..20].copy_from_slice(&r.info_hash.0[..4]);
    p[20..36].copy_from_slice(&r.info_hash.0[4..]);
    p[36..56].copy_from_slice(&r.peer_id.0);
    p[56..64].copy_from_slice(&r.downloaded.to_be_bytes());
    p[64..72].copy_from_slice(&r.left.to_be_bytes());
    p[72..80].copy_from_slice(&r.uploaded.to_be_bytes());
    p[80..88].copy_from_slice(&word(r.event.to_udp(), r.ip.map_or(0, u32::from)));
    p[88..96].copy_from_slice(&word(r.key.0, num_want));
    p[96..98].copy_from_slice(&r.port.to_be_bytes());
    buf.put_slice(&p);
    if !r.url_data.is_empty() {
        write_url_data(buf, &r.url_data);
    }
}

/// BEP 41 `URLData` options of at most 255 bytes each.
#[inline(never)]
fn write_url_data<B: BufMut + ?Sized>(buf: &mut B, url_data: &[u8]) {
    for chunk in url_data.chunks(255) {
        buf.put_u8(2);
        buf.put_u8(chunk.len() as u8);
        buf.put_slice(chunk);
    }
}

/// The fixed 98 bytes of an announce request, then its BEP 41 options.
#[inline]
fn parse_announce(
    p: &[u8; ANNOUNCE_REQUEST_LEN],
    options: &[u8],
) -> Result<AnnounceRequest, Error> {
    let transaction_id = TransactionId(be!(u32, p, 12));
    let Some(event) = Event::from_udp(be!(u32, p, 80)) else {
        return Err(packet_err(
            80,
            "event code not in 0..=3",
            Some(transaction_id),
        ));
    };
    let url_data = if options.is_empty() {
        Bytes::new()
    } else {
        parse_options(options, transaction_id)?
    };
    let mut info_hash = [0u8; 20];
    info_hash.copy_from_slice(&p[16..36]);
    let mut peer_id = [0u8; 20];
    peer_id.copy_from_slice(&p[36..56]);
    Ok(AnnounceRequest {
        connection_id: ConnectionId(be!(u64, p, 0)),
        transaction_id,
        info_hash: InfoHash(info_hash),
        peer_id: PeerId(peer_id),
        downloaded: be!(u64, p, 56),
        left: be!(u64, p, 64),
        uploaded: be!(u64, p, 72),
        event,
        ip: match be!(u32, p, 84) {
            0 => None,
            a => Some(Ipv4Addr::from(a)),
        },
        key: PeerKey(be!(u32, p, 88)),
        num_want: u32::try_from(be!(i32, p, 92)).ok(),
        port: be!(u16, p, 96),
        url_data,
    })
}

/// Reads BEP 41 options (`b` starts at byte 98 of the packet):
/// `EndOfOptions` (0) stops, `NOP` (1) is skipped, `URLData` (2) is
/// appended, others are skipped by their length byte.
#[inline(never)]
fn parse_options(b: &[u8], tid: TransactionId) -> Result<Bytes, Error> {
    let err = |at: usize, reason| packet_err(ANNOUNCE_REQUEST_LEN + at, reason, Some(tid));
    let mut url = Vec::new();
    let mut at = 0;
    while at < b.len() {
        match b[at] {
            0 => break,
            1 => at += 1,
            kind => {
                let len = *b
                    .get(at + 1)
                    .ok_or_else(|| err(at + 1, "option without its length byte"))?
                    as usize;
                let data = b
                    .get(at + 2..at + 2 + len)
                    .ok_or_else(|| err(b.len(), "option data past the end of the packet"))?;
                if kind == 2 {
                    url.extend_from_slice(data);
                }
                at += 2 + len;
            }
        }
    }
    Ok(Bytes::from(url))
}

impl AnnounceRequest {
    /// The UDP form of an announce: `ip` is kept only when IPv4, a missing
    /// key is 0, `compact`, `tracker_id` and `extra` have no UDP field.
    /// `url_data` is the tracker URL's path and query (BEP 41).
    pub fn from_request(
        connection_id: ConnectionId,
        transaction_id: TransactionId,
        req: &common::AnnounceRequest,
        url_data: Bytes,
    ) -> Self {
        AnnounceRequest {
            connection_id,
            transaction_id,
            info_hash: req.info_hash,
            peer_id: req.peer_id,
            downloaded: req.downloaded,
            left: req.left,
            uploaded: req.uploaded,
            event: req.event,
            ip: match req.ip {
                Some(IpAddr::V4(a)) => Some(a),
                _ => None,
            },
            key: req.key.unwrap_or_default(),
            num_want: req.numwant,
            port: req.port,
            url_data,
        }
    }

    /// The protocol-independent form (compact, key always set).
    pub fn to_request(&self) -> common::AnnounceRequest {
        let mut r = common::AnnounceRequest::new(self.info_hash, self.peer_id, self.port);
        r.uploaded = self.uploaded;
        r.downloaded = self.downloaded;
        r.left = self.left;
        r.event = self.event;
        r.numwant = self.num_want;
        r.key = Some(self.key);
        r.ip = self.ip.map(IpAddr::V4);
        r
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

impl Response {
    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Response::Connect(r) => r.transaction_id,
            Response::Announce(r) => r.transaction_id,
            Response::Scrape(r) => r.transaction_id,
            Response::Error(r) => r.transaction_id,
        }
    }

    /// Decodes a response packet. `ipv6` selects the peer format of an
    /// announce response: 18 bytes per peer when the packet came over
    /// IPv6, 6 bytes otherwise (BEP 15 "IPv6").
    ///
    /// # Errors
    /// [`Error::UdpPacket`] with the byte offset: shorter than 8 bytes (no
    /// transaction id), a connect response shorter than 16 or an announce
    /// response shorter than 20 bytes, a peer list or scrape list whose
    /// length is not a multiple of the entry size, an unknown action.
    pub fn parse(packet: &[u8], ipv6: bool) -> Result<Response, Error> {
        let Some(head) = packet.first_chunk::<8>() else {
            return Err(packet_err(
                packet.len(),
                "response shorter than 8 bytes",
                None,
            ));
        };
        let transaction_id = TransactionId(be!(u32, head, 4));
        match be!(u32, head, 0) {
            1 => AnnounceResponseView::parse_announce(packet, ipv6, transaction_id)
                .map(|v| Response::Announce(v.to_response())),
            0 => {
                let Some(p) = packet.first_chunk::<16>() else {
                    return Err(packet_err(
                        packet.len(),
                        "connect response shorter than 16 bytes",
                        Some(transaction_id),
                    ));
                };
                Ok(Response::Connect(ConnectResponse {
                    transaction_id,
                    connection_id: ConnectionId(be!(u64, p, 8)),
                }))
            }
            2 => {
                let rest = &packet[8..];
                if rest.len() % 12 != 0 {
                    return Err(packet_err(
                        8 + rest.len() / 12 * 12,
                        "scrape list is not a whole number of entries",
                        Some(transaction_id),
                    ));
                }
                Ok(Response::Scrape(ScrapeResponse {
                    transaction_id,
                    stats: rest
                        .chunks_exact(12)
                        .map(|c| {
                            let c: &[u8; 12] = c.try_into().unwrap_or(&[0; 12]);
                            ScrapeStats {
                                complete: be!(u32, c, 0),
                                downloaded: be!(u32, c, 4),
                                incomplete: be!(u32, c, 8),
                            }
                        })
                        .collect(),
                }))
            }
            3 => Ok(Response::Error(ErrorResponse {
                transaction_id,
                message: String::from_utf8_lossy(&packet[8..]).into_owned(),
            })),
            _ => Err(packet_err(0, "unknown action", Some(transaction_id))),
        }
    }

    /// Encodes the response. Announce peers are written in their own
    /// family's size: give only peers of the packet's family.
    pub fn write<B: BufMut + ?Sized>(&self, buf: &mut B) {
        match self {
            Response::Connect(r) => {
                buf.put_u32(Action::Connect as u32);
                buf.put_u32(r.transaction_id.0);
                buf.put_u64(r.connection_id.0);
            }
            Response::Announce(r) => {
                buf.put_slice(&announce_header(
                    r.transaction_id,
                    r.interval,
                    r.leechers,
                    r.seeders,
                ));
                compact::write_addr_slice(buf, &r.peers);
            }
            Response::Scrape(r) => {
                buf.put_u32(Action::Scrape as u32);
                buf.put_u32(r.transaction_id.0);
                for s in &r.stats {
                    buf.put_u32(s.complete);
                    buf.put_u32(s.downloaded);
                    buf.put_u32(s.incomplete);
                }
            }
            Response::Error(r) => {
                buf.put_u32(Action::Error as u32);
                buf.put_u32(r.transaction_id.0);
                buf.put_slice(r.message.as_bytes());
            }
        }
    }

    /// Encodes the response into a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.write(&mut v);
        v
    }
}

/// The first 20 bytes of an announce response: action 1, transaction id,
/// interval, leechers, seeders.
#[inline]
fn announce_header(tid: TransactionId, interval: u32, leechers: u32, seeders: u32) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0..4].copy_from_slice(&(Action::Announce as u32).to_be_bytes());
    h[4..8].copy_from_slice(&tid.0.to_be_bytes());
    h[8..12].copy_from_slice(&interval.to_be_bytes());
    h[12..16].copy_from_slice(&leechers.to_be_bytes());
    h[16..20].copy_from_slice(&seeders.to_be_bytes());
    h
}

/// An announce response read without copying its peers: the fixed fields,
/// and the peers as a [`CompactPeers`] view into the packet. Nothing is
/// allocated, and [`write`](AnnounceResponseView::write) copies the peer
/// bytes through as they are. [`to_response`](AnnounceResponseView::to_response)
/// gives the owned [`AnnounceResponse`].
///
/// ```
/// use seedbed_tracker_proto::udp::{AnnounceResponseView, Response};
/// let mut packet = vec![0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 5];
/// packet.extend_from_slice(&[10, 0, 0, 2, 0x1a, 0xe1]);
/// let view = AnnounceResponseView::parse(&packet, false).unwrap();
/// assert_eq!((view.interval, view.leechers, view.seeders), (1800, 2, 5));
/// assert_eq!(view.peers.clone().next().unwrap().to_string(), "10.0.0.2:6881");
/// let mut out = Vec::new();
/// view.write(&mut out);
/// assert_eq!(out, packet);
/// assert_eq!(Response::Announce(view.to_response()), Response::parse(&packet, false).unwrap());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnnounceResponseView<'a> {
    /// From the request.
    pub transaction_id: TransactionId,
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Number of leechers.
    pub leechers: u32,
    /// Number of seeders.
    pub seeders: u32,
    /// The peers, all of one address family (the packet's), still in
    /// their 6- or 18-byte wire form.
    pub peers: CompactPeers<'a>,
}

impl<'a> AnnounceResponseView<'a> {
    /// Decodes an announce response packet (action 1) without copying its
    /// peers. `ipv6` selects the peer format as in [`Response::parse`].
    ///
    /// # Errors
    /// [`Error::UdpPacket`] with the byte offset, as [`Response::parse`]:
    /// shorter than 8 bytes (no transaction id), shorter than 20 bytes,
    /// a peer list that is not a whole number of peers; and a packet whose
    /// action is not announce (offset 0), which [`Response::parse`] reads.
    pub fn parse(packet: &'a [u8], ipv6: bool) -> Result<Self, Error> {
        let Some(head) = packet.first_chunk::<8>() else {
            return Err(packet_err(
                packet.len(),
                "response shorter than 8 bytes",
                None,
            ));
        };
        let transaction_id = TransactionId(be!(u32, head, 4));
        if be!(u32, head, 0) != Action::Announce as u32 {
            return Err(packet_err(
                0,
                "not an announce response",
                Some(transaction_id),
            ));
        }
        Self::parse_announce(packet, ipv6, transaction_id)
    }

    /// The rest of [`parse`](Self::parse), once the action is known.
    #[inline]
    fn parse_announce(
        packet: &'a [u8],
        ipv6: bool,
        transaction_id: TransactionId,
    ) -> Result<Self, Error> {
        let Some((h, rest)) = packet.split_first_chunk::<20>() else {
            return Err(packet_err(
                packet.len(),
                "announce response shorter than 20 bytes",
                Some(transaction_id),
            ));
        };
        let Some(peers) = CompactPeers::new(rest, ipv6) else {
            let stride = if ipv6 { 18 } else { 6 };
            return Err(packet_err(
                20 + rest.len() / stride * stride,
                "peer list is not a whole number of peers",
                Some(transaction_id),
            ));
        };
        Ok(AnnounceResponseView {
            transaction_id,
            interval: be!(u32, h, 8),
            leechers: be!(u32, h, 12),
            seeders: be!(u32, h, 16),
            peers,
        })
    }

    /// Encodes the response: the 20-byte header, then the peer bytes as
    /// they are.
    pub fn write<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_slice(&announce_header(
            self.transaction_id,
            self.interval,
            self.leechers,
            self.seeders,
        ));
        buf.put_slice(self.peers.as_bytes());
    }

    /// The owned form, with every peer decoded into a [`SocketAddr`] (one
    /// allocation of exactly the peer count).
    pub fn to_response(&self) -> AnnounceResponse {
        AnnounceResponse {
            transaction_id: self.transaction_id,
            interval: self.interval,
            leechers: self.leechers,
            seeders: self.seeders,
            peers: compact::read_all(self.peers.as_bytes(), self.peers.is_ipv6()),
        }
    }
}

impl From<AnnounceResponse> for common::AnnounceResponse {
    /// Seeders become `complete`, leechers `incomplete`; UDP has no
    /// minimum interval, tracker id or warning.
    fn from(r: AnnounceResponse) -> Self {
        common::AnnounceResponse {
            interval: r.interval,
            min_interval: None,
            tracker_id: None,
            complete: Some(r.seeders),
            incomplete: Some(r.leechers),
            warning_message: None,
            peers: r.peers.into_iter().map(common::Peer::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connect_bytes() {
        let r = Request::Connect(ConnectRequest {
            transaction_id: TransactionId(0x01020304),
        });
        assert_eq!(
            r.to_bytes(),
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn errors_keep_transaction_id() {
        let mut p = Request::Connect(ConnectRequest {
            transaction_id: TransactionId(7),
        })
        .to_bytes();
        p[8..12].copy_from_slice(&1u32.to_be_bytes()); // announce, but 16 bytes
        let e = Request::parse(&p).unwrap_err();
        assert_eq!(e.transaction_id(), Some(TransactionId(7)));
        assert_eq!(e.offset(), Some(16));
        p[8..12].copy_from_slice(&9u32.to_be_bytes());
        let e = Request::parse(&p).unwrap_err();
        assert_eq!(
            (e.transaction_id(), e.offset()),
            (Some(TransactionId(7)), Some(8))
        );
        p[0] = 1;
        p[8..12].copy_from_slice(&0u32.to_be_bytes());
        let e = Request::parse(&p).unwrap_err();
        assert_eq!(
            (e.transaction_id(), e.offset()),
            (Some(TransactionId(7)), Some(0))
        );
        let e = Request::parse(&p[..15]).unwrap_err();
        assert_eq!((e.transaction_id(), e.offset()), (None, Some(15)));
        let e = Response::parse(&[0, 0, 0, 1, 0, 0, 0, 5, 0], false).unwrap_err();
        assert_eq!(
            (e.transaction_id(), e.offset()),
            (Some(TransactionId(5)), Some(9))
        );
    }

    #[test]
    fn bad_event_with_and_without_options() {
        // The 98-byte announce is read on its own path; both keep the
        // offset of the event and the transaction id.
        let mut p = Request::Announce(AnnounceRequest {
            connection_id: ConnectionId(1),
            transaction_id: TransactionId(9),
            info_hash: InfoHash([3; 20]),
            peer_id: PeerId([4; 20]),
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: Event::None,
            ip: None,
            key: PeerKey(0),
            num_want: None,
            port: 1,
            url_data: Bytes::new(),
        })
        .to_bytes();
        p[80..84].copy_from_slice(&4u32.to_be_bytes());
        for extra in [&b""[..], b"\x01\x00"] {
            let mut q = p.clone();
            q.extend_from_slice(extra);
            let e = Request::parse(&q).unwrap_err();
            assert_eq!(
                (e.transaction_id(), e.offset()),
                (Some(TransactionId(9)), Some(80))
            );
        }
    }

    #[test]
    fn bep41_options() {
        let base = AnnounceRequest {
            connection_id: ConnectionId(1),
            transaction_id: TransactionId(2),
            info_hash: InfoHash([3; 20]),
            peer_id: PeerId([4; 20]),
            downloaded: 5,
            left: 6,
            uploaded: 7,
            event: Event::Started,
            ip: None,
            key: PeerKey(8),
            num_want: None,
            port: 9,
            url_data: Bytes::new(),
        };
        let mut p = Request::Announce(base.clone()).to_bytes();
        assert_eq!(p.len(), 98);
        // The BEP 41 example: URLData, two NOPs, URLData, EndOfOptions,
        // then garbage that must be ignored.
        p.extend_from_slice(b"\x02\x04/dir\x01\x01\x02\x08?a=b&c=d\x00\x02\xff");
        let Request::Announce(a) = Request::parse(&p).unwrap() else {
            panic!("not an announce")
        };
        assert_eq!(&a.url_data[..], b"/dir?a=b&c=d");
        // An unknown option with length is skipped; truncated data errors.
        let mut q = Request::Announce(base.clone()).to_bytes();
        q.extend_from_slice(b"\x09\x01x\x02\x01y");
        let Request::Announce(a) = Request::parse(&q).unwrap() else {
            panic!("not an announce")
        };
        assert_eq!(&a.url_data[..], b"y");
        q.extend_from_slice(b"\x02\x05ab");
        let e = Request::parse(&q).unwrap_err();
        assert_eq!(
            (e.transaction_id(), e.offset()),
            (Some(TransactionId(2)), Some(q.len()))
        );
        // Long URL data is split into 255-byte options.
        let long = AnnounceRequest {
            url_data: Bytes::from(vec![b'a'; 600]),
            ..base
        };
        let bytes = Request::Announce(long.clone()).to_bytes();
        assert_eq!(bytes.len(), 98 + 600 + 3 * 2);
        assert_eq!(Request::parse(&bytes).unwrap(), Request::Announce(long));
    }

    fn arb_announce() -> impl Strategy<Value = AnnounceRequest> {
        (
            (
                any::<u64>(),
                any::<u32>(),
                any::<[u8; 20]>(),
                any::<[u8; 20]>(),
            ),
            (any::<u64>(), any::<u64>(), any::<u64>(), 0u32..4),
            (
                any::<u32>(),
                any::<u32>(),
                proptest::option::of(0u32..=i32::MAX as u32),
                any::<u16>(),
            ),
            proptest::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|((c, t, h, p), (d, l, u, e), (ip, k, n, port), url)| {
                AnnounceRequest {
                    connection_id: ConnectionId(c),
                    transaction_id: TransactionId(t),
                    info_hash: InfoHash(h),
                    peer_id: PeerId(p),
                    downloaded: d,
                    left: l,
                    uploaded: u,
                    event: Event::from_udp(e).unwrap(),
                    ip: (ip != 0).then(|| Ipv4Addr::from(ip)),
                    key: PeerKey(k),
                    num_want: n,
                    port,
                    url_data: Bytes::from(url),
                }
            })
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            any::<u32>().prop_map(|t| Request::Connect(ConnectRequest {
                transaction_id: TransactionId(t)
            })),
            arb_announce().prop_map(Request::Announce),
            (
                any::<u64>(),
                any::<u32>(),
                proptest::collection::vec(any::<[u8; 20]>(), 0..80)
            )
                .prop_map(|(c, t, h)| Request::Scrape(ScrapeRequest {
                    connection_id: ConnectionId(c),
                    transaction_id: TransactionId(t),
                    info_hashes: h.into_iter().map(InfoHash).collect(),
                })),
        ]
    }

    fn arb_response(ipv6: bool) -> impl Strategy<Value = Response> {
        let peer = if ipv6 {
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::from((a, p)))
                .boxed()
        } else {
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::from((a, p)))
                .boxed()
        };
        prop_oneof![
            (any::<u32>(), any::<u64>()).prop_map(|(t, c)| Response::Connect(ConnectResponse {
                transaction_id: TransactionId(t),
                connection_id: ConnectionId(c)
            })),
            (
                any::<(u32, u32, u32, u32)>(),
                proptest::collection::vec(peer, 0..50)
            )
                .prop_map(|((t, i, l, s), peers)| Response::Announce(
                    AnnounceResponse {
                        transaction_id: TransactionId(t),
                        interval: i,
                        leechers: l,
                        seeders: s,
                        peers
                    }
                )),
            (
                any::<u32>(),
                proptest::collection::vec(any::<(u32, u32, u32)>(), 0..80)
            )
                .prop_map(|(t, s)| Response::Scrape(ScrapeResponse {
                    transaction_id: TransactionId(t),
                    stats: s
                        .into_iter()
                        .map(|(c, d, i)| ScrapeStats {
                            complete: c,
                            downloaded: d,
                            incomplete: i
                        })
                        .collect()
                })),
            (any::<u32>(), ".{0,40}").prop_map(|(t, m)| Response::Error(ErrorResponse {
                transaction_id: TransactionId(t),
                message: m
            })),
        ]
    }

    proptest! {
        #[test]
        fn request_round_trip(r in arb_request()) {
            let bytes = r.to_bytes();
            prop_assert_eq!(Request::parse(&bytes).unwrap(), r);
        }

        #[test]
        fn response_v4_round_trip(r in arb_response(false)) {
            prop_assert_eq!(Response::parse(&r.to_bytes(), false).unwrap(), r);
        }

        #[test]
        fn response_v6_round_trip(r in arb_response(true)) {
            prop_assert_eq!(Response::parse(&r.to_bytes(), true).unwrap(), r);
        }

        #[test]
        fn view_round_trip((v6, r) in any::<bool>().prop_flat_map(|v6| (Just(v6), arb_response(v6)))) {
            // The view reads what `Response::parse` reads, writes the same
            // bytes, and fails where it fails for announce packets.
            let bytes = r.to_bytes();
            match AnnounceResponseView::parse(&bytes, v6) {
                Ok(view) => {
                    let Response::Announce(owned) = &r else { panic!("not an announce") };
                    prop_assert_eq!(&view.to_response(), owned);
                    prop_assert_eq!(view.peers.len(), owned.peers.len());
                    let mut out = Vec::new();
                    view.write(&mut out);
                    prop_assert_eq!(out, bytes);
                }
                Err(e) => {
                    prop_assert!(!matches!(r, Response::Announce(_)));
                    prop_assert_eq!((e.offset(), e.transaction_id()), (Some(0), Some(r.transaction_id())));
                }
            }
        }

        #[test]
        fn view_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
            match (AnnounceResponseView::parse(&bytes, v6), Response::parse(&bytes, v6)) {
                (Ok(view), Ok(Response::Announce(a))) => prop_assert_eq!(view.to_response(), a),
                (Ok(_), other) => prop_assert!(false, "view accepted what parse read as {:?}", other),
                (Err(e), Ok(Response::Announce(_))) => prop_assert!(false, "view refused an announce: {}", e),
                (Err(e), Err(f)) => prop_assert_eq!(
                    (e.offset(), e.transaction_id()),
                    (f.offset(), f.transaction_id())
                ),
                (Err(e), Ok(_)) => prop_assert_eq!((e.offset(), e.transaction_id().is_some()), (Some(0), true)),
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
            if let Ok(r) = Request::parse(&bytes) {
                prop_assert_eq!(Request::parse(&r.to_bytes()).unwrap(), r);
            }
            if let Ok(r) = Response::parse(&bytes, v6) {
                prop_assert_eq!(Response::parse(&r.to_bytes(), v6).unwrap(), r);
            }
        }
    }
}
