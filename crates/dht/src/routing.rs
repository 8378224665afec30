//! The routing table (BEP 5, "Routing Table"): k-buckets that split around
//! our own id, node states with the BEP 5 timings, a replacement cache per
//! bucket for ping-before-replace, and bucket refresh.
//!
//! Buckets are kept as a list indexed by the length of the prefix an id
//! shares with our own id: bucket `i` (for `i` below the last) holds the
//! ids that share exactly `i` leading bits with ours; the last bucket holds
//! every id sharing at least as many, and is the only one that splits. This
//! is the same space partition as BEP 5's "split the bucket our id falls
//! in", without storing ranges. The table is bounded by construction: at
//! most 160 buckets of `k` nodes and `k` replacements.
//!
//! Only nodes that answered one of our queries enter the table. Time is
//! passed in; the table never reads a clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::compact::NodeInfo;
use crate::id::NodeId;

/// BEP 5: a node is good for 15 minutes after it last answered us (or
/// after it last queried us, once it has answered before); a bucket
/// unchanged for 15 minutes is refreshed.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);

/// Settings of a [`RoutingTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Nodes per bucket: K = 8 (BEP 5).
    pub k: usize,
    /// Candidates kept per bucket to replace nodes that stop answering
    /// (ping-before-replace). Default 8.
    pub replacements: usize,
    /// Failed queries in a row after which a node is bad. Default 2 (BEP 5:
    /// "try once more before discarding").
    pub max_failures: u8,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            k: 8,
            replacements: 8,
            max_failures: 2,
        }
    }
}

/// A node's state (BEP 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Answered us within 15 minutes, or has answered before and queried us
    /// within 15 minutes.
    Good,
    /// Neither good nor bad: not heard from in 15 minutes.
    Questionable,
    /// Failed to answer [`TableConfig::max_failures`] queries in a row.
    Bad,
}

/// One node in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Id and address.
    pub info: NodeInfo,
    /// When it last answered one of our queries.
    pub last_response: Instant,
    /// When it last sent us a query.
    pub last_query: Option<Instant>,
    /// Queries in a row it failed to answer.
    pub failures: u8,
    /// Whether its id is valid for its IP under BEP 42.
    pub secure: bool,
    /// A ping to it is in flight (so it is not pinged twice).
    pub pinging: bool,
}

impl Entry {
    fn new(info: NodeInfo, now: Instant, secure: bool) -> Self {
        Entry {
            info,
            last_response: now,
            last_query: None,
            failures: 0,
            secure,
            pinging: false,
        }
    }

