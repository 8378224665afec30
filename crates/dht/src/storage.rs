//! Storage of announced peers (BEP 5, "announce_peer"): the peers other
//! nodes announced to us, by info hash, with expiry and hard limits so a
//! flood of announces cannot grow memory without bound.
//!
//! Every limit is a [`StorageConfig`] setting. Memory is accounted as
//! [`INFO_HASH_BYTES`] per info hash plus [`PEER_BYTES`] per peer, and the
//! accounted total never exceeds [`StorageConfig::max_bytes`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seedbed_metainfo::InfoHash;

use crate::compact::{canonical, Family};

/// Accounted cost of one stored info hash, in bytes (its key, its peer
/// list header and the map's node overhead).
pub const INFO_HASH_BYTES: usize = 96;
/// Accounted cost of one stored peer, in bytes.
pub const PEER_BYTES: usize = 48;

/// Limits of a [`PeerStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// How long an announced peer is kept: 30 minutes (BEP 5 practice;
    /// clients re-announce every 15 to 30 minutes).
    pub peer_ttl: Duration,
    /// Peers kept per info hash; past it, announces of new peers for it
    /// are refused until some expire (as libtorrent does: replacing old
    /// peers would let one flooder push out every real one). Default 200.
    pub max_peers_per_info_hash: usize,
    /// Peers (ports) of one IP address kept per info hash; past it, that
    /// address's announces of new ports are refused. A node needs a token
    /// for its own IP only, so without this one address could fill a
    /// swarm's list. Default 16.
    pub max_peers_per_ip: usize,
    /// Info hashes kept; past it, announces for new info hashes are
    /// refused. Default 3,000 (libtorrent keeps 2,000).
    pub max_info_hashes: usize,
    /// Accounted bytes in total (see [`INFO_HASH_BYTES`], [`PEER_BYTES`]);
    /// past it, announces that need more room are refused (or replace an
    /// old peer of the same info hash). Default 4 MiB.
    pub max_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            peer_ttl: Duration::from_secs(30 * 60),
            max_peers_per_info_hash: 200,
            max_peers_per_ip: 16,
            max_info_hashes: 3000,
            max_bytes: 4 << 20,
        }
    }
}

/// What [`PeerStore::announce`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stored {
    /// A new peer was stored.
    Added,
    /// The peer was there: its expiry was renewed.
    Refreshed,
    /// Refused: no room (the info hash's list is full, no room for
    /// another info hash, or the byte limit is reached).
    Full,
    /// Refused: this IP address already has
    /// [`StorageConfig::max_peers_per_ip`] peers for the info hash.
    IpLimit,
}

#[derive(Clone, Copy, Debug)]
struct StoredPeer {
    addr: SocketAddr,
    expires: Instant,
}

/// Counts of what a [`PeerStore`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Info hashes stored.
    pub info_hashes: usize,
    /// Peers stored, all info hashes together.
    pub peers: usize,
    /// Accounted bytes.
    pub bytes: usize,
    /// Announces refused because the store was full.
    pub refused: u64,
}

/// Announced peers by info hash.
#[derive(Clone, Debug, Default)]
pub struct PeerStore {
    config: StorageConfig,
    swarms: BTreeMap<InfoHash, Vec<StoredPeer>>,
    peers: usize,
    refused: u64,
}

