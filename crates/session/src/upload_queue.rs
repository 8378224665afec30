//! The peer's requests waiting to be served (BEP 3 `request`), in arrival
//! order, with a set beside the queue so a duplicate or a `cancel` is found
//! without scanning it.
//!
//! A libtorrent leecher keeps as many requests queued at us as our `reqq`
//! allows (2000), and sends them in bursts of hundreds: scanning the queue
//! for each new request cost 4 % of the seed's CPU in a 1 GiB upload
//! (`scripts/bench-seed.sh` under `perf`).

use std::collections::{HashSet, VecDeque};

use seedbed_peer_wire::BlockRequest;

/// Requests in arrival order, each at most once.
#[derive(Debug, Default)]
pub(crate) struct UploadQueue {
    order: VecDeque<BlockRequest>,
    queued: HashSet<BlockRequest>,
}

impl UploadQueue {
    /// Queues `r` at the back; `false` if it was already queued (the queue
    /// is unchanged).
    pub(crate) fn push(&mut self, r: BlockRequest) -> bool {
        if !self.queued.insert(r) {
            return false;
        }
        self.order.push_back(r);
        true
    }

    /// Removes `r` (a `cancel`); `false` if it was not queued.
    pub(crate) fn cancel(&mut self, r: &BlockRequest) -> bool {
        if !self.queued.remove(r) {
            return false;
        }
        if self.order.front() == Some(r) {
            self.order.pop_front();
        } else {
            self.order.retain(|q| q != r);
        }
        true
    }

    /// Removes and returns the oldest request.
    pub(crate) fn pop_front(&mut self) -> Option<BlockRequest> {
        let r = self.order.pop_front()?;
        self.queued.remove(&r);
        Some(r)
    }

    /// Removes and returns the `n` oldest requests (all if fewer).
    pub(crate) fn take_front(&mut self, n: usize) -> Vec<BlockRequest> {
        let n = n.min(self.order.len());
        let taken: Vec<BlockRequest> = self.order.drain(..n).collect();
        for r in &taken {
            self.queued.remove(r);
        }
        taken
    }

    /// The requests in order, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &BlockRequest> {
        self.order.iter()
    }

    /// Empties the queue, returning what it held in order, and releases
    /// its memory.
    pub(crate) fn take_all(&mut self) -> Vec<BlockRequest> {
        let all = std::mem::take(&mut self.order).into();
        self.queued = HashSet::new();
        all
    }

    /// Releases the memory of an empty queue (an idle connection keeps
    /// none; a burst of 2000 requests left about 64 KiB behind).
    pub(crate) fn release_if_empty(&mut self) {
        if self.order.is_empty() && (self.order.capacity() > 0 || self.queued.capacity() > 0) {
            *self = UploadQueue::default();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(piece: u32, begin: u32) -> BlockRequest {
        BlockRequest {
            piece,
            begin,
            length: 16384,
        }
    }

    #[test]
    fn keeps_order_and_drops_duplicates() {
        let mut q = UploadQueue::default();
        assert!(q.push(req(1, 0)));
        assert!(q.push(req(0, 16384)));
        assert!(!q.push(req(1, 0)), "a duplicate is not queued twice");
        assert!(q.push(req(2, 0)));
        assert_eq!(q.len(), 3);
        assert_eq!(q.iter().next(), Some(&req(1, 0)));
        assert_eq!(q.pop_front(), Some(req(1, 0)));
        assert!(q.push(req(1, 0)), "served, it may be asked for again");
        let order: Vec<BlockRequest> = q.iter().copied().collect();
        assert_eq!(order, [req(0, 16384), req(2, 0), req(1, 0)]);
    }

    #[test]
    fn cancel_removes_from_anywhere() {
        let mut q = UploadQueue::default();
        for i in 0..5 {
            q.push(req(i, 0));
        }
        assert!(q.cancel(&req(0, 0)), "the front");
        assert!(q.cancel(&req(3, 0)), "the middle");
        assert!(!q.cancel(&req(3, 0)), "not queued any more");
        assert!(!q.cancel(&req(9, 0)), "never queued");
        assert_eq!(q.take_front(2), [req(1, 0), req(2, 0)]);
        assert_eq!(q.take_front(10), [req(4, 0)]);
        assert!(q.is_empty());
        assert!(q.push(req(3, 0)), "the set follows the queue");
    }

    #[test]
    fn take_all_and_release_leave_nothing() {
        let mut q = UploadQueue::default();
        for i in 0..2000 {
            q.push(req(i, 0));
        }
        let all = q.take_all();
        assert_eq!(all.len(), 2000);
        assert_eq!(all[1999], req(1999, 0));
        assert!(q.is_empty() && q.push(req(7, 0)));
        q.pop_front();
        q.release_if_empty();
        assert_eq!(q.order.capacity(), 0);
        assert_eq!(q.queued.capacity(), 0);
    }
}
