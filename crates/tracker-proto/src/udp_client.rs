//! A sans-IO UDP tracker client (BEP 15): a state machine for one tracker
//! that says which packets to send and when, and turns packets received
//! into events. It owns no socket and reads no clock: time comes in as
//! `now: Instant`, randomness as a seed.
//!
//! Driving it, as `quinn` drives `quinn-proto`:
//! 1. queue work with [`UdpClient::announce`] / [`UdpClient::scrape`];
//! 2. send every packet from [`UdpClient::poll_transmit`];
//! 3. wait until a datagram arrives ([`UdpClient::handle_input`]) or
//!    [`UdpClient::poll_timeout`] passes ([`UdpClient::handle_timeout`]);
//! 4. collect results from [`UdpClient::poll_event`]; repeat.
//!
//! Behaviour (BEP 15 "Time outs"): a connection id is reused for
//! [`UdpClientConfig::connection_lifetime`] (60 s); a request not answered
//! after 15·2ⁿ s is sent again, n going from 0 up to
//! [`UdpClientConfig::max_retransmits`] (8, so 3840 s); a retransmission
//! after the connection id expired goes back to connecting. Responses whose
//! transaction id is not the one in flight are ignored. One query is in
//! flight at a time; others wait in order.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::common::{self, InfoHash, ScrapeStats};
use crate::error::Error;
use crate::udp::{
    self, ConnectRequest, ConnectionId, Request, Response, ScrapeRequest, TransactionId,
    MAX_SCRAPE_HASHES,
};

/// A small deterministic generator (SplitMix64) for transaction and
/// connection ids, seeded by the caller so protocol logic never reads
/// randomness itself.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Settings of a [`UdpClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpClientConfig {
    /// The tracker is reached over IPv6: announce responses carry 18-byte
    /// peers (BEP 15 "IPv6"). Default `false`.
    pub ipv6: bool,
    /// First retransmission timeout; doubles after each (BEP 15: 15 s).
    pub base_timeout: Duration,
    /// Retransmissions before a query fails with [`Error::Timeout`]
    /// (BEP 15: n up to 8).
    pub max_retransmits: u32,
    /// How long a connection id is reused (BEP 15: 1 minute).
    pub connection_lifetime: Duration,
    /// BEP 41 URL data (path and query of the `udp://` URL) sent with each
    /// announce; empty for none.
    pub url_data: Bytes,
}

impl Default for UdpClientConfig {
    fn default() -> Self {
        UdpClientConfig {
            ipv6: false,
            base_timeout: Duration::from_secs(15),
            max_retransmits: 8,
            connection_lifetime: Duration::from_secs(60),
            url_data: Bytes::new(),
        }
    }
}

/// Identifies a query given to a [`UdpClient`], in its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// Work for a [`UdpClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Query {
    Announce(common::AnnounceRequest),
    Scrape(Vec<InfoHash>),
}

/// What a [`UdpClient`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpClientEvent {
    /// An announce was answered.
    Announced {
        /// The query.
        id: QueryId,
        /// The tracker's answer.
        response: common::AnnounceResponse,
    },
    /// A scrape was answered.
    Scraped {
        /// The query.
        id: QueryId,
        /// Counts per info hash (those the tracker answered for).
        response: common::ScrapeResponse,
    },
    /// A query failed: [`Error::Failure`] (error packet),
    /// [`Error::Timeout`] (no answer after every retransmission) or
    /// [`Error::Encode`] (too many info hashes).
    Failed {
        /// The query.
        id: QueryId,
        /// Why.
        error: Error,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connecting,
    Requesting,
}

#[derive(Debug)]
struct InFlight {
    id: QueryId,
    query: Query,
    stage: Stage,
    tid: TransactionId,
    /// Retransmissions so far (n of BEP 15).
    attempt: u32,
    /// When the current send times out; `None` when a send is due.
    deadline: Option<Instant>,
    started: Instant,
}

