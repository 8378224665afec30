//! A small in-memory tracker, sans-IO: swarms keyed by info hash, peers
//! that expire, `numwant`, compact HTTP responses, and the UDP connect
//! handshake. Time (`now`) is an argument and connection ids come from a
//! seeded generator; the `server` feature puts tokio sockets in front of it
//! ([`crate::server`]).
//!
//! It is meant for tests, demos and small private swarms: everything lives
//! in one `HashMap`, and it trusts nothing but the source address (the
//! `ip` parameter is ignored).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::{
    AnnounceRequest, AnnounceResponse, Event, InfoHash, Peer, PeerId, ScrapeRequest,
    ScrapeResponse, ScrapeStats,
};
use crate::error::Error;
use crate::http::encode_failure;
use crate::udp::{self, ConnectionId, ErrorResponse, Request, Response};
use crate::udp_client::SplitMix64;

/// Settings of a [`MemoryTracker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryTrackerConfig {
    /// `interval` sent to clients, in seconds. Default 1800.
    pub interval: u32,
    /// `min interval` sent to HTTP clients, in seconds. Default 60.
    pub min_interval: u32,
    /// A peer not heard from for this long is dropped. Default 3600 s
    /// (twice the interval).
    pub peer_timeout: Duration,
    /// Peers returned when the request has no `numwant`. Default 50.
    pub default_numwant: u32,
    /// Most peers returned, whatever `numwant` says. Default 200.
    pub max_numwant: u32,
    /// Most torrents tracked; announces for new torrents past it fail.
    /// Default 100,000.
    pub max_torrents: usize,
    /// Most peers per torrent; new peers past it are not stored (they still
    /// get peers). Default 10,000.
    pub max_peers_per_torrent: usize,
    /// How long a UDP connection id is accepted (BEP 15: 2 minutes).
    pub connection_lifetime: Duration,
    /// Most UDP connection ids remembered at once; past it the oldest
    /// expired ones are dropped and, if none has expired, connects fail.
    /// Default 100,000.
    pub max_connections: usize,
}

impl Default for MemoryTrackerConfig {
    fn default() -> Self {
        MemoryTrackerConfig {
            interval: 1800,
            min_interval: 60,
            peer_timeout: Duration::from_secs(3600),
            default_numwant: 50,
            max_numwant: 200,
            max_torrents: 100_000,
            max_peers_per_torrent: 10_000,
            connection_lifetime: Duration::from_secs(120),
            max_connections: 100_000,
        }
    }
}

#[derive(Clone, Debug)]
struct PeerEntry {
    peer_id: PeerId,
    seeder: bool,
    last_seen: Instant,
}

#[derive(Clone, Debug, Default)]
struct Swarm {
    peers: HashMap<SocketAddr, PeerEntry>,
    downloaded: u32,
}

impl Swarm {
    fn expire(&mut self, now: Instant, timeout: Duration) {
        self.peers
            .retain(|_, p| now.saturating_duration_since(p.last_seen) < timeout);
    }
    fn stats(&self) -> ScrapeStats {
        let seeders = self.peers.values().filter(|p| p.seeder).count();
        ScrapeStats {
            complete: seeders as u32,
            downloaded: self.downloaded,
            incomplete: (self.peers.len() - seeders) as u32,
        }
    }
}

/// An HTTP answer from [`MemoryTracker::handle_http`]: status code and
/// bencoded body (`text/plain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// 200, or 404 for a path that is neither announce nor scrape.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The in-memory tracker. See the [module docs](self).
///
/// ```
/// use std::time::Instant;
/// use seedbed_tracker_proto::memory::{MemoryTracker, MemoryTrackerConfig};
/// use seedbed_tracker_proto::{AnnounceRequest, InfoHash, PeerId};
///
/// let mut t = MemoryTracker::new(MemoryTrackerConfig::default(), 7);
/// let now = Instant::now();
/// let a = AnnounceRequest::new(InfoHash([1; 20]), PeerId([1; 20]), 6881);
/// let b = AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 6882);
/// let ip = "127.0.0.1".parse().unwrap();
/// t.announce(now, &a, ip).unwrap();
/// let r = t.announce(now, &b, ip).unwrap();
/// assert_eq!(r.peers[0].addr.to_string(), "127.0.0.1:6881");
/// ```
#[derive(Debug)]
pub struct MemoryTracker {
    config: MemoryTrackerConfig,
    torrents: HashMap<InfoHash, Swarm>,
    connections: HashMap<ConnectionId, (IpAddr, Instant)>,
    rng: SplitMix64,
}