    /// The node's state at `now` (BEP 5 timings), with `max_failures` as the
    /// bad threshold.
    pub fn state(&self, now: Instant, max_failures: u8) -> NodeState {
        if self.failures >= max_failures {
            return NodeState::Bad;
        }
        let recent = |t: Instant| now.saturating_duration_since(t) < GOOD_FOR;
        if recent(self.last_response) || self.last_query.is_some_and(recent) {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    fn last_seen(&self) -> Instant {
        match self.last_query {
            Some(q) if q > self.last_response => q,
            _ => self.last_response,
        }
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: Vec<Entry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Bucket {
            nodes: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// What [`RoutingTable::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// The node is new in the table.
    Added,
    /// The node was there; its times were updated.
    Updated,
    /// The bucket is full of good nodes: the node was dropped.
    Full,
    /// The bucket is full but holds questionable nodes: the node waits in
    /// the replacement cache and the caller should ping `ping` (the least
    /// recently seen questionable node); [`RoutingTable::failed`] swaps in
    /// a replacement once that node turns bad.
    Pending {
        /// The node to ping.
        ping: NodeInfo,
    },
    /// Kept as a replacement candidate; a ping is already on its way.
    Cached,
    /// Refused: the id is ours, or a good node with this id has another
    /// address.
    Refused,
}

/// The routing table of one address family.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    config: TableConfig,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    /// An empty table (one bucket covering the whole space) for our id.
    pub fn new(own: NodeId, config: TableConfig, now: Instant) -> Self {
        RoutingTable {
            own,
            config,
            buckets: vec![Bucket::new(now)],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// The settings.
    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// The number of buckets (1..=160).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The number of nodes in the table (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.nodes.is_empty())
    }

    /// The number of replacement candidates held.
    pub fn replacement_count(&self) -> usize {
        self.buckets.iter().map(|b| b.replacements.len()).sum()
    }

    /// Every node in the table, bucket by bucket.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The entry for `id`, if it is in the table.
    pub fn get(&self, id: &NodeId) -> Option<&Entry> {
        self.buckets[self.index(id)]
            .nodes
            .iter()
            .find(|e| e.info.id == *id)
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own.common_prefix_len(id).min(self.buckets.len() - 1)
    }

    /// Records that `node` answered one of our queries at `now` (the only
    /// way into the table). `secure` says whether its id passed the BEP 42
    /// check.
    pub fn insert(&mut self, node: NodeInfo, now: Instant, secure: bool) -> Insert {
        if node.id == self.own {
            return Insert::Refused;
        }
        let max_failures = self.config.max_failures;
        loop {
            let last = self.buckets.len() - 1;
            let i = self.index(&node.id);
            let k = self.config.k;
            let bucket = &mut self.buckets[i];
            if let Some(e) = bucket.nodes.iter_mut().find(|e| e.info.id == node.id) {
                if e.info.addr != node.addr {
                    if e.state(now, max_failures) == NodeState::Good {
                        return Insert::Refused;
                    }
                    e.info.addr = node.addr;
                    e.secure = secure;
                }
                e.last_response = now;
                e.failures = 0;
                e.pinging = false;
                bucket.last_changed = now;
                return Insert::Updated;
            }
            // The same address under another id: the node restarted.
            if let Some(pos) = bucket.nodes.iter().position(|e| e.info.addr == node.addr) {
                bucket.nodes.remove(pos);
            }
            bucket.replacements.retain(|e| e.info.id != node.id);
            if bucket.nodes.len() < k {
                bucket.nodes.push(Entry::new(node, now, secure));
                bucket.last_changed = now;
                return Insert::Added;
            }
            if i == last && last < 159 {
                self.split();
                continue;
            }
            if let Some(pos) = bucket
                .nodes
                .iter()
                .position(|e| e.state(now, max_failures) == NodeState::Bad)
            {
                bucket.nodes[pos] = Entry::new(node, now, secure);
                bucket.last_changed = now;
                return Insert::Added;
            }
            let questionable = bucket
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, e)| e.state(now, max_failures) == NodeState::Questionable)
                .min_by_key(|(_, e)| e.last_seen())
                .map(|(pos, e)| (pos, e.pinging));
            let Some((pos, pinging)) = questionable else {
                return Insert::Full;
            };
            if bucket.replacements.len() >= self.config.replacements {
                bucket.replacements.remove(0);
            }
            if self.config.replacements > 0 {
                bucket.replacements.push(Entry::new(node, now, secure));
            }
            if pinging || bucket.nodes.iter().any(|e| e.pinging) {
                return Insert::Cached;
            }
            bucket.nodes[pos].pinging = true;
            return Insert::Pending {
                ping: bucket.nodes[pos].info,
            };
        }
    }

    fn split(&mut self) {
        let last = self.buckets.len() - 1;
        let now = self.buckets[last].last_changed;
        let old = std::mem::replace(&mut self.buckets[last], Bucket::new(now));
        self.buckets.push(Bucket::new(now));
        for e in old.nodes {
            let i = self.index(&e.info.id);
            self.buckets[i].nodes.push(e);
        }
        for e in old.replacements {
            let i = self.index(&e.info.id);
            self.buckets[i].replacements.push(e);
        }
    }

    /// Records that `id` sent us a query at `now` (keeps a node that has
    /// answered before good). Returns whether it is in the table.
    pub fn heard_from(&mut self, id: &NodeId, addr: SocketAddr, now: Instant) -> bool {
        let i = self.index(id);
        match self.buckets[i]
            .nodes
            .iter_mut()
            .find(|e| e.info.id == *id && e.info.addr == addr)
        {
            Some(e) => {
                e.last_query = Some(now);
                true
            }
            None => false,
        }
    }

    /// Records that a query to `id` at `addr` went unanswered. When the node
    /// turns bad and its bucket has a replacement, the newest replacement
    /// takes its place. Returns the node's new state, `None` if it is not
    /// in the table.
    pub fn failed(&mut self, id: &NodeId, addr: SocketAddr, now: Instant) -> Option<NodeState> {
        let i = self.index(id);
        let max_failures = self.config.max_failures;
        let bucket = &mut self.buckets[i];
        let pos = bucket
            .nodes
            .iter()
            .position(|e| e.info.id == *id && e.info.addr == addr)?;
        let e = &mut bucket.nodes[pos];
        e.failures = e.failures.saturating_add(1);
        e.pinging = false;
        let state = e.state(now, max_failures);
        if state == NodeState::Bad {
            if let Some(r) = bucket.replacements.pop() {
                bucket.nodes[pos] = r;
                bucket.last_changed = now;
            }
        }
        Some(state)
    }

    /// Removes `id` from the table (and the replacement caches). Returns
    /// whether it was there.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let i = self.index(id);
        let b = &mut self.buckets[i];
        let before = b.nodes.len() + b.replacements.len();
        b.nodes.retain(|e| e.info.id != *id);
        b.replacements.retain(|e| e.info.id != *id);
        before != b.nodes.len() + b.replacements.len()
    }

    /// Up to `n` nodes closest to `target` by XOR distance, closest first,
    /// skipping bad nodes (and, with `secure_only`, nodes whose id failed
    /// the BEP 42 check). Visits buckets in order of distance, so only a
    /// few buckets are read.
    pub fn closest(&self, target: &NodeId, n: usize, secure_only: bool) -> Vec<NodeInfo> {
        let mut out = Vec::with_capacity(n);
        self.closest_into(target, n, secure_only, &mut out);
        out
    }

    /// [`closest`](Self::closest) into a caller's vector (cleared first), to
    /// reuse its allocation.
    pub fn closest_into(
        &self,
        target: &NodeId,
        n: usize,
        secure_only: bool,
        out: &mut Vec<NodeInfo>,
    ) {
        out.clear();
        if n == 0 {
            return;
        }
        let max_failures = self.config.max_failures;
        let usable = |e: &&Entry| e.failures < max_failures && (!secure_only || e.secure);
        let last = self.buckets.len() - 1;
        let t = self.index(target);
        // Band 0: the target's bucket. Band 1: every bucket past it (all at
        // the same top distance bit). Then the buckets before it, nearest
        // first; each band is strictly farther than the one before.
        let mut scratch: Vec<(crate::id::Distance, NodeInfo)> = Vec::with_capacity(n + 8);
        let take = |range: &mut dyn Iterator<Item = usize>, scratch: &mut Vec<_>| {
            for b in range {
                for e in self.buckets[b].nodes.iter().filter(usable) {
                    scratch.push((target.distance(&e.info.id), e.info));
                }
            }
        };
        take(&mut std::iter::once(t), &mut scratch);
        if scratch.len() < n && t < last {
            take(&mut (t + 1..=last), &mut scratch);
        }
        let mut b = t;
        while scratch.len() < n && b > 0 {
            b -= 1;
            take(&mut std::iter::once(b), &mut scratch);
        }
        scratch.sort_unstable_by_key(|a| a.0);
        out.extend(scratch.into_iter().take(n).map(|(_, info)| info));
    }

    /// Up to `max` buckets not changed for `interval` (BEP 5: 15 minutes),
    /// as (bucket index, a random id in its range made from `random`). Marks them as
    /// changed at `now` so they are not returned again before `interval`.
    pub fn refresh_due(
        &mut self,
        now: Instant,
        interval: Duration,
        max: usize,
        mut random: impl FnMut() -> [u8; 20],
    ) -> Vec<(usize, NodeId)> {
        let own = self.own;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if out.len() >= max {
                break;
            }
            if now.saturating_duration_since(b.last_changed) >= interval {
                b.last_changed = now;
                out.push((i, own.random_with_prefix(i, random())));
            }
        }
        out
    }

