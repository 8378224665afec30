//! What a [`Dht`](crate::Dht) hands back: datagrams to send, events, and
//! statistics.

use std::net::{IpAddr, SocketAddr};

use seedbed_metainfo::InfoHash;

use crate::compact::NodeInfo;
use crate::error::Error;
use crate::id::NodeId;
use crate::storage::StorageStats;

/// A datagram to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: SocketAddr,
    /// The UDP payload (a bencoded KRPC message).
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transmit({} bytes to {})", self.data.len(), self.to)
    }
}

/// Identifies a lookup started with [`Dht::get_peers`](crate::Dht::get_peers),
/// [`Dht::find_node`](crate::Dht::find_node),
/// [`Dht::announce`](crate::Dht::announce) or
/// [`Dht::bootstrap`](crate::Dht::bootstrap) (and the node's own refreshes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// Identifies a single query started with [`Dht::ping`](crate::Dht::ping)
/// or [`Dht::sample_infohashes`](crate::Dht::sample_infohashes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupKind {
    /// `find_node` toward our own id from the bootstrap nodes (BEP 5).
    Bootstrap,
    /// `find_node` toward a random id of a stale bucket (BEP 5 refresh).
    Refresh,
    /// `find_node` asked by the user.
    FindNode,
    /// `get_peers`.
    GetPeers,
    /// `get_peers`, then `announce_peer` to the K closest nodes that gave
    /// tokens.
    Announce {
        /// The announced TCP/uTP port.
        port: u16,
        /// Ask the nodes to use our UDP source port instead of `port`
        /// (BEP 5 `implied_port`).
        implied_port: bool,
    },
}

/// Counters of one finished lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Queries sent (`find_node` / `get_peers`), every family together.
    pub queries: u32,
    /// Answers received.
    pub responses: u32,
    /// Queries that timed out.
    pub timeouts: u32,
    /// Queries answered with a KRPC error.
    pub errors: u32,
    /// Hops: the referral depth of the closest node that answered (1 for a
    /// node we started with).
    pub hops: u32,
    /// Distinct peers found (`get_peers`).
    pub peers: u32,
    /// `announce_peer` queries sent.
    pub announces_sent: u32,
    /// `announce_peer` queries acknowledged.
    pub announces_acked: u32,
    /// The K closest nodes that answered, closest first.
    pub closest: Vec<NodeInfo>,
}

/// Something that happened, taken with [`Dht::poll_event`](crate::Dht::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A `get_peers` or announce lookup found peers (only ones it had not
    /// reported before).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: InfoHash,
        /// The new peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// What it was.
        kind: LookupKind,
        /// Its target.
        target: NodeId,
        /// Its counters and result.
        stats: LookupStats,
    },
    /// A [`Dht::ping`](crate::Dht::ping) was answered.
    Pong {
        /// The request.
        request: RequestId,
        /// The node that answered.
        node: NodeInfo,
    },
    /// A [`Dht::sample_infohashes`](crate::Dht::sample_infohashes) was
    /// answered (BEP 51).
    Samples {
        /// The request.
        request: RequestId,
        /// The node that answered.
        node: NodeInfo,
        /// The info hashes it sampled.
        samples: Vec<InfoHash>,
        /// How many info hashes it stores.
        num: Option<i64>,
        /// Seconds to wait before sampling it again.
        interval: Option<i64>,
        /// Nodes near the target, to go on with.
        nodes: Vec<NodeInfo>,
    },
    /// A ping or sample request failed: no answer in time, an error reply,
    /// or the transaction limit.
    RequestFailed {
        /// The request.
        request: RequestId,
        /// Why.
        error: Error,
    },
    /// A node entered the routing table.
    NodeAdded(NodeInfo),
    /// Enough nodes agree on our external address (the `ip` of their
    /// replies, BEP 42).
    ExternalAddress {
        /// The address as they see it.
        addr: SocketAddr,
    },
    /// Our node id changed to one valid for our external IP (BEP 42); the
    /// routing tables were rebuilt around it.
    IdChanged {
        /// The new id.
        id: NodeId,
    },
    /// A node's id is not valid for its IP under BEP 42.
    InsecureNodeId {
        /// The node.
        node: NodeInfo,
    },
    /// A node announced a peer to us and we stored it.
    PeerAnnounced {
        /// The torrent.
        info_hash: InfoHash,
        /// The peer's address (the announcer's IP, with its port).
        peer: SocketAddr,
    },
}

/// Counts of one routing table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Nodes in the table.
    pub nodes: usize,
    /// Of which good.
    pub good: usize,
    /// Of which questionable.
    pub questionable: usize,
    /// Of which bad (kept until something replaces them).
    pub bad: usize,
    /// Buckets.
    pub buckets: usize,
    /// Replacement candidates held.
    pub replacements: usize,
}

/// Counters and sizes of a node, from [`Dht::stats`](crate::Dht::stats):
/// every table, store and queue a stranger could try to grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Our node id.
    pub id: NodeId,
    /// Our external address, once enough nodes agreed on it.
    pub external_ip: Option<IpAddr>,
    /// The IPv4 routing table.
    pub table_v4: TableStats,
    /// The IPv6 routing table.
    pub table_v6: TableStats,
    /// The announced-peer store.
    pub storage: StorageStats,
    /// Transactions in flight.
    pub pending: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Active announces (re-announced periodically).
    pub announces: usize,
    /// Events waiting in the queue.
    pub events_queued: usize,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Datagrams received.
    pub received: u64,
    /// Datagrams sent (queued for sending).
    pub sent: u64,
    /// Queries received.
    pub queries_received: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Datagrams over the size limit.
    pub too_long: u64,
    /// Replies whose transaction id (or sender) matched no query of ours;
    /// ignored.
    pub unknown_transactions: u64,
    /// `announce_peer` queries refused for a bad token (error 203).
    pub bad_tokens: u64,
    /// Queries of unknown methods (answered with error 204).
    pub unknown_methods: u64,
    /// Nodes seen with ids not valid for their IP (BEP 42).
    pub insecure_ids: u64,
    /// Our queries that timed out.
    pub timeouts: u64,
}