impl MemoryTracker {
    /// An empty tracker. `seed` seeds UDP connection ids: pass a random
    /// value in production.
    pub fn new(config: MemoryTrackerConfig, seed: u64) -> Self {
        MemoryTracker {
            config,
            torrents: HashMap::new(),
            connections: HashMap::new(),
            rng: SplitMix64::new(seed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MemoryTrackerConfig {
        &self.config
    }

    /// Handles an announce from `source` (the packet's address; the
    /// request's `ip` is ignored). The peer is `source` with the request's
    /// port; `stopped` removes it. Returned peers exclude the announcer and
    /// are of any family; at most `numwant` (capped by `max_numwant`).
    ///
    /// # Errors
    /// [`Error::Failure`] when a new torrent would exceed `max_torrents`.
    pub fn announce(
        &mut self,
        now: Instant,
        req: &AnnounceRequest,
        source: IpAddr,
    ) -> Result<AnnounceResponse, Error> {
        let cfg = &self.config;
        if !self.torrents.contains_key(&req.info_hash) {
            if req.event == Event::Stopped {
                return Ok(AnnounceResponse {
                    interval: cfg.interval,
                    min_interval: Some(cfg.min_interval),
                    complete: Some(0),
                    incomplete: Some(0),
                    ..AnnounceResponse::default()
                });
            }
            if self.torrents.len() >= cfg.max_torrents {
                return Err(Error::Failure {
                    reason: "tracker is full".into(),
                });
            }
        }
        let swarm = self.torrents.entry(req.info_hash).or_default();
        swarm.expire(now, cfg.peer_timeout);
        let me = SocketAddr::new(source, req.port);
        if req.event == Event::Stopped {
            swarm.peers.remove(&me);
        } else {
            if req.event == Event::Completed {
                swarm.downloaded = swarm.downloaded.saturating_add(1);
            }
            if swarm.peers.contains_key(&me) || swarm.peers.len() < cfg.max_peers_per_torrent {
                swarm.peers.insert(
                    me,
                    PeerEntry {
                        peer_id: req.peer_id,
                        seeder: req.left == 0,
                        last_seen: now,
                    },
                );
            }
        }
        let want = req
            .numwant
            .unwrap_or(cfg.default_numwant)
            .min(cfg.max_numwant) as usize;
        let peers = if req.event == Event::Stopped {
            Vec::new()
        } else {
            swarm
                .peers
                .iter()
                .filter(|(addr, _)| **addr != me)
                .take(want)
                .map(|(addr, p)| Peer {
                    addr: *addr,
                    peer_id: Some(p.peer_id),
                })
                .collect()
        };
        let stats = swarm.stats();
        if swarm.peers.is_empty() && swarm.downloaded == 0 {
            self.torrents.remove(&req.info_hash);
        }
        Ok(AnnounceResponse {
            interval: cfg.interval,
            min_interval: Some(cfg.min_interval),
            tracker_id: None,
            complete: Some(stats.complete),
            incomplete: Some(stats.incomplete),
            warning_message: None,
            peers,
        })
    }

    /// Counts for the torrents asked for (unknown torrents are left out).
    pub fn scrape(&mut self, now: Instant, req: &ScrapeRequest) -> ScrapeResponse {
        let mut resp = ScrapeResponse::default();
        for h in &req.info_hashes {
            if let Some(s) = self.torrents.get_mut(h) {
                s.expire(now, self.config.peer_timeout);
                resp.files.insert(*h, s.stats());
            }
        }
        resp
    }

    /// Drops expired peers, empty swarms and expired connection ids. Call
    /// it now and then (the servers do every minute).
    pub fn purge(&mut self, now: Instant) {
        let timeout = self.config.peer_timeout;
        self.torrents.retain(|_, s| {
            s.expire(now, timeout);
            !s.peers.is_empty() || s.downloaded > 0
        });
        let life = self.config.connection_lifetime;
        self.connections
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < life);
    }

    /// Number of torrents tracked.
    pub fn torrent_count(&self) -> usize {
        self.torrents.len()
    }

    /// Handles an HTTP request target (`/announce?…` or `/scrape?…`, any
    /// prefix before the last path segment) from `source`. Errors are
    /// answered as BEP 3 failure responses with status 200.
    pub fn handle_http(&mut self, now: Instant, target: &[u8], source: IpAddr) -> HttpReply {
        let (path, query) = match target.iter().position(|&b| b == b'?') {
            Some(q) => (&target[..q], &target[q + 1..]),
            None => (target, &target[target.len()..]),
        };
        let mut body = Vec::new();
        if path.ends_with(b"/announce") {
            match AnnounceRequest::from_query(query)
                .and_then(|req| Ok((self.announce(now, &req, source)?, req.compact)))
            {
                Ok((resp, compact)) => resp.encode_http(compact, &mut body),
                Err(e) => encode_failure(&e.to_string(), &mut body),
            }
        } else if path.ends_with(b"/scrape") {
            match ScrapeRequest::from_query(query) {
                Ok(req) => self.scrape(now, &req).encode_http(&mut body),
                Err(e) => encode_failure(&e.to_string(), &mut body),
            }
        } else {
            encode_failure("not found", &mut body);
            return HttpReply { status: 404, body };
        }
        HttpReply { status: 200, body }
    }

    /// Handles a UDP datagram from `source` (BEP 15) and returns the
    /// datagram to send back, if any. Announce responses carry only peers
    /// of `source`'s family (18-byte entries over IPv6). A request whose
    /// transaction id was readable but that is invalid, or that has an
    /// unknown or expired connection id, gets an error packet; a packet
    /// too short to hold a transaction id gets nothing.
    pub fn handle_udp(
        &mut self,
        now: Instant,
        packet: &[u8],
        source: SocketAddr,
    ) -> Option<Vec<u8>> {
        let error = |tid, message: String| {
            Some(
                Response::Error(ErrorResponse {
                    transaction_id: tid,
                    message,
                })
                .to_bytes(),
            )
        };
        let req = match Request::parse(packet) {
            Ok(r) => r,
            Err(e) => return error(e.transaction_id()?, e.to_string()),
        };
        let tid = req.transaction_id();
        let life = self.config.connection_lifetime;
        let valid = |c: &HashMap<ConnectionId, (IpAddr, Instant)>, id: ConnectionId| {
            c.get(&id).is_some_and(|(ip, at)| {
                *ip == source.ip() && now.saturating_duration_since(*at) < life
            })
        };
        let resp = match req {
            Request::Connect(_) => {
                if self.connections.len() >= self.config.max_connections {
                    self.connections
                        .retain(|_, (_, at)| now.saturating_duration_since(*at) < life);
                    if self.connections.len() >= self.config.max_connections {
                        return error(tid, "too many connections".into());
                    }
                }
                let id = ConnectionId(self.rng.next_u64());
                self.connections.insert(id, (source.ip(), now));
                Response::Connect(udp::ConnectResponse {
                    transaction_id: tid,
                    connection_id: id,
                })
            }
            Request::Announce(a) => {
                if !valid(&self.connections, a.connection_id) {
                    return error(tid, "unknown or expired connection id".into());
                }
                match self.announce(now, &a.to_request(), source.ip()) {
                    Ok(r) => Response::Announce(udp::AnnounceResponse {
                        transaction_id: tid,
                        interval: r.interval,
                        leechers: r.incomplete.unwrap_or(0),
                        seeders: r.complete.unwrap_or(0),
                        peers: r
                            .peers
                            .iter()
                            .map(|p| p.addr)
                            .filter(|p| p.is_ipv6() == source.is_ipv6())
                            .collect(),
                    }),
                    Err(e) => return error(tid, e.to_string()),
                }
            }
            Request::Scrape(s) => {
                if !valid(&self.connections, s.connection_id) {
                    return error(tid, "unknown or expired connection id".into());
                }
                let stats = s
                    .info_hashes
                    .iter()
                    .map(|h| {
                        self.torrents
                            .get_mut(h)
                            .map_or_else(ScrapeStats::default, |sw| {
                                sw.expire(now, self.config.peer_timeout);
                                sw.stats()
                            })
                    })
                    .collect();
                Response::Scrape(udp::ScrapeResponse {
                    transaction_id: tid,
                    stats,
                })
            }
        };
        Some(resp.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_announce_response;
    use crate::udp::{ConnectRequest, TransactionId};

    fn ip() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    fn req(id: u8, port: u16, left: u64) -> AnnounceRequest {
        let mut r = AnnounceRequest::new(InfoHash([9; 20]), PeerId([id; 20]), port);
        r.left = left;
        r
    }

    #[test]
    fn peers_see_each_other_stop_and_expiry() {
        let mut t = MemoryTracker::new(MemoryTrackerConfig::default(), 1);
        let now = Instant::now();
        let r = t.announce(now, &req(1, 1, 10), ip()).unwrap();
        assert!(r.peers.is_empty());
        let r = t.announce(now, &req(2, 2, 0), ip()).unwrap();
        assert_eq!(r.peers.len(), 1);
        assert_eq!((r.complete, r.incomplete), (Some(1), Some(1)));
        let mut stop = req(2, 2, 0);
        stop.event = Event::Stopped;
        t.announce(now, &stop, ip()).unwrap();
        let r = t.announce(now, &req(1, 1, 10), ip()).unwrap();
        assert!(r.peers.is_empty());
        // numwant caps the list.
        for p in 10..20 {
            t.announce(now, &req(p as u8, p, 1), ip()).unwrap();
        }
        let mut few = req(1, 1, 10);
        few.numwant = Some(3);
        assert_eq!(t.announce(now, &few, ip()).unwrap().peers.len(), 3);
        // Everyone expires after the peer timeout.
        let later = now + t.config().peer_timeout;
        t.purge(later);
        assert_eq!(t.torrent_count(), 0);
    }

    #[test]
    fn limits() {
        let cfg = MemoryTrackerConfig {
            max_torrents: 1,
            max_peers_per_torrent: 2,
            max_connections: 1,
            ..MemoryTrackerConfig::default()
        };
        let mut t = MemoryTracker::new(cfg, 1);
        let now = Instant::now();
        for p in 1..=3 {
            t.announce(now, &req(p, u16::from(p), 1), ip()).unwrap();
        }
        assert_eq!(
            t.scrape(
                now,
                &ScrapeRequest {
                    info_hashes: vec![InfoHash([9; 20])]
                }
            )
            .files[&InfoHash([9; 20])]
                .incomplete,
            2
        );
        let mut other = req(1, 1, 1);
        other.info_hash = InfoHash([8; 20]);
        assert!(t.announce(now, &other, ip()).is_err());
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let c = Request::Connect(ConnectRequest {
            transaction_id: TransactionId(1),
        })
        .to_bytes();
        assert!(matches!(
            Response::parse(&t.handle_udp(now, &c, src).unwrap(), false),
            Ok(Response::Connect(_))
        ));
        assert!(matches!(
            Response::parse(&t.handle_udp(now, &c, src).unwrap(), false),
            Ok(Response::Error(_))
        ));
        // Once the first id expired, there is room again.
        let later = now + Duration::from_secs(121);
        assert!(matches!(
            Response::parse(&t.handle_udp(later, &c, src).unwrap(), false),
            Ok(Response::Connect(_))
        ));
    }

    #[test]
    fn http_and_udp_front() {
        let mut t = MemoryTracker::new(MemoryTrackerConfig::default(), 1);
        let now = Instant::now();
        let q = format!("/announce?{}", req(1, 1, 5).to_query());
        let r = t.handle_http(now, q.as_bytes(), ip());
        assert_eq!(r.status, 200);
        parse_announce_response(&r.body).unwrap();
        let r = t.handle_http(now, b"/announce?info_hash=x", ip());
        assert!(parse_announce_response(&r.body)
            .unwrap_err()
            .failure_reason()
            .is_some());
        assert_eq!(t.handle_http(now, b"/x", ip()).status, 404);

        let src: SocketAddr = "127.0.0.1:9".parse().unwrap();
        // Bad connection id: error packet with the transaction id.
        let a = udp::AnnounceRequest::from_request(
            ConnectionId(5),
            TransactionId(77),
            &req(2, 2, 0),
            Default::default(),
        );
        let out = t
            .handle_udp(now, &Request::Announce(a.clone()).to_bytes(), src)
            .unwrap();
        assert!(
            matches!(Response::parse(&out, false), Ok(Response::Error(e)) if e.transaction_id == TransactionId(77))
        );
        // Garbage with a transaction id gets an error, without one nothing.
        let mut bad = vec![0u8; 16];
        bad[8..12].copy_from_slice(&9u32.to_be_bytes());
        bad[12..16].copy_from_slice(&5u32.to_be_bytes());
        assert!(
            matches!(Response::parse(&t.handle_udp(now, &bad, src).unwrap(), false), Ok(Response::Error(e)) if e.transaction_id == TransactionId(5))
        );
        assert_eq!(t.handle_udp(now, &bad[..10], src), None);
        // Connect, then announce: sees the HTTP peer.
        let c = Request::Connect(ConnectRequest {
            transaction_id: TransactionId(1),
        })
        .to_bytes();
        let Ok(Response::Connect(c)) = Response::parse(&t.handle_udp(now, &c, src).unwrap(), false)
        else {
            panic!()
        };
        let a = udp::AnnounceRequest {
            connection_id: c.connection_id,
            ..a
        };
        let Ok(Response::Announce(r)) = Response::parse(
            &t.handle_udp(now, &Request::Announce(a).to_bytes(), src)
                .unwrap(),
            false,
        ) else {
            panic!()
        };
        assert_eq!(r.peers, vec!["127.0.0.1:1".parse::<SocketAddr>().unwrap()]);
        assert_eq!((r.seeders, r.leechers), (1, 1));
        // The id is bound to the source address.
        let other: SocketAddr = "127.0.0.2:9".parse().unwrap();
        let s = Request::Scrape(udp::ScrapeRequest {
            connection_id: c.connection_id,
            transaction_id: TransactionId(3),
            info_hashes: vec![InfoHash([9; 20])],
        })
        .to_bytes();
        assert!(matches!(
            Response::parse(&t.handle_udp(now, &s, other).unwrap(), false),
            Ok(Response::Error(_))
        ));
        let Ok(Response::Scrape(s)) = Response::parse(&t.handle_udp(now, &s, src).unwrap(), false)
        else {
            panic!()
        };
        assert_eq!(s.stats[0].complete, 1);
    }
}
