//! Settings of a [`Dht`](crate::Dht) node. Every limit on what a stranger
//! can make the node hold is here, with its default.

use std::time::Duration;

use crate::routing::TableConfig;
use crate::storage::StorageConfig;

/// Settings of a [`Dht`](crate::Dht) node. Start from
/// `Config::default()` and change fields:
///
/// ```
/// let config = seedbed_dht::Config { ipv6: false, read_only: true, ..Default::default() };
/// assert_eq!(config.alpha, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Routing table settings (K = 8, replacements, failures before bad).
    pub table: TableConfig,
    /// Limits of the announced-peer store.
    pub storage: StorageConfig,
    /// Serve and keep a table for the IPv4 DHT. Default on.
    pub ipv4: bool,
    /// Serve and keep a table for the IPv6 DHT (BEP 32). Default on.
    pub ipv6: bool,
    /// Queries in flight per lookup (alpha): 3.
    pub alpha: usize,
    /// How long to wait for an answer to one query: 2 seconds.
    pub query_timeout: Duration,
    /// Transactions (our queries awaiting an answer) in flight at once,
    /// all lookups and pings together. Default 1,024. When reached,
    /// lookups wait for answers before sending more, and
    /// [`Dht::ping`](crate::Dht::ping) and
    /// [`Dht::sample_infohashes`](crate::Dht::sample_infohashes) fail with
    /// [`Error::Limit`](crate::Error::Limit).
    pub max_pending: usize,
    /// Lookups (get_peers, find_node, announce, bootstrap, refresh) running
    /// at once. Default 64; past it a new one fails with
    /// [`Error::Limit`](crate::Error::Limit).
    pub max_lookups: usize,
    /// Candidate nodes a lookup keeps (the closest ones). Default 64.
    pub max_candidates: usize,
    /// Distinct peers a `get_peers` lookup reports; more are dropped.
    /// Default 2,000.
    pub max_lookup_peers: usize,
    /// Info hashes announced at once (each re-announced every
    /// `reannounce_interval`). Default 1,024.
    pub max_announces: usize,
    /// Re-announce interval of an active announce: 30 minutes.
    pub reannounce_interval: Duration,
    /// Bucket refresh interval (BEP 5): 15 minutes.
    pub refresh_interval: Duration,
    /// Pings in flight to nodes that queried us and might enter the table
    /// (they enter only once they answer). Default 64; past it such nodes
    /// are not checked.
    pub max_verify_pings: usize,
    /// Events held until [`Dht::poll_event`](crate::Dht::poll_event)
    /// takes them. Default 4,096; past it the oldest are dropped (and
    /// counted in [`Stats::events_dropped`](crate::Stats::events_dropped)).
    pub max_events: usize,
    /// Largest datagram accepted, in bytes. Default 8,192 (BEP 32 asks for
    /// at least 1,024).
    pub max_datagram_len: usize,
    /// Peers in one `get_peers` reply: 50 (IPv4: 400 bytes; IPv6 get
    /// half, to stay near BEP 32's 1,024-byte datagrams).
    pub max_values: usize,
    /// Info hashes in one `sample_infohashes` reply (BEP 51): 20.
    pub max_samples: usize,
    /// The `interval` of `sample_infohashes` replies, in seconds (BEP 51:
    /// 0..=21600). Default 300.
    pub sample_interval: u32,
    /// BEP 42 enforcement: when on, nodes whose id does not match their IP
    /// are kept out of the routing table, do not count for lookup
    /// convergence and are not announced to. When off (the default, as BEP
    /// 42's transition asks), they are only reported
    /// ([`Event::InsecureNodeId`](crate::Event::InsecureNodeId) and
    /// [`Stats::insecure_ids`](crate::Stats::insecure_ids)).
    pub enforce_node_id: bool,
    /// BEP 42: when enough nodes agree on our external address and our id
    /// is not valid for it, take a new id that is. Default on.
    pub secure_own_id: bool,
    /// Distinct nodes that must report the same external address (the `ip`
    /// of their replies) before it is believed. Default 3.
    pub external_votes: usize,
    /// BEP 43 read-only mode: answer no queries and set `ro` in ours.
    /// Default off.
    pub read_only: bool,
    /// The `v` sent in every message (BEP 5: two characters of client id,
    /// two of version), or `None`. Default `SB` 0.1.
    pub version: Option<[u8; 4]>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: TableConfig::default(),
            storage: StorageConfig::default(),
            ipv4: true,
            ipv6: true,
            alpha: 3,
            query_timeout: Duration::from_secs(2),
            max_pending: 1024,
            max_lookups: 64,
            max_candidates: 64,
            max_lookup_peers: 2000,
            max_announces: 1024,
            reannounce_interval: Duration::from_secs(30 * 60),
            refresh_interval: Duration::from_secs(15 * 60),
            max_verify_pings: 64,
            max_events: 4096,
            max_datagram_len: 8192,
            max_values: 50,
            max_samples: 20,
            sample_interval: 300,
            enforce_node_id: false,
            secure_own_id: true,
            external_votes: 3,
            read_only: false,
            version: Some(*b"SB\x00\x01"),
        }
    }
}