/// The sans-IO UDP tracker client for one tracker. See the [module
/// docs](self).
///
/// ```
/// use std::time::{Duration, Instant};
/// use seedbed_tracker_proto::udp::{ConnectResponse, ConnectionId, Request, Response};
/// use seedbed_tracker_proto::udp_client::{UdpClient, UdpClientConfig};
/// use seedbed_tracker_proto::{AnnounceRequest, InfoHash, PeerId};
///
/// let now = Instant::now();
/// let mut c = UdpClient::new(UdpClientConfig::default(), 42);
/// c.announce(AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 6881));
/// let packet = c.poll_transmit(now).unwrap();
/// let Request::Connect(req) = Request::parse(&packet).unwrap() else { unreachable!() };
/// assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(15)));
/// // The tracker answers; the announce goes out next.
/// let answer = Response::Connect(ConnectResponse {
///     transaction_id: req.transaction_id,
///     connection_id: ConnectionId(99),
/// });
/// assert!(c.handle_input(now, &answer.to_bytes()));
/// let Request::Announce(a) = Request::parse(&c.poll_transmit(now).unwrap()).unwrap() else { unreachable!() };
/// assert_eq!(a.connection_id, ConnectionId(99));
/// ```
#[derive(Debug)]
pub struct UdpClient {
    config: UdpClientConfig,
    rng: SplitMix64,
    connection: Option<(ConnectionId, Instant)>,
    queue: VecDeque<(QueryId, Query)>,
    in_flight: Option<InFlight>,
    events: VecDeque<UdpClientEvent>,
    next_id: u64,
}

impl UdpClient {
    /// A client with no connection yet. `seed` seeds the transaction ids:
    /// pass a random value (from `rand` or the OS) in production, a fixed
    /// one in tests.
    pub fn new(config: UdpClientConfig, seed: u64) -> Self {
        UdpClient {
            config,
            rng: SplitMix64::new(seed),
            connection: None,
            queue: VecDeque::new(),
            in_flight: None,
            events: VecDeque::new(),
            next_id: 0,
        }
    }

    fn push(&mut self, q: Query) -> QueryId {
        let id = QueryId(self.next_id);
        self.next_id += 1;
        self.queue.push_back((id, q));
        id
    }

    /// Queues an announce. `compact`, `tracker_id` and `extra` have no UDP
    /// field and are not sent.
    pub fn announce(&mut self, req: common::AnnounceRequest) -> QueryId {
        self.push(Query::Announce(req))
    }

    /// Queues a scrape of up to [`MAX_SCRAPE_HASHES`] torrents; more fails
    /// at once with [`Error::Encode`].
    pub fn scrape(&mut self, info_hashes: Vec<InfoHash>) -> QueryId {
        if info_hashes.len() > MAX_SCRAPE_HASHES {
            let id = QueryId(self.next_id);
            self.next_id += 1;
            self.events.push_back(UdpClientEvent::Failed {
                id,
                error: Error::Encode {
                    reason: format!(
                        "{} info hashes in one UDP scrape, at most {MAX_SCRAPE_HASHES}",
                        info_hashes.len()
                    ),
                },
            });
            return id;
        }
        self.push(Query::Scrape(info_hashes))
    }