    /// Makes every bucket with fewer than K nodes, except the last (the one
    /// holding our own id, just searched by the bootstrap), due for
    /// refresh at `now`, so that a new node fills its table at once rather
    /// than over its first 15 minutes.
    pub fn refresh_sparse_at(&mut self, now: Instant, interval: Duration) {
        let last = self.buckets.len() - 1;
        let k = self.config.k;
        for b in &mut self.buckets[..last] {
            if b.nodes.len() < k {
                b.last_changed = now.checked_sub(interval).unwrap_or(b.last_changed.min(now));
            }
        }
    }

    /// The earliest time a bucket becomes due for refresh.
    pub fn next_refresh(&self, interval: Duration) -> Option<Instant> {
        self.buckets.iter().map(|b| b.last_changed + interval).min()
    }

    /// Questionable nodes (not heard from in 15 minutes, not already being
    /// pinged), marked as being pinged. The caller pings them; an answer
    /// goes to [`insert`](Self::insert), silence to [`failed`](Self::failed).
    pub fn take_questionable(&mut self, now: Instant, max: usize) -> Vec<NodeInfo> {
        let max_failures = self.config.max_failures;
        let mut out = Vec::new();
        for b in &mut self.buckets {
            for e in &mut b.nodes {
                if out.len() >= max {
                    return out;
                }
                if !e.pinging && e.state(now, max_failures) == NodeState::Questionable {
                    e.pinging = true;
                    out.push(e.info);
                }
            }
        }
        out
    }

