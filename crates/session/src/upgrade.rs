//! Which info hash a connection uses (BEP 52): v1 torrents use the SHA-1
//! hash; v2-only torrents the SHA-256 hash truncated to 20 bytes; hybrid
//! torrents either, and a v1 handshake can be upgraded to v2 ("Upgrade
//! Path").
//!
//! For a hybrid torrent we dial with the v1 hash and the reserved bit
//! [`Reserved::V2_UPGRADE`] set; a peer that also speaks v2 may answer with
//! the truncated v2 hash, and the connection then speaks v2 (hash
//! messages). Incoming connections are routed by either hash; one that
//! comes with the v1 hash and the upgrade bit is answered with the v2 hash,
//! as libtorrent does. Whether a connection speaks v2 decides whether it is
//! asked for piece layers (`hash_exchange.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use seedbed_metainfo::InfoHash;
use seedbed_peer_wire::Reserved;

use crate::handle::Slot;
use crate::torrent::TorrentShared;

impl TorrentShared {
    /// The 20-byte hash this torrent is announced under, at trackers and
    /// in the DHT: the v1 hash for v1 and hybrid torrents, the truncated v2
    /// hash for v2-only torrents (BEP 52, "trackers"). The one place the
    /// announcers (trackers and the DHT) take it from.
    pub(crate) fn announce_hash(&self) -> InfoHash {
        self.info.info_hash()
    }

    /// The truncated v2 info hash, for v2 and hybrid torrents.
    pub(crate) fn v2_wire_hash(&self) -> Option<InfoHash> {
        self.info.info_hash_v2().map(|h| h.truncated())
    }

    /// Whether a handshake carrying `hash` is for this torrent: its wire
    /// hash, or for a hybrid its truncated v2 hash too.
    pub(crate) fn accepts_hash(&self, hash: &InfoHash) -> bool {
        *hash == self.info_hash || self.v2_wire_hash().as_ref() == Some(hash)
    }

    /// Whether a connection whose handshakes agreed on `hash` speaks v2.
    pub(crate) fn speaks_v2(&self, hash: &InfoHash) -> bool {
        self.v2_wire_hash().as_ref() == Some(hash)
    }

    /// Removes this torrent from the session's registry: under its wire
    /// hash, or under its truncated v2 hash when it was added from a
    /// `btmh`-only link to a hybrid torrent.
    pub(crate) fn leave_registry(self: &Arc<Self>, reg: &mut HashMap<InfoHash, Arc<Slot>>) {
        for hash in std::iter::once(self.info_hash).chain(self.v2_wire_hash()) {
            let ours = reg
                .get(&hash)
                .and_then(|slot| slot.shared.get())
                .is_some_and(|s| Arc::ptr_eq(s, self));
            if ours {
                reg.remove(&hash);
            }
        }
    }

    /// The reserved bits to add to ours when dialling: the upgrade bit for
    /// a hybrid torrent (we send the v1 hash and offer v2).
    pub(crate) fn upgrade_bits(&self, reserved: Reserved) -> Reserved {
        if self.info.has_v1() && self.info.has_v2() {
            reserved.with(Reserved::V2_UPGRADE)
        } else {
            reserved
        }
    }

    /// The hash to answer an incoming handshake with: the one it came
    /// with, or the truncated v2 hash when it came with the v1 hash of a
    /// hybrid torrent and the upgrade bit.
    pub(crate) fn answer_hash(&self, theirs: &InfoHash, reserved: Reserved) -> InfoHash {
        match self.v2_wire_hash() {
            Some(v2) if *theirs == self.info_hash && reserved.v2_upgrade() => v2,
            _ => *theirs,
        }
    }
}