    /// The connection id in use, if one was obtained less than
    /// `connection_lifetime` before `now`.
    pub fn connection_id(&self, now: Instant) -> Option<ConnectionId> {
        self.connection
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.config.connection_lifetime)
            .map(|(c, _)| c)
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.queue.is_empty()
    }

    fn new_tid(&mut self) -> TransactionId {
        TransactionId(self.rng.next_u64() as u32)
    }

    /// The next datagram to send to the tracker, if one is due at `now`.
    /// Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.in_flight.is_none() {
            let (id, query) = self.queue.pop_front()?;
            let tid = self.new_tid();
            let stage = if self.connection_id(now).is_some() {
                Stage::Requesting
            } else {
                Stage::Connecting
            };
            self.in_flight = Some(InFlight {
                id,
                query,
                stage,
                tid,
                attempt: 0,
                deadline: None,
                started: now,
            });
        }
        let conn = self.connection_id(now);
        let fresh_tid = self.new_tid();
        let base = self.config.base_timeout;
        let url_data = self.config.url_data.clone();
        let f = self.in_flight.as_mut()?;
        if f.deadline.is_some() {
            return None;
        }
        if f.stage == Stage::Requesting && conn.is_none() {
            f.stage = Stage::Connecting;
            f.tid = fresh_tid;
        }
        f.deadline = Some(now + base * 2u32.saturating_pow(f.attempt.min(16)));
        let packet = match (f.stage, conn) {
            (Stage::Requesting, Some(cid)) => match &f.query {
                Query::Announce(req) => Request::Announce(udp::AnnounceRequest::from_request(
                    cid, f.tid, req, url_data,
                )),
                Query::Scrape(h) => Request::Scrape(ScrapeRequest {
                    connection_id: cid,
                    transaction_id: f.tid,
                    info_hashes: h.clone(),
                }),
            },
            _ => Request::Connect(ConnectRequest {
                transaction_id: f.tid,
            }),
        };
        Some(packet.to_bytes())
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next,
    /// or `None` when nothing waits for an answer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.as_ref().and_then(|f| f.deadline)
    }

    /// Handles the passing of time: schedules a retransmission, or fails
    /// the query after `max_retransmits`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let max = self.config.max_retransmits;
        let Some(f) = self.in_flight.as_mut() else {
            return;
        };
        match f.deadline {
            Some(d) if d <= now => {}
            _ => return,
        }
        if f.attempt >= max {
            let waited = now.saturating_duration_since(f.started).as_millis() as u64;
            let id = f.id;
            self.in_flight = None;
            self.events.push_back(UdpClientEvent::Failed {
                id,
                error: Error::Timeout { millis: waited },
            });
        } else {
            f.attempt += 1;
            f.deadline = None;
        }
    }

    /// Handles a datagram from the tracker. Returns whether it answered
    /// the query in flight; anything else (undecodable, other transaction
    /// id, unexpected action) is ignored and returns `false`.
    pub fn handle_input(&mut self, now: Instant, packet: &[u8]) -> bool {
        let Ok(resp) = Response::parse(packet, self.config.ipv6) else {
            return false;
        };
        let Some(f) = self.in_flight.as_mut() else {
            return false;
        };
        if resp.transaction_id() != f.tid {
            return false;
        }
        let id = f.id;
        let event = match (f.stage, resp, &f.query) {
            (_, Response::Error(e), _) => UdpClientEvent::Failed {
                id,
                error: Error::Failure { reason: e.message },
            },
            (Stage::Connecting, Response::Connect(c), _) => {
                self.connection = Some((c.connection_id, now));
                let tid = self.new_tid();
                if let Some(f) = self.in_flight.as_mut() {
                    f.stage = Stage::Requesting;
                    f.tid = tid;
                    f.attempt = 0;
                    f.deadline = None;
                }
                return true;
            }
            (Stage::Requesting, Response::Announce(a), Query::Announce(_)) => {
                UdpClientEvent::Announced {
                    id,
                    response: a.into(),
                }
            }
            (Stage::Requesting, Response::Scrape(s), Query::Scrape(hashes)) => {
                let files: BTreeMap<InfoHash, ScrapeStats> =
                    hashes.iter().copied().zip(s.stats).collect();
                UdpClientEvent::Scraped {
                    id,
                    response: common::ScrapeResponse { files },
                }
            }
            _ => return false,
        };
        self.in_flight = None;
        self.events.push_back(event);
        true
    }

    /// The next result, if any.
    pub fn poll_event(&mut self) -> Option<UdpClientEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::{AnnounceRequest, PeerId};
    use crate::udp::{AnnounceResponse, ConnectResponse, ErrorResponse, ScrapeResponse};

    fn req() -> AnnounceRequest {
        AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 6881)
    }

    fn parse(p: Vec<u8>) -> Request {
        Request::parse(&p).unwrap()
    }

    fn connect(c: &mut UdpClient, now: Instant, cid: u64) {
        let Request::Connect(r) = parse(c.poll_transmit(now).unwrap()) else {
            panic!("expected connect")
        };
        let resp = Response::Connect(ConnectResponse {
            transaction_id: r.transaction_id,
            connection_id: ConnectionId(cid),
        });
        assert!(c.handle_input(now, &resp.to_bytes()));
    }

    #[test]
    fn announce_then_reuse_connection_for_60s() {
        let t0 = Instant::now();
        let mut c = UdpClient::new(UdpClientConfig::default(), 1);
        let id = c.announce(req());
        connect(&mut c, t0, 7);
        let Request::Announce(a) = parse(c.poll_transmit(t0).unwrap()) else {
            panic!()
        };
        assert_eq!(a.connection_id, ConnectionId(7));
        // A response with another transaction id is ignored.
        let mut resp = AnnounceResponse {
            transaction_id: TransactionId(a.transaction_id.0 ^ 1),
            interval: 60,
            leechers: 1,
            seeders: 2,
            peers: vec!["1.2.3.4:5".parse().unwrap()],
        };
        assert!(!c.handle_input(t0, &Response::Announce(resp.clone()).to_bytes()));
        assert!(!c.handle_input(t0, b"garbage"));
        resp.transaction_id = a.transaction_id;
        assert!(c.handle_input(t0, &Response::Announce(resp).to_bytes()));
        match c.poll_event() {
            Some(UdpClientEvent::Announced { id: got, response }) => {
                assert_eq!(got, id);
                assert_eq!(response.complete, Some(2));
                assert_eq!(response.peers[0].addr.to_string(), "1.2.3.4:5");
            }
            e => panic!("{e:?}"),
        }
        assert!(c.is_idle());
        // 59 s later: no new connect.
        let t1 = t0 + Duration::from_secs(59);
        c.scrape(vec![InfoHash([1; 20]), InfoHash([3; 20])]);
        let Request::Scrape(s) = parse(c.poll_transmit(t1).unwrap()) else {
            panic!("expected scrape on the old connection")
        };
        assert_eq!(s.connection_id, ConnectionId(7));
        let sr = Response::Scrape(ScrapeResponse {
            transaction_id: s.transaction_id,
            stats: vec![ScrapeStats {
                complete: 1,
                downloaded: 2,
                incomplete: 3,
            }],
        });
        assert!(c.handle_input(t1, &sr.to_bytes()));
        let Some(UdpClientEvent::Scraped { response, .. }) = c.poll_event() else {
            panic!()
        };
        assert_eq!(response.files[&InfoHash([1; 20])].incomplete, 3);
        assert_eq!(response.files.len(), 1);
        // 60 s after connecting: connect again.
        c.announce(req());
        let t2 = t0 + Duration::from_secs(60);
        assert!(matches!(
            parse(c.poll_transmit(t2).unwrap()),
            Request::Connect(_)
        ));
    }

    #[test]
    fn bep15_retransmit_schedule() {
        // The "Announce times out" example of BEP 15: announce at 2, 17,
        // 47, connect at 107 (connection id expired), 227, ...
        let t0 = Instant::now();
        let mut c = UdpClient::new(UdpClientConfig::default(), 2);
        c.announce(req());
        connect(&mut c, t0 + Duration::from_secs(1), 5);
        let mut sends = Vec::new();
        let mut now = t0 + Duration::from_secs(2);
        loop {
            while let Some(p) = c.poll_transmit(now) {
                let kind = match parse(p) {
                    Request::Connect(_) => "connect",
                    Request::Announce(_) => "announce",
                    Request::Scrape(_) => "scrape",
                };
                sends.push(((now - t0).as_secs(), kind));
            }
            match c.poll_timeout() {
                Some(t) => {
                    now = t;
                    c.handle_timeout(now);
                }
                None => break,
            }
        }
        assert_eq!(
            &sends[..5],
            &[
                (2, "announce"),
                (17, "announce"),
                (47, "announce"),
                (107, "connect"),
                (227, "connect")
            ]
        );
        // n goes up to 8: 9 sends in all, the last timing out after 3840 s.
        assert_eq!(sends.len(), 9);
        assert_eq!(sends[8].0, 2 + 15 * 255);
        match c.poll_event() {
            Some(UdpClientEvent::Failed {
                error: Error::Timeout { millis },
                ..
            }) => assert_eq!(millis, (15 * 511 + 1) * 1000), // since the query started at t=1
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn error_packet_fails_query_and_queue_continues() {
        let t0 = Instant::now();
        let mut c = UdpClient::new(UdpClientConfig::default(), 3);
        let a = c.announce(req());
        let b = c.announce(req());
        let Request::Connect(r) = parse(c.poll_transmit(t0).unwrap()) else {
            panic!()
        };
        assert_eq!(c.poll_transmit(t0), None, "one query in flight");
        let e = Response::Error(ErrorResponse {
            transaction_id: r.transaction_id,
            message: "not whitelisted".into(),
        });
        assert!(c.handle_input(t0, &e.to_bytes()));
        match c.poll_event() {
            Some(UdpClientEvent::Failed { id, error }) => {
                assert_eq!(id, a);
                assert_eq!(error.failure_reason(), Some("not whitelisted"));
            }
            e => panic!("{e:?}"),
        }
        assert!(c.poll_transmit(t0).is_some());
        assert!(!c.is_idle());
        let too_many = c.scrape(vec![InfoHash([0; 20]); MAX_SCRAPE_HASHES + 1]);
        assert!(matches!(
            c.poll_event(),
            Some(UdpClientEvent::Failed { id, error: Error::Encode { .. } }) if id == too_many
        ));
        assert_ne!(a, b);
    }
}