    /// Clears the "being pinged" mark of `id` (when a ping could not be
    /// sent).
    pub fn ping_done(&mut self, id: &NodeId) {
        let i = self.index(id);
        if let Some(e) = self.buckets[i].nodes.iter_mut().find(|e| e.info.id == *id) {
            e.pinging = false;
        }
    }

    /// Counts of nodes by state at `now`: (good, questionable, bad).
    pub fn state_counts(&self, now: Instant) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for e in self.entries() {
            match e.state(now, self.config.max_failures) {
                NodeState::Good => c.0 += 1,
                NodeState::Questionable => c.1 += 1,
                NodeState::Bad => c.2 += 1,
            }
        }
        c
    }

    /// Rebuilds the table around a new own id (after BEP 42 gave us a new
    /// one), keeping every node that still fits.
    pub fn rebuild(&mut self, own: NodeId, now: Instant) {
        let old = std::mem::replace(self, RoutingTable::new(own, self.config, now));
        for b in old.buckets {
            for e in b.nodes {
                if self.insert(e.info, e.last_response, e.secure) == Insert::Added {
                    let i = self.index(&e.info.id);
                    if let Some(n) = self.buckets[i]
                        .nodes
                        .iter_mut()
                        .find(|x| x.info.id == e.info.id)
                    {
                        *n = Entry {
                            pinging: false,
                            ..e
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: [u8; 20], port: u16) -> NodeInfo {
        NodeInfo::new(NodeId(id), SocketAddr::from(([10, 0, 0, 1], port)))
    }

    fn id_with_first(b: u8, rest: u8) -> [u8; 20] {
        let mut id = [rest; 20];
        id[0] = b;
        id
    }

    #[test]
    fn splits_around_own_id_and_bounds_far_buckets() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, TableConfig::default(), now);
        // 8 nodes in the far half (first bit 1) fit; the first split comes
        // with the 9th node.
        for i in 0..8u8 {
            assert_eq!(
                t.insert(
                    info(id_with_first(0x80 | i, i), 1000 + u16::from(i)),
                    now,
                    true
                ),
                Insert::Added
            );
        }
        assert_eq!(t.bucket_count(), 1);
        // 9th far node: the bucket splits (it holds our id), then the far
        // bucket is full of good nodes.
        assert_eq!(
            t.insert(info(id_with_first(0x90, 9), 2000), now, true),
            Insert::Full
        );
        assert_eq!(t.bucket_count(), 2);
        assert_eq!(t.len(), 8);
        // Near nodes go in the near bucket.
        for i in 0..8u8 {
            assert_eq!(
                t.insert(
                    info(id_with_first(0x40 | i, i), 3000 + u16::from(i)),
                    now,
                    true
                ),
                Insert::Added
            );
        }
        assert_eq!(t.len(), 16);
        // Our own id is refused.
        assert_eq!(t.insert(info([0; 20], 1), now, true), Insert::Refused);
    }

    #[test]
    fn at_most_160_buckets() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, TableConfig::default(), now);
        // Ids sharing ever longer prefixes with ours force every split.
        let mut port = 1;
        for prefix in 0..160usize {
            for j in 0..9u8 {
                let mut random = [j; 20];
                random[19] = j.wrapping_add(prefix as u8);
                let id = own.random_with_prefix(prefix, random);
                t.insert(info(id.0, port), now, true);
                port += 1;
            }
        }
        assert!(t.bucket_count() <= 160, "{}", t.bucket_count());
        assert!(t.len() <= 160 * 8);
        assert!(t.replacement_count() == 0, "all good: nothing cached");
    }

    #[test]
    fn ping_before_replace() {
        let start = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, TableConfig::default(), start);
        // Fill the far bucket (after a forced split).
        for i in 0..8u8 {
            t.insert(
                info(id_with_first(0x80 | i, i), 100 + u16::from(i)),
                start,
                true,
            );
        }
        t.insert(info(id_with_first(0x40, 1), 200), start, true); // splits
        let later = start + GOOD_FOR + Duration::from_secs(1);
        // All far nodes are questionable now: a newcomer waits, oldest pinged.
        let newcomer = info(id_with_first(0xf0, 0xf0), 300);
        let Insert::Pending { ping } = t.insert(newcomer, later, true) else {
            panic!()
        };
        // A second newcomer is cached without another ping.
        assert_eq!(
            t.insert(info(id_with_first(0xf1, 0xf1), 301), later, true),
            Insert::Cached
        );
        assert_eq!(t.replacement_count(), 2);
        // The pinged node fails twice: it is replaced by the newest candidate.
        assert_eq!(
            t.failed(&ping.id, ping.addr, later),
            Some(NodeState::Questionable)
        );
        assert_eq!(t.failed(&ping.id, ping.addr, later), Some(NodeState::Bad));
        assert!(t.get(&ping.id).is_none());
        assert!(t.get(&NodeId(id_with_first(0xf1, 0xf1))).is_some());
        assert_eq!(t.replacement_count(), 1);
    }

    #[test]
    fn states_follow_bep5_timings() {
        let now = Instant::now();
        let mut e = Entry::new(info([1; 20], 1), now, true);
        assert_eq!(e.state(now, 2), NodeState::Good);
        let later = now + GOOD_FOR;
        assert_eq!(e.state(later, 2), NodeState::Questionable);
        e.last_query = Some(later);
        assert_eq!(
            e.state(later, 2),
            NodeState::Good,
            "answered before and queried us recently"
        );
        e.failures = 2;
        assert_eq!(e.state(later, 2), NodeState::Bad);
    }

    #[test]
    fn good_node_keeps_its_address() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]), TableConfig::default(), now);
        let n = info([5; 20], 1);
        t.insert(n, now, true);
        let moved = NodeInfo::new(n.id, "10.9.9.9:1".parse().unwrap());
        assert_eq!(t.insert(moved, now, true), Insert::Refused);
        assert_eq!(t.get(&n.id).unwrap().info.addr, n.addr);
    }

    #[test]
    fn closest_matches_a_full_sort() {
        let now = Instant::now();
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = || {
            let mut out = [0u8; 20];
            for b in &mut out {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            out
        };
        let own = NodeId(rnd());
        let mut t = RoutingTable::new(own, TableConfig::default(), now);
        for i in 0..5000u16 {
            // Some near our id, to make deep buckets.
            let id = if i % 3 == 0 {
                own.random_with_prefix(usize::from(i % 40), rnd())
            } else {
                NodeId(rnd())
            };
            t.insert(
                NodeInfo::new(id, SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], i))),
                now,
                true,
            );
        }
        assert!(t.bucket_count() > 10);
        let all: Vec<NodeInfo> = t.entries().map(|e| e.info).collect();
        for _ in 0..200 {
            let target = NodeId(rnd());
            for n in [1, 8, 20] {
                let got = t.closest(&target, n, false);
                let mut want = all.clone();
                want.sort_by_key(|i| target.distance(&i.id));
                want.truncate(n);
                assert_eq!(got, want);
            }
        }
        // And targets near our id.
        let target = own.random_with_prefix(30, rnd());
        let got = t.closest(&target, 8, false);
        let mut want = all.clone();
        want.sort_by_key(|i| target.distance(&i.id));
        want.truncate(8);
        assert_eq!(got, want);
    }

    #[test]
    fn refresh_and_questionable() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]), TableConfig::default(), now);
        t.insert(info([0x80; 20], 1), now, true);
        assert!(t.refresh_due(now, GOOD_FOR, 10, || [7; 20]).is_empty());
        let later = now + GOOD_FOR;
        let due = t.refresh_due(later, GOOD_FOR, 10, || [7; 20]);
        assert_eq!(due.len(), 1);
        assert_eq!(t.next_refresh(GOOD_FOR), Some(later + GOOD_FOR));
        assert_eq!(t.take_questionable(later, 10), vec![info([0x80; 20], 1)]);
        assert!(
            t.take_questionable(later, 10).is_empty(),
            "already being pinged"
        );
    }
}
