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
/// How soon a re-announce that found no room for its lookup
/// (`Config::max_lookups` running) tries again.
const ANNOUNCE_RETRY: Duration = Duration::from_secs(5);

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
        self.verify(now, canonical(addr));
    }
}

mod external;
mod incoming;
mod lookups;
mod timers;
mod transactions;

#[cfg(test)]
mod tests;