impl PeerStore {
    /// An empty store.
    pub fn new(config: StorageConfig) -> Self {
        PeerStore {
            config,
            swarms: BTreeMap::new(),
            peers: 0,
            refused: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    fn bytes(&self) -> usize {
        self.swarms.len() * INFO_HASH_BYTES + self.peers * PEER_BYTES
    }

    /// What the store holds.
    pub fn stats(&self) -> StorageStats {
        StorageStats {
            info_hashes: self.swarms.len(),
            peers: self.peers,
            bytes: self.bytes(),
            refused: self.refused,
        }
    }

    /// Stores `peer` for `info_hash` until `now + peer_ttl`.
    pub fn announce(&mut self, info_hash: InfoHash, peer: SocketAddr, now: Instant) -> Stored {
        let peer = canonical(peer);
        let expires = now + self.config.peer_ttl;
        let room_for_peer = self.bytes() + PEER_BYTES <= self.config.max_bytes;
        let max_peers = self.config.max_peers_per_info_hash;
        if let Some(list) = self.swarms.get_mut(&info_hash) {
            let before = list.len();
            list.retain(|p| p.expires > now);
            self.peers -= before - list.len();
            if let Some(p) = list.iter_mut().find(|p| p.addr == peer) {
                p.expires = expires;
                return Stored::Refreshed;
            }
            let room_for_peer = room_for_peer || before > list.len();
            if list.len() >= max_peers || !room_for_peer {
                self.refused += 1;
                return Stored::Full;
            }
            let same_ip = list.iter().filter(|p| p.addr.ip() == peer.ip()).count();
            if same_ip >= self.config.max_peers_per_ip {
                self.refused += 1;
                return Stored::IpLimit;
            }
            list.push(StoredPeer {
                addr: peer,
                expires,
            });
            self.peers += 1;
            return Stored::Added;
        }
        if max_peers == 0 || self.config.max_peers_per_ip == 0 {
            self.refused += 1;
            return Stored::Full;
        }
        let fits = |s: &Self| {
            s.swarms.len() < s.config.max_info_hashes
                && s.bytes() + INFO_HASH_BYTES + PEER_BYTES <= s.config.max_bytes
        };
        if !fits(self) {
            self.purge(now);
            if !fits(self) {
                self.refused += 1;
                return Stored::Full;
            }
        }
        self.swarms.insert(
            info_hash,
            vec![StoredPeer {
                addr: peer,
                expires,
            }],
        );
        self.peers += 1;
        Stored::Added
    }

    /// Drops every expired peer, and info hashes left without peers.
    pub fn purge(&mut self, now: Instant) {
        let mut removed = 0;
        self.swarms.retain(|_, list| {
            let before = list.len();
            list.retain(|p| p.expires > now);
            removed += before - list.len();
            if list.len() < list.capacity() / 4 {
                list.shrink_to_fit();
            }
            !list.is_empty()
        });
        self.peers -= removed;
    }

    /// Up to `max` live peers of `info_hash` in address family `family`,
    /// starting at an offset picked from `random` (so repeated asks see
    /// different peers when there are more than `max`).
    pub fn peers(
        &self,
        info_hash: &InfoHash,
        family: Family,
        max: usize,
        now: Instant,
        random: u64,
    ) -> Vec<SocketAddr> {
        let Some(list) = self.swarms.get(info_hash) else {
            return Vec::new();
        };
        let live = || {
            list.iter()
                .filter(move |p| p.expires > now && Family::of(&p.addr) == family)
                .map(|p| p.addr)
        };
        let n = live().count();
        if n <= max {
            return live().collect();
        }
        let start = (random % n as u64) as usize;
        live().cycle().skip(start).take(max).collect()
    }

    /// Whether any live peer is stored for `info_hash`.
    pub fn contains(&self, info_hash: &InfoHash, now: Instant) -> bool {
        self.swarms
            .get(info_hash)
            .is_some_and(|l| l.iter().any(|p| p.expires > now))
    }

    /// Up to `max` stored info hashes (BEP 51 `sample_infohashes`), a run
    /// in key order starting at a point picked from `random`.
    pub fn sample(&self, max: usize, random: [u8; 20]) -> Vec<InfoHash> {
        let from = InfoHash(random);
        self.swarms
            .range(from..)
            .chain(self.swarms.range(..from))
            .take(max)
            .map(|(k, _)| *k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u32) -> InfoHash {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        InfoHash(h)
    }

    fn peer(i: u32) -> SocketAddr {
        SocketAddr::from(((i + 0x0a00_0000).to_be_bytes(), 6881))
    }

    #[test]
    fn peers_expire() {
        let now = Instant::now();
        let mut s = PeerStore::new(StorageConfig::default());
        assert_eq!(s.announce(hash(1), peer(1), now), Stored::Added);
        assert_eq!(s.announce(hash(1), peer(1), now), Stored::Refreshed);
        assert_eq!(s.peers(&hash(1), Family::V4, 10, now, 0), vec![peer(1)]);
        assert!(s.peers(&hash(1), Family::V6, 10, now, 0).is_empty());
        let later = now + Duration::from_secs(30 * 60);
        assert!(s.peers(&hash(1), Family::V4, 10, later, 0).is_empty());
        assert!(!s.contains(&hash(1), later));
        s.purge(later);
        assert_eq!(s.stats(), StorageStats::default());
    }

    #[test]
    fn peers_per_info_hash_at_and_past_the_limit() {
        let now = Instant::now();
        let config = StorageConfig {
            max_peers_per_info_hash: 10,
            ..StorageConfig::default()
        };
        let mut s = PeerStore::new(config);
        for i in 0..10 {
            assert_eq!(
                s.announce(hash(1), peer(i), now + Duration::from_secs(u64::from(i))),
                Stored::Added
            );
        }
        assert_eq!(s.stats().peers, 10);
        // One past: refused; the stored peers stay (a flood cannot push
        // real peers out).
        assert_eq!(
            s.announce(hash(1), peer(10), now + Duration::from_secs(20)),
            Stored::Full
        );
        assert_eq!(s.stats().peers, 10);
        let got = s.peers(&hash(1), Family::V4, 100, now + Duration::from_secs(20), 0);
        assert!(got.contains(&peer(0)) && !got.contains(&peer(10)));
        // Once the first expires there is room again.
        let later = now + Duration::from_secs(30 * 60);
        assert_eq!(s.announce(hash(1), peer(10), later), Stored::Added);
        // A sample of 4 out of 10.
        assert_eq!(s.peers(&hash(1), Family::V4, 4, now, 7).len(), 4);
    }

    #[test]
    fn info_hashes_at_and_past_the_limit() {
        let now = Instant::now();
        let config = StorageConfig {
            max_info_hashes: 100,
            ..StorageConfig::default()
        };
        let mut s = PeerStore::new(config);
        for i in 0..100 {
            assert_eq!(s.announce(hash(i), peer(i), now), Stored::Added);
        }
        assert_eq!(s.announce(hash(100), peer(100), now), Stored::Full);
        assert_eq!(s.stats().info_hashes, 100);
        assert_eq!(s.stats().refused, 1);
        // Once they expire there is room again.
        let later = now + Duration::from_secs(31 * 60);
        assert_eq!(s.announce(hash(100), peer(100), later), Stored::Added);
        assert_eq!(s.stats().info_hashes, 1);
    }

    #[test]
    fn bytes_at_and_past_the_limit() {
        let now = Instant::now();
        let max_bytes = 10 * (INFO_HASH_BYTES + PEER_BYTES);
        let mut s = PeerStore::new(StorageConfig {
            max_bytes,
            ..StorageConfig::default()
        });
        for i in 0..10 {
            assert_eq!(s.announce(hash(i), peer(i), now), Stored::Added);
        }
        assert_eq!(s.stats().bytes, max_bytes);
        assert_eq!(s.announce(hash(10), peer(10), now), Stored::Full);
        // Another peer for a stored hash needs bytes too: refused.
        assert_eq!(s.announce(hash(1), peer(99), now), Stored::Full);
        assert_eq!(s.stats().bytes, max_bytes);
    }

    #[test]
    fn peers_per_ip_at_and_past_the_limit() {
        let now = Instant::now();
        let mut s = PeerStore::new(StorageConfig {
            max_peers_per_ip: 3,
            ..StorageConfig::default()
        });
        let ip = |port| SocketAddr::from(([10, 0, 0, 1], port));
        for port in 1..=3 {
            assert_eq!(s.announce(hash(1), ip(port), now), Stored::Added);
        }
        assert_eq!(s.announce(hash(1), ip(4), now), Stored::IpLimit);
        // Known ports still refresh; other addresses and other info hashes
        // are not affected.
        assert_eq!(s.announce(hash(1), ip(2), now), Stored::Refreshed);
        assert_eq!(s.announce(hash(1), peer(7), now), Stored::Added);
        assert_eq!(s.announce(hash(2), ip(4), now), Stored::Added);
        assert_eq!(s.stats().refused, 1);
    }

    /// The flood the per-IP limit is for: one address announcing hundreds
    /// of ports leaves room for the real peers of the swarm.
    #[test]
    fn one_address_cannot_fill_a_swarm() {
        let now = Instant::now();
        let mut s = PeerStore::new(StorageConfig::default());
        let real: Vec<_> = (0..20).map(peer).collect();
        for p in &real[..10] {
            s.announce(hash(1), *p, now);
        }
        for port in 1..=500 {
            s.announce(hash(1), SocketAddr::from(([192, 0, 2, 1], port)), now);
        }
        for p in &real[10..] {
            assert_eq!(s.announce(hash(1), *p, now), Stored::Added);
        }
        let got = s.peers(&hash(1), Family::V4, 1000, now, 0);
        assert!(real.iter().all(|p| got.contains(p)));
        assert_eq!(got.len(), 20 + 16);
    }

    #[test]
    fn samples_wrap_around() {
        let now = Instant::now();
        let mut s = PeerStore::new(StorageConfig::default());
        for i in 0..50 {
            s.announce(hash(i), peer(i), now);
        }
        let got = s.sample(20, [0xff; 20]);
        assert_eq!(got.len(), 20);
        assert_eq!(got[0], hash(0));
        assert_eq!(s.sample(100, [0; 20]).len(), 50);
    }
}
