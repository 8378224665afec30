//! Types shared by the HTTP and UDP protocols: announce and scrape requests
//! and responses, events, peers.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use bytes::Bytes;
pub use seedbed_metainfo::{InfoHash, PeerId};

use crate::error::Error;

/// The `event` of an announce (BEP 3; numeric codes in BEP 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Event {
    /// A regular announce at the interval: no `event` parameter (UDP code 0).
    #[default]
    None,
    /// The download finished (`completed`, UDP code 1). Sent once.
    Completed,
    /// The first announce of a session (`started`, UDP code 2).
    Started,
    /// The client is leaving the swarm (`stopped`, UDP code 3).
    Stopped,
}

impl Event {
    /// The HTTP parameter value (`started`, `completed`, `stopped`), or
    /// `None` for [`Event::None`], which sends no parameter.
    pub fn as_param(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Completed => Some("completed"),
            Event::Started => Some("started"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 code: 0 none, 1 completed, 2 started, 3 stopped.
    pub fn to_udp(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    /// From a BEP 15 code; `None` for codes other than 0..=3.
    pub fn from_udp(code: u32) -> Option<Event> {
        Some(match code {
            0 => Event::None,
            1 => Event::Completed,
            2 => Event::Started,
            3 => Event::Stopped,
            _ => return None,
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_param().unwrap_or("none"))
    }
}

/// Parses `started`, `completed`, `stopped`, and `none` or the empty string
/// (both [`Event::None`]). Unknown words are [`Error::Query`] at offset 0.
impl FromStr for Event {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "" | "none" | "empty" => Ok(Event::None),
            "started" => Ok(Event::Started),
            "completed" => Ok(Event::Completed),
            "stopped" => Ok(Event::Stopped),
            _ => Err(Error::Query {
                offset: 0,
                reason: format!("unknown event {s:?}"),
            }),
        }
    }
}

/// The `key` an announcing client sends so the tracker can recognise it
/// across IP changes (BEP 3 de facto, BEP 15 `key`, 32 bits). Choose it at
/// random once per session and keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PeerKey(pub u32);

impl fmt::Display for PeerKey {
    /// Eight uppercase hex digits, as libtorrent sends it over HTTP.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// An announce (BEP 3 "Trackers"): who we are, which torrent, how far along.
///
/// The same request goes over HTTP ([`AnnounceRequest::to_query`]) or UDP
/// ([`udp::AnnounceRequest::from_request`](crate::udp::AnnounceRequest::from_request)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent (20 bytes).
    pub info_hash: InfoHash,
    /// Our peer id (20 bytes).
    pub peer_id: PeerId,
    /// The TCP port we accept peers on.
    pub port: u16,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing; 0 means we are a seeder.
    pub left: u64,
    /// Why we announce now.
    pub event: Event,
    /// Ask for compact peer lists (BEP 23). Over UDP peers are always compact.
    pub compact: bool,
    /// How many peers we want; `None` lets the tracker choose (usually 50).
    pub numwant: Option<u32>,
    /// Our session key, if we send one.
    pub key: Option<PeerKey>,
    /// The address to announce instead of the packet's source address. Most
    /// trackers honour it only from trusted networks.
    pub ip: Option<IpAddr>,
    /// The `tracker id` the tracker gave us in an earlier response.
    pub tracker_id: Option<Bytes>,
    /// Further query parameters, sent as given after the standard ones
    /// (for example `supportcrypto=1`). Raw bytes, percent-encoded on
    /// output. When parsing, every unknown parameter lands here.
    pub extra: Vec<(Bytes, Bytes)>,
}

impl AnnounceRequest {
    /// A request with the required fields and defaults for the rest:
    /// nothing transferred, `left` 0, no event, compact, no numwant, key,
    /// ip or tracker id.
    pub fn new(info_hash: InfoHash, peer_id: PeerId, port: u16) -> Self {
        AnnounceRequest {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            compact: true,
            numwant: None,
            key: None,
            ip: None,
            tracker_id: None,
            extra: Vec::new(),
        }
    }
}

/// One peer in an announce response: its address, and its peer id when the
/// tracker sent one (dictionary form only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// IP address and TCP port.
    pub addr: SocketAddr,
    /// The peer's id, only in non-compact responses.
    pub peer_id: Option<PeerId>,
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Self {
        Peer {
            addr,
            peer_id: None,
        }
    }
}

/// A successful announce response (BEP 3, with BEP 23 compact peers and
/// BEP 7 `peers6`). A failure is [`Error::Failure`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds to wait before the next regular announce.
    pub interval: u32,
    /// Seconds the client must wait at least between announces.
    pub min_interval: Option<u32>,
    /// An id to send back in later announces (`trackerid`).
    pub tracker_id: Option<Bytes>,
    /// Number of seeders.
    pub complete: Option<u32>,
    /// Number of leechers.
    pub incomplete: Option<u32>,
    /// A warning to show to the user; the response is still valid.
    pub warning_message: Option<String>,
    /// The peers, IPv4 and IPv6 together. When encoding in compact form,
    /// IPv4 peers go to `peers` (6 bytes each) and IPv6 peers to `peers6`
    /// (18 bytes each).
    pub peers: Vec<Peer>,
}

/// A scrape request (BEP 48): the torrents to ask about. Empty means "all"
/// at trackers that allow a full scrape.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScrapeRequest {
    /// The torrents, each 20 bytes.
    pub info_hashes: Vec<InfoHash>,
}

/// Counts for one torrent in a scrape response (BEP 48 `files` entry; BEP
/// 15 scrape response).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ScrapeStats {
    /// Peers with the whole torrent (seeders).
    pub complete: u32,
    /// Times the tracker saw `event=completed`.
    pub downloaded: u32,
    /// Peers without the whole torrent (leechers).
    pub incomplete: u32,
}

/// A scrape response (BEP 48): counts per torrent, keyed by info hash.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// The torrents the tracker knows among those asked for.
    pub files: BTreeMap<InfoHash, ScrapeStats>,
}
