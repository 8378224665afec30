//! The DHT node as a sans-IO state machine ([`Dht`]), modelled on
//! quinn-proto: datagrams and time go in ([`Dht::handle`],
//! [`Dht::handle_timeout`]), datagrams, events and the next deadline come
//! out ([`Dht::poll_transmit`], [`Dht::poll_event`], [`Dht::poll_timeout`]).
//! It owns no socket, reads no clock and draws no random numbers: a seed
//! given at creation feeds its transaction ids, token secrets and refresh
//! targets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use seedbed_metainfo::InfoHash;

use crate::compact::{canonical, encode_node, CompactNodes, Family, NodeInfo};
use crate::config::Config;
use crate::error::Error;
use crate::event::{
    Event, LookupId, LookupKind, LookupStats, RequestId, Stats, TableStats, Transmit,
};
use crate::id::NodeId;
use crate::krpc::{
    Body, ErrorCode, ErrorReply, Message, Query, Response, Samples, TransactionId, Values, Want,
};
use crate::lookup::Search;
use crate::rng::Rng;
use crate::routing::{Insert, NodeState, RoutingTable};
use crate::secure_id::{is_secure_node_id, secure_node_id};
use crate::state::{RoutingState, MAX_STATE_NODES};
use crate::storage::{PeerStore, Stored};
use crate::token::Tokens;

/// How often expired peers are purged and questionable nodes pinged.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);
/// Questionable nodes pinged per maintenance round.
const QUESTIONABLE_PINGS: usize = 8;
/// Bucket refresh lookups started at once.
const MAX_REFRESHES: usize = 4;
/// Bootstrap nodes remembered for re-bootstrapping an empty table.
const MAX_ROUTERS: usize = 32;
/// External address candidates tracked while voting.
const MAX_VOTE_CANDIDATES: usize = 8;
/// First wait before bootstrapping again when a bootstrap found nobody;
/// doubled each time up to [`REBOOTSTRAP_MAX`].
const REBOOTSTRAP_MIN: Duration = Duration::from_secs(5);
const REBOOTSTRAP_MAX: Duration = Duration::from_secs(300);
/// How long a starved lookup (transaction limit reached) waits to retry.
const STARVED_RETRY: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Search {
        lookup: LookupId,
        search: usize,
    },
    Announce {
        lookup: LookupId,
        search: usize,
    },
    Ping(RequestId),
    /// A node that queried us (or a BEP 5 PORT message): enters the table
    /// if it answers.
    Verify,
    /// A table node: ping-before-replace, or a questionable node.
    Check,
    Sample(RequestId),
}

#[derive(Clone, Debug)]
struct Pending {
    to: SocketAddr,
    node: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Debug)]
struct Lookup {
    kind: LookupKind,
    target: NodeId,
    searches: Vec<Search>,
    stats: LookupStats,
    peers_seen: HashSet<SocketAddr>,
}

#[derive(Clone, Copy, Debug)]
struct ActiveAnnounce {
    port: u16,
    implied_port: bool,
    next: Instant,
}

/// A Mainline DHT node (BEP 5, with BEP 32, 42, 43 and 51), sans-IO.
///
/// Feed it every received KRPC datagram with [`handle`](Self::handle), call
/// [`handle_timeout`](Self::handle_timeout) when
/// [`poll_timeout`](Self::poll_timeout) says, and after each call send what
/// [`poll_transmit`](Self::poll_transmit) gives and read
/// [`poll_event`](Self::poll_event). Commands start lookups and queries.
///
/// ```
/// use std::time::Instant;
/// use seedbed_dht::{Config, Dht, Event, NodeId};
///
/// let now = Instant::now();
/// let mut a = Dht::new(Config::default(), NodeId([1; 20]), [1; 32], now);
/// let mut b = Dht::new(Config::default(), NodeId([2; 20]), [2; 32], now);
/// let (addr_a, addr_b) = ("127.0.0.1:6881".parse().unwrap(), "127.0.0.1:6882".parse().unwrap());
///
/// let request = a.ping(now, addr_b)?;
/// let query = a.poll_transmit().unwrap();          // a -> b
/// b.handle(now, addr_a, &query.data);
/// let reply = b.poll_transmit().unwrap();          // b -> a
/// a.handle(now, addr_b, &reply.data);
/// let pong = std::iter::from_fn(|| a.poll_event())
///     .find(|e| matches!(e, Event::Pong { .. }))
///     .unwrap();
/// assert!(matches!(pong, Event::Pong { request: r, node } if r == request && node.id == NodeId([2; 20])));
/// assert_eq!(a.stats().table_v4.nodes, 1); // b answered: it is in a's table
/// # Ok::<(), seedbed_dht::Error>(())
/// ```
#[derive(Debug)]
pub struct Dht {
    config: Config,
    id: NodeId,
    rng: Rng,
    /// Index 0: IPv4, 1: IPv6.
    tables: [Option<RoutingTable>; 2],
    storage: PeerStore,
    tokens: Tokens,
    pending: HashMap<u32, Pending>,
    /// (deadline, transaction id) of every pending transaction.
    deadlines: BTreeSet<(Instant, u32)>,
    lookups: BTreeMap<LookupId, Lookup>,
    announces: BTreeMap<InfoHash, ActiveAnnounce>,
    routers: Vec<SocketAddr>,
    saved: Vec<NodeInfo>,
    verifying: HashSet<SocketAddr>,
    votes: Vec<(SocketAddr, Vec<IpAddr>)>,
    external: [Option<SocketAddr>; 2],
    id_secured: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_id: u64,
    next_maintenance: Instant,
    /// When to bootstrap again after a bootstrap that got no answer or left
    /// fewer than K nodes in the tables, and the back-off (5 s doubling to
    /// 5 minutes).
    rebootstrap: Option<Instant>,
    rebootstrap_backoff: Duration,
    last_now: Instant,
    starved: bool,
    counters: Stats,
}

fn slot(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl Dht {
    /// A node with id `id` (use [`secure_node_id`] for a BEP 42 id once the
    /// external IP is known, or a random one; [`RoutingState::id`] keeps
    /// it across restarts), seeded with 32 random bytes for the values it
    /// picks (transaction ids, token secrets, refresh targets).
    pub fn new(config: Config, id: NodeId, seed: [u8; 32], now: Instant) -> Self {
        let mut rng = Rng::new(seed);
        let tokens = Tokens::new(rng.bytes20(), now);
        let table = |on: bool| on.then(|| RoutingTable::new(id, config.table, now));
        Dht {
            tables: [table(config.ipv4), table(config.ipv6)],
            storage: PeerStore::new(config.storage),
            tokens,
            rng,
            id,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            lookups: BTreeMap::new(),
            announces: BTreeMap::new(),
            routers: Vec::new(),
            saved: Vec::new(),
            verifying: HashSet::new(),
            votes: Vec::new(),
            external: [None, None],
            id_secured: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            next_maintenance: now + MAINTENANCE_EVERY,
            rebootstrap: None,
            rebootstrap_backoff: REBOOTSTRAP_MIN,
            last_now: now,
            starved: false,
            counters: Stats::default(),
            config,
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The routing table of `family`, if that family is enabled.
    pub fn table(&self, family: Family) -> Option<&RoutingTable> {
        self.tables[slot(family)].as_ref()
    }

    /// Our external address in `family`, once enough nodes agreed on it
    /// ([`Config::external_votes`]).
    pub fn external_addr(&self, family: Family) -> Option<SocketAddr> {
        self.external[slot(family)]
    }

    // -----------------------------------------------------------------
    // Output

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_maintenance.min(self.tokens.next_rotation());
        if let Some((d, _)) = self.deadlines.first() {
            t = t.min(*d);
        }
        // A due refresh counts only when a refresh lookup may start (else
        // the end of a running one brings the node back here).
        if self.refreshing() < MAX_REFRESHES {
            for table in self.tables.iter().flatten() {
                if !table.is_empty() {
                    if let Some(r) = table.next_refresh(self.config.refresh_interval) {
                        t = t.min(r);
                    }
                }
            }
        }
        if let Some(a) = self.announces.values().map(|a| a.next).min() {
            t = t.min(a);
        }
        if self.starved {
            t = t.min(self.last_now + STARVED_RETRY);
        }
        if let Some(r) = self.rebootstrap {
            t = t.min(r);
        }
        Some(t)
    }

    /// Refresh and bootstrap lookups running.
    fn refreshing(&self) -> usize {
        self.lookups
            .values()
            .filter(|l| matches!(l.kind, LookupKind::Refresh | LookupKind::Bootstrap))
            .count()
    }

    fn event(&mut self, e: Event) {
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
            self.counters.events_dropped += 1;
        }
        self.events.push_back(e);
    }

    fn transmit(&mut self, to: SocketAddr, msg: &Message<'_>) {
        self.counters.sent += 1;
        self.transmits.push_back(Transmit {
            to,
            data: msg.to_vec(),
        });
    }

    // -----------------------------------------------------------------
    // Statistics

    /// Counters and sizes: tables, storage, transactions, lookups, queues.
    pub fn stats(&self) -> Stats {
        let table = |t: &Option<RoutingTable>| {
            t.as_ref().map_or(TableStats::default(), |t| {
                let (good, questionable, bad) = t.state_counts(self.last_now);
                TableStats {
                    nodes: t.len(),
                    good,
                    questionable,
                    bad,
                    buckets: t.bucket_count(),
                    replacements: t.replacement_count(),
                }
            })
        };
        Stats {
            id: self.id,
            external_ip: self.external.iter().flatten().next().map(|a| a.ip()),
            table_v4: table(&self.tables[0]),
            table_v6: table(&self.tables[1]),
            storage: self.storage.stats(),
            pending: self.pending.len(),
            lookups: self.lookups.len(),
            announces: self.announces.len(),
            events_queued: self.events.len(),
            ..self.counters.clone()
        }
    }

    /// The routing tables as a [`RoutingState`] to save (BEP 5: "the
    /// routing table should be saved between invocations").
    pub fn routing_state(&self) -> RoutingState {
        RoutingState {
            id: self.id,
            nodes: self
                .tables
                .iter()
                .flatten()
                .flat_map(|t| t.entries())
                .filter(|e| e.failures == 0)
                .map(|e| e.info)
                .collect(),
        }
    }

    /// Nodes from a saved [`RoutingState`] to start from: the next
    /// [`bootstrap`](Self::bootstrap) asks them first (they enter the table
    /// when they answer). At most [`MAX_STATE_NODES`] are kept.
    pub fn add_saved_nodes(&mut self, nodes: &[NodeInfo]) {
        let room = MAX_STATE_NODES.saturating_sub(self.saved.len());
        self.saved.extend(nodes.iter().take(room).copied());
    }

    // -----------------------------------------------------------------
    // Commands

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Joins the DHT: a `find_node` lookup for our own id (BEP 5), starting
    /// from `nodes` (bootstrap nodes, ids unknown), the saved nodes
    /// ([`add_saved_nodes`](Self::add_saved_nodes)) and the table. The
    /// `nodes` are remembered to bootstrap again if the table empties.
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_lookups`] lookups are running.
    pub fn bootstrap(&mut self, now: Instant, nodes: &[SocketAddr]) -> Result<LookupId, Error> {
        for n in nodes {
            let n = canonical(*n);
            if !self.routers.contains(&n) && self.routers.len() < MAX_ROUTERS {
                self.routers.push(n);
            }
        }
        let routers: Vec<SocketAddr> = nodes.iter().map(|a| canonical(*a)).collect();
        let saved = std::mem::take(&mut self.saved);
        self.start_lookup(now, LookupKind::Bootstrap, self.id, &routers, &saved)
    }

    /// Finds the K nodes closest to `target` (iterative `find_node`); the
    /// result comes in [`Event::LookupDone`].
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_lookups`] lookups are running.
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> Result<LookupId, Error> {
        self.start_lookup(now, LookupKind::FindNode, target, &[], &[])
    }

    /// Looks up peers of `info_hash` (iterative `get_peers`): peers come in
    /// [`Event::Peers`] as they are found, then [`Event::LookupDone`].
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_lookups`] lookups are running.
    pub fn get_peers(&mut self, now: Instant, info_hash: InfoHash) -> Result<LookupId, Error> {
        self.start_lookup(now, LookupKind::GetPeers, info_hash.into(), &[], &[])
    }

    /// Announces that we are a peer of `info_hash` on `port` (or, with
    /// `implied_port`, on our UDP source port): a `get_peers` lookup, then
    /// `announce_peer` to the K closest nodes that gave tokens. The
    /// announce stays active and is repeated every
    /// [`Config::reannounce_interval`] (30 minutes) until
    /// [`stop_announce`](Self::stop_announce). Peers found on the way come
    /// in [`Event::Peers`].
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_announces`] info hashes are
    /// announced or [`Config::max_lookups`] lookups are running.
    pub fn announce(
        &mut self,
        now: Instant,
        info_hash: InfoHash,
        port: u16,
        implied_port: bool,
    ) -> Result<LookupId, Error> {
        if !self.announces.contains_key(&info_hash)
            && self.announces.len() >= self.config.max_announces
        {
            return Err(Error::Limit {
                what: "announces",
                limit: self.config.max_announces,
            });
        }
        let id = self.start_lookup(
            now,
            LookupKind::Announce { port, implied_port },
            info_hash.into(),
            &[],
            &[],
        )?;
        self.announces.insert(
            info_hash,
            ActiveAnnounce {
                port,
                implied_port,
                next: now + self.config.reannounce_interval,
            },
        );
        Ok(id)
    }

    /// Stops re-announcing `info_hash`. Returns whether it was announced.
    pub fn stop_announce(&mut self, info_hash: &InfoHash) -> bool {
        self.announces.remove(info_hash).is_some()
    }

    /// Stops a lookup (no [`Event::LookupDone`] follows). Returns whether it
    /// was running.
    pub fn cancel(&mut self, lookup: LookupId) -> bool {
        self.lookups.remove(&lookup).is_some()
    }

    /// Pings `addr`; the answer comes as [`Event::Pong`] (and the node
    /// enters the table), silence as [`Event::RequestFailed`].
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_pending`] transactions are in
    /// flight.
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) -> Result<RequestId, Error> {
        let request = RequestId(self.next_id());
        let q = Query::Ping { id: self.id };
        self.send_query(now, canonical(addr), None, q, Purpose::Ping(request))?;
        Ok(request)
    }

    /// Asks `addr` for a sample of the info hashes it stores (BEP 51
    /// `sample_infohashes`); the answer comes as [`Event::Samples`].
    ///
    /// # Errors
    /// [`Error::Limit`] when [`Config::max_pending`] transactions are in
    /// flight.
    pub fn sample_infohashes(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        target: NodeId,
    ) -> Result<RequestId, Error> {
        let request = RequestId(self.next_id());
        let addr = canonical(addr);
        let q = Query::SampleInfohashes {
            id: self.id,
            target,
            want: None,
        };
        self.send_query(now, addr, None, q, Purpose::Sample(request))?;
        Ok(request)
    }

    /// A node worth knowing (BEP 5 PORT message: a peer's DHT port): it is
    /// pinged and enters the table if it answers. Ignored when that address
    /// is already being checked or [`Config::max_verify_pings`] are in
    /// flight.
    pub fn add_node(&mut self, now: Instant, addr: SocketAddr) {
        self.verify(now, canonical(addr), None);
    }

    // -----------------------------------------------------------------
    // Sending queries

    fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        node: Option<NodeId>,
        query: Query<'_>,
        purpose: Purpose,
    ) -> Result<u32, Error> {
        if self.pending.len() >= self.config.max_pending {
            return Err(Error::Limit {
                what: "transactions in flight",
                limit: self.config.max_pending,
            });
        }
        if self.tables[slot(Family::of(&to))].is_none() {
            return Err(Error::NoSocket { addr: to });
        }
        let tid = loop {
            let t = self.rng.next_u64() as u32;
            if !self.pending.contains_key(&t) {
                break t;
            }
        };
        let version = self.config.version;
        let msg = Message {
            transaction_id: TransactionId::from_u32(tid),
            version: version.as_ref().map(|v| &v[..]),
            ip: None,
            read_only: self.config.read_only,
            body: Body::Query(query),
        };
        self.transmit(to, &msg);
        let deadline = now + self.config.query_timeout;
        self.pending.insert(
            tid,
            Pending {
                to,
                node,
                deadline,
                purpose,
            },
        );
        self.deadlines.insert((deadline, tid));
        Ok(tid)
    }

    fn verify(&mut self, now: Instant, addr: SocketAddr, _id: Option<NodeId>) {
        if self.verifying.contains(&addr) || self.verifying.len() >= self.config.max_verify_pings {
            return;
        }
        let q = Query::Ping { id: self.id };
        if self.send_query(now, addr, None, q, Purpose::Verify).is_ok() {
            self.verifying.insert(addr);
        }
    }

    fn check(&mut self, now: Instant, node: NodeInfo) {
        let q = Query::Ping { id: self.id };
        if self
            .send_query(now, node.addr, Some(node.id), q, Purpose::Check)
            .is_err()
        {
            if let Some(t) = self.tables[slot(Family::of(&node.addr))].as_mut() {
                t.ping_done(&node.id);
            }
        }
    }

    // -----------------------------------------------------------------
    // Lookups

    fn start_lookup(
        &mut self,
        now: Instant,
        kind: LookupKind,
        target: NodeId,
        routers: &[SocketAddr],
        saved: &[NodeInfo],
    ) -> Result<LookupId, Error> {
        self.last_now = now;
        if self.lookups.len() >= self.config.max_lookups {
            return Err(Error::Limit {
                what: "lookups",
                limit: self.config.max_lookups,
            });
        }
        let id = LookupId(self.next_id());
        let k = self.config.table.k;
        let mut searches = Vec::new();
        for family in [Family::V4, Family::V6] {
            let Some(table) = self.tables[slot(family)].as_ref() else {
                continue;
            };
            let mut s = Search::new(family, target, k, self.config.max_candidates);
            for n in table.closest(&target, 2 * k, self.config.enforce_node_id) {
                s.add(Some(n.id), n.addr, 1);
            }
            for n in saved {
                s.add(Some(n.id), n.addr, 1);
            }
            for a in routers {
                s.add(None, *a, 1);
            }
            searches.push(s);
        }
        // Peers announced to this node count too: it may itself be one of
        // the closest nodes to the info hash.
        let mut peers_seen = HashSet::new();
        if matches!(kind, LookupKind::GetPeers | LookupKind::Announce { .. }) {
            let info_hash: InfoHash = target.into();
            let mut local = Vec::new();
            for s in &searches {
                let max = self.config.max_lookup_peers.saturating_sub(local.len());
                local.extend(self.storage.peers(&info_hash, s.family, max, now, 0));
            }
            peers_seen.extend(local.iter().copied());
            if !local.is_empty() {
                self.event(Event::Peers {
                    lookup: id,
                    info_hash,
                    peers: local,
                });
            }
        }
        self.lookups.insert(
            id,
            Lookup {
                kind,
                target,
                searches,
                stats: LookupStats::default(),
                peers_seen,
            },
        );
        self.drive(now, id);
        Ok(id)
    }

    /// Sends what a lookup can send, starts its announces once it has
    /// converged, and finishes it when all is done.
    fn drive(&mut self, now: Instant, id: LookupId) {
        let Some(mut lookup) = self.lookups.remove(&id) else {
            return;
        };
        let enforce = self.config.enforce_node_id;
        let alpha = self.config.alpha.max(1);
        let both = self.tables.iter().all(Option::is_some);
        let want = match lookup.kind {
            LookupKind::Bootstrap if both => Some(Want::BOTH),
            _ => None,
        };
        for (i, s) in lookup.searches.iter_mut().enumerate() {
            while let Some((addr, node)) = s.next(alpha, enforce) {
                let q = match lookup.kind {
                    LookupKind::GetPeers | LookupKind::Announce { .. } => Query::GetPeers {
                        id: self.id,
                        info_hash: lookup.target.into(),
                        want,
                    },
                    _ => Query::FindNode {
                        id: self.id,
                        target: lookup.target,
                        want,
                    },
                };
                match self.send_query(
                    now,
                    addr,
                    node,
                    q,
                    Purpose::Search {
                        lookup: id,
                        search: i,
                    },
                ) {
                    Ok(_) => lookup.stats.queries += 1,
                    Err(_) => {
                        s.unsend(addr);
                        self.starved = true;
                        break;
                    }
                }
            }
        }
        let converged = lookup.searches.iter().all(|s| s.converged(enforce));
        if !converged {
            self.lookups.insert(id, lookup);
            return;
        }
        if let LookupKind::Announce { port, implied_port } = lookup.kind {
            let info_hash: InfoHash = lookup.target.into();
            for (i, s) in lookup.searches.iter_mut().enumerate() {
                if s.announce_started {
                    continue;
                }
                s.announce_started = true;
                for (node, token) in s.announce_targets(enforce) {
                    let q = Query::AnnouncePeer {
                        id: self.id,
                        info_hash,
                        port,
                        implied_port,
                        token: &token,
                    };
                    if self
                        .send_query(
                            now,
                            node.addr,
                            Some(node.id),
                            q,
                            Purpose::Announce {
                                lookup: id,
                                search: i,
                            },
                        )
                        .is_ok()
                    {
                        s.announce_pending += 1;
                        lookup.stats.announces_sent += 1;
                    }
                }
            }
            if lookup.searches.iter().any(|s| s.announce_pending > 0) {
                self.lookups.insert(id, lookup);
                return;
            }
        }
        self.finish(now, id, lookup);
    }

    fn finish(&mut self, now: Instant, id: LookupId, mut lookup: Lookup) {
        if lookup.kind == LookupKind::Bootstrap {
            let nodes: usize = self.tables.iter().flatten().map(|t| t.len()).sum();
            if (lookup.stats.responses == 0 || nodes < self.config.table.k)
                && !self.routers.is_empty()
            {
                self.rebootstrap = Some(now + self.rebootstrap_backoff);
                self.rebootstrap_backoff = (self.rebootstrap_backoff * 2).min(REBOOTSTRAP_MAX);
            } else {
                self.rebootstrap_backoff = REBOOTSTRAP_MIN;
                let interval = self.config.refresh_interval;
                for t in self.tables.iter_mut().flatten() {
                    t.refresh_sparse_at(now, interval);
                }
            }
        }
        let mut closest = Vec::new();
        let mut hops = 0;
        for s in &lookup.searches {
            let (c, h) = s.closest();
            closest.extend(c);
            hops = hops.max(h);
        }
        closest.sort_by_key(|a| a.0);
        closest.truncate(self.config.table.k);
        lookup.stats.closest = closest.into_iter().map(|(_, n)| n).collect();
        lookup.stats.hops = hops;
        lookup.stats.peers = lookup.peers_seen.len() as u32;
        self.event(Event::LookupDone {
            lookup: id,
            kind: lookup.kind,
            target: lookup.target,
            stats: lookup.stats,
        });
    }

    // -----------------------------------------------------------------
    // Input

    /// Handles one received datagram from `from`: answers queries, matches
    /// replies to our transactions, drives lookups. Datagrams over
    /// [`Config::max_datagram_len`], undecodable ones, and replies matching
    /// no transaction of ours (by id and sender) are dropped and counted
    /// ([`Stats`]); a malformed query whose transaction id was readable is
    /// answered with error 203.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.last_now = now;
        self.counters.received += 1;
        let from = canonical(from);
        if datagram.len() > self.config.max_datagram_len {
            self.counters.too_long += 1;
            return;
        }
        if from.port() == 0 || self.tables[slot(Family::of(&from))].is_none() {
            return;
        }
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                if let Some(t) = e.error_reply_id() {
                    if !self.config.read_only {
                        let t = *t;
                        self.reply_error(from, t, ErrorCode::Protocol, b"invalid message");
                    }
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.on_query(now, from, &msg, q),
            Body::Response(r) => self.on_response(now, from, &msg, r),
            Body::Error(e) => self.on_error(now, from, &msg, e),
        }
    }

    fn reply_error(&mut self, to: SocketAddr, t: TransactionId, code: ErrorCode, message: &[u8]) {
        let version = self.config.version;
        let msg = Message {
            transaction_id: t,
            version: version.as_ref().map(|v| &v[..]),
            ip: Some(to),
            read_only: false,
            body: Body::Error(ErrorReply {
                code,
                message,
                id: Some(self.id),
            }),
        };
        self.transmit(to, &msg);
    }

    fn compact_nodes(&self, family: Family, target: &NodeId, out: &mut Vec<u8>) -> bool {
        let Some(table) = self.tables[slot(family)].as_ref() else {
            return false;
        };
        for n in table.closest(target, self.config.table.k, false) {
            encode_node(&n, out);
        }
        true
    }

    fn on_query(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, q: Query<'_>) {
        self.counters.queries_received += 1;
        if self.config.read_only {
            return;
        }
        self.serve_query(now, from, msg, q);
        // Routing, after the answer is on its way: a known node stays good;
        // a new one is checked with a ping and enters the table only if it
        // answers. Read-only nodes (BEP 43) are served but never added.
        let sender = q.id();
        if !msg.read_only && sender != self.id {
            let family = Family::of(&from);
            let secure = is_secure_node_id(&sender, from.ip());
            let known = self.tables[slot(family)]
                .as_mut()
                .is_some_and(|t| t.heard_from(&sender, from, now));
            if !known && (secure || !self.config.enforce_node_id) {
                self.verify(now, from, Some(sender));
            }
        }
    }

    fn serve_query(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, q: Query<'_>) {
        let family = Family::of(&from);
        let (want4, want6) = wanted(&q, family);
        let mut n4 = Vec::new();
        let mut n6 = Vec::new();
        let token;
        let values;
        let samples;
        let t = msg.transaction_id;
        let mut r = Response::new(self.id);
        match q {
            Query::Ping { .. } => {}
            Query::FindNode { target, .. } => {
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
            }
            Query::GetPeers { info_hash, .. } => {
                let target = NodeId::from(info_hash);
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
                token = self.tokens.issue(from.ip());
                r.token = Some(&token);
                let max = match family {
                    Family::V4 => self.config.max_values,
                    Family::V6 => self.config.max_values / 2,
                };
                let random = self.rng.next_u64();
                values = self.storage.peers(&info_hash, family, max, now, random);
                if !values.is_empty() {
                    r.values = Some(Values::from_peers(&values));
                }
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.tokens.verify(from.ip(), token) {
                    self.counters.bad_tokens += 1;
                    self.reply_error(from, t, ErrorCode::Protocol, b"bad token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.reply_error(from, t, ErrorCode::Protocol, b"invalid port");
                    return;
                }
                let peer = SocketAddr::new(from.ip(), port);
                match self.storage.announce(info_hash, peer, now) {
                    Stored::Full | Stored::IpLimit => {
                        self.reply_error(from, t, ErrorCode::Server, b"storage full");
                        return;
                    }
                    Stored::Added => self.event(Event::PeerAnnounced { info_hash, peer }),
                    Stored::Refreshed => {}
                }
            }
            Query::SampleInfohashes { target, .. } => {
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
                let random = self.rng.bytes20();
                samples = self
                    .storage
                    .sample(self.config.max_samples, random)
                    .iter()
                    .flat_map(|h| h.0)
                    .collect::<Vec<u8>>();
                r.samples = Some(Samples::new(&samples));
                r.num = Some(self.storage.stats().info_hashes as i64);
                r.interval = Some(i64::from(self.config.sample_interval.min(21600)));
            }
            Query::Unknown { .. } => {
                self.counters.unknown_methods += 1;
                self.reply_error(from, t, ErrorCode::MethodUnknown, b"method unknown");
                return;
            }
        }
        let version = self.config.version;
        let reply = Message {
            transaction_id: t,
            version: version.as_ref().map(|v| &v[..]),
            ip: Some(from),
            read_only: false,
            body: Body::Response(r),
        };
        self.transmit(from, &reply);
    }

    /// Takes the pending transaction a reply answers: same transaction id
    /// and same sender, else `None` (counted, ignored).
    fn take_pending(&mut self, from: SocketAddr, t: &TransactionId) -> Option<Pending> {
        let found = t
            .to_u32()
            .filter(|tid| self.pending.get(tid).is_some_and(|p| p.to == from));
        match found {
            Some(tid) => {
                let p = self.pending.remove(&tid)?;
                self.deadlines.remove(&(p.deadline, tid));
                Some(p)
            }
            None => {
                self.counters.unknown_transactions += 1;
                None
            }
        }
    }

    fn on_response(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, r: Response<'_>) {
        let Some(p) = self.take_pending(from, &msg.transaction_id) else {
            return;
        };
        let family = Family::of(&from);
        let node = NodeInfo::new(r.id, from);
        let secure = is_secure_node_id(&r.id, from.ip());
        if !secure {
            self.counters.insecure_ids += 1;
            self.event(Event::InsecureNodeId { node });
        }
        if r.id != self.id && (secure || !self.config.enforce_node_id) {
            if let Some(table) = self.tables[slot(family)].as_mut() {
                match table.insert(node, now, secure) {
                    Insert::Added => self.event(Event::NodeAdded(node)),
                    Insert::Pending { ping } => self.check(now, ping),
                    _ => {}
                }
            }
        }
        if let Some(ip) = msg.ip {
            self.vote(now, from.ip(), ip);
        }
        match p.purpose {
            Purpose::Search { lookup, search } => {
                self.search_response(now, lookup, search, from, &r, secure)
            }
            Purpose::Announce { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    l.stats.announces_acked += 1;
                    if let Some(s) = l.searches.get_mut(search) {
                        s.announce_pending = s.announce_pending.saturating_sub(1);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Ping(request) => self.event(Event::Pong { request, node }),
            Purpose::Verify => {
                self.verifying.remove(&from);
            }
            Purpose::Check => {}
            Purpose::Sample(request) => {
                let mut nodes: Vec<NodeInfo> = r.nodes.iter().flat_map(|n| n.iter()).collect();
                nodes.extend(r.nodes6.iter().flat_map(|n| n.iter()));
                self.event(Event::Samples {
                    request,
                    node,
                    samples: r.samples.map(|s| s.iter().collect()).unwrap_or_default(),
                    num: r.num,
                    interval: r.interval,
                    nodes,
                });
            }
        }
    }

    fn search_response(
        &mut self,
        now: Instant,
        id: LookupId,
        search: usize,
        from: SocketAddr,
        r: &Response<'_>,
        secure: bool,
    ) {
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        lookup.stats.responses += 1;
        let Some(depth) = lookup
            .searches
            .get_mut(search)
            .and_then(|s| s.responded(from, r.id, r.token, secure))
        else {
            return;
        };
        let own = self.id;
        for s in &mut lookup.searches {
            let list = match s.family {
                Family::V4 => r.nodes,
                Family::V6 => r.nodes6,
            };
            for n in list.iter().flat_map(|l| l.iter()) {
                if n.id != own {
                    s.add(Some(n.id), n.addr, depth + 1);
                }
            }
        }
        if let (Some(values), LookupKind::GetPeers | LookupKind::Announce { .. }) =
            (r.values, lookup.kind)
        {
            let mut new = Vec::new();
            for peer in values.iter() {
                if peer.port() == 0 || lookup.peers_seen.len() >= self.config.max_lookup_peers {
                    continue;
                }
                if lookup.peers_seen.insert(canonical(peer)) {
                    new.push(canonical(peer));
                }
            }
            if !new.is_empty() {
                let info_hash = lookup.target.into();
                self.event(Event::Peers {
                    lookup: id,
                    info_hash,
                    peers: new,
                });
            }
        }
        self.drive(now, id);
    }

    fn on_error(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, e: ErrorReply<'_>) {
        let Some(p) = self.take_pending(from, &msg.transaction_id) else {
            return;
        };
        let error = Error::Remote {
            code: e.code.code(),
            message: String::from_utf8_lossy(e.message).into_owned(),
        };
        self.failed(now, p, Some(error));
    }

    /// A transaction ended without a reply (`error` `None`: timeout) or
    /// with an error reply.
    fn failed(&mut self, now: Instant, p: Pending, error: Option<Error>) {
        let timed_out = error.is_none();
        if timed_out {
            self.counters.timeouts += 1;
            if let (Some(id), Some(table)) = (p.node, self.tables[slot(Family::of(&p.to))].as_mut())
            {
                let state = table.failed(&id, p.to, now);
                // BEP 5: a node that fails a check once is tried once more.
                if matches!(p.purpose, Purpose::Check) && state == Some(NodeState::Questionable) {
                    self.check(now, NodeInfo::new(id, p.to));
                }
            }
        }
        match p.purpose {
            Purpose::Search { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    if timed_out {
                        l.stats.timeouts += 1;
                    } else {
                        l.stats.errors += 1;
                    }
                    if let Some(s) = l.searches.get_mut(search) {
                        s.failed(p.to);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Announce { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    if let Some(s) = l.searches.get_mut(search) {
                        s.announce_pending = s.announce_pending.saturating_sub(1);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Ping(request) | Purpose::Sample(request) => self.event(Event::RequestFailed {
                request,
                error: error.unwrap_or(Error::Timeout),
            }),
            Purpose::Verify => {
                self.verifying.remove(&p.to);
            }
            Purpose::Check => {}
        }
    }

    // -----------------------------------------------------------------
    // External address (BEP 42)

    fn vote(&mut self, now: Instant, voter: IpAddr, reported: SocketAddr) {
        let reported = canonical(reported);
        let family = Family::of(&reported);
        if self.external[slot(family)].map(|a| a.ip()) == Some(reported.ip()) {
            return;
        }
        let need = self.config.external_votes.max(1);
        let pos = match self.votes.iter().position(|(a, _)| a.ip() == reported.ip()) {
            Some(p) => p,
            None => {
                if self.votes.len() >= MAX_VOTE_CANDIDATES {
                    let fewest = (0..self.votes.len())
                        .min_by_key(|&i| self.votes[i].1.len())
                        .unwrap_or(0);
                    self.votes.remove(fewest);
                }
                self.votes.push((reported, Vec::new()));
                self.votes.len() - 1
            }
        };
        let voters = &mut self.votes[pos].1;
        if !voters.contains(&voter) {
            voters.push(voter);
        }
        if voters.len() < need {
            return;
        }
        self.votes.retain(|(a, _)| Family::of(a) != family);
        self.external[slot(family)] = Some(reported);
        self.event(Event::ExternalAddress { addr: reported });
        if self.config.secure_own_id
            && !self.id_secured
            && !is_secure_node_id(&self.id, reported.ip())
        {
            let id = secure_node_id(reported.ip(), self.rng.bytes20());
            self.set_id(now, id);
        }
        self.id_secured = true;
    }

    /// Changes our node id (rebuilding the routing tables around it) and
    /// emits [`Event::IdChanged`].
    pub fn set_id(&mut self, now: Instant, id: NodeId) {
        self.id = id;
        for t in self.tables.iter_mut().flatten() {
            t.rebuild(id, now);
        }
        self.event(Event::IdChanged { id });
    }

    // -----------------------------------------------------------------
    // Timers

    /// Handles whatever is due at `now`: query timeouts, token rotation,
    /// bucket refresh, pings of questionable nodes, purging of expired
    /// peers, re-announces.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        while let Some(&(deadline, tid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&tid) {
                self.failed(now, p, None);
            }
        }
        if now >= self.tokens.next_rotation() {
            let secret = self.rng.bytes20();
            self.tokens.rotate(secret, now);
        }
        if self.rebootstrap.is_some_and(|t| t <= now) {
            self.rebootstrap = None;
            if !self
                .lookups
                .values()
                .any(|l| l.kind == LookupKind::Bootstrap)
            {
                let routers = self.routers.clone();
                let _ = self.start_lookup(now, LookupKind::Bootstrap, self.id, &routers, &[]);
            }
        }
        // Bucket refresh; an empty table bootstraps again.
        let interval = self.config.refresh_interval;
        for family in [Family::V4, Family::V6] {
            let refreshing = self.refreshing();
            let Some(table) = self.tables[slot(family)].as_mut() else {
                continue;
            };
            if table.is_empty() {
                continue;
            }
            let rng = &mut self.rng;
            let due = table.refresh_due(
                now,
                interval,
                MAX_REFRESHES.saturating_sub(refreshing),
                || rng.bytes20(),
            );
            for (_, target) in due {
                let _ = self.start_lookup(now, LookupKind::Refresh, target, &[], &[]);
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.storage.purge(now);
            for family in [Family::V4, Family::V6] {
                let Some(table) = self.tables[slot(family)].as_mut() else {
                    continue;
                };
                if table.is_empty()
                    && !self.routers.is_empty()
                    && !self
                        .lookups
                        .values()
                        .any(|l| l.kind == LookupKind::Bootstrap)
                {
                    let routers = self.routers.clone();
                    let _ = self.start_lookup(now, LookupKind::Bootstrap, self.id, &routers, &[]);
                    continue;
                }
                for node in table.take_questionable(now, QUESTIONABLE_PINGS) {
                    self.check(now, node);
                }
            }
        }
        let due: Vec<(InfoHash, ActiveAnnounce)> = self
            .announces
            .iter()
            .filter(|(_, a)| a.next <= now)
            .map(|(h, a)| (*h, *a))
            .collect();
        for (h, a) in due {
            let kind = LookupKind::Announce {
                port: a.port,
                implied_port: a.implied_port,
            };
            if self.start_lookup(now, kind, h.into(), &[], &[]).is_ok() {
                if let Some(e) = self.announces.get_mut(&h) {
                    e.next = now + self.config.reannounce_interval;
                }
            } else if let Some(e) = self.announces.get_mut(&h) {
                // No room for a lookup now: try again shortly.
                e.next = now + Duration::from_secs(5);
            }
        }
        if self.starved {
            self.starved = false;
            let ids: Vec<LookupId> = self.lookups.keys().copied().collect();
            for id in ids {
                self.drive(now, id);
            }
        }
    }
}

/// Which node lists a reply carries (BEP 32): as `want` says, else the
/// family the query came over.
fn wanted(q: &Query<'_>, family: Family) -> (bool, bool) {
    let want = match *q {
        Query::FindNode { want, .. }
        | Query::GetPeers { want, .. }
        | Query::SampleInfohashes { want, .. } => want,
        _ => None,
    };
    match want {
        Some(w) => (w.n4, w.n6),
        None => (family == Family::V4, family == Family::V6),
    }
}

#[cfg(test)]
mod tests;
