//! One iterative search (BEP 5 / Kademlia): the candidate list of a lookup
//! in one address family, closest first, with alpha queries in flight and
//! closest-K convergence. The [`Dht`](crate::Dht) sends the queries; this
//! only decides whom to ask and when it is done.

use std::net::SocketAddr;

use crate::compact::{Family, NodeInfo};
use crate::id::{Distance, NodeId};

/// Longest write token kept from a `get_peers` reply, in bytes; longer
/// tokens are not kept (and the node is not announced to).
pub(crate) const MAX_TOKEN_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CandidateState {
    Fresh,
    Waiting,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) addr: SocketAddr,
    /// `None` for a bootstrap node whose id we do not know yet.
    pub(crate) id: Option<NodeId>,
    distance: Distance,
    pub(crate) state: CandidateState,
    /// Referral depth: 1 for a node we started with.
    pub(crate) depth: u32,
    pub(crate) token: Option<Box<[u8]>>,
    pub(crate) secure: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Search {
    pub(crate) family: Family,
    target: NodeId,
    candidates: Vec<Candidate>,
    pub(crate) in_flight: usize,
    k: usize,
    max: usize,
    /// Announce phase: started, and replies still awaited.
    pub(crate) announce_started: bool,
    pub(crate) announce_pending: usize,
}

impl Search {
    pub(crate) fn new(family: Family, target: NodeId, k: usize, max: usize) -> Self {
        Search {
            family,
            target,
            candidates: Vec::new(),
            in_flight: 0,
            k: k.max(1),
            max: max.max(k.max(1)),
            announce_started: false,
            announce_pending: 0,
        }
    }

    /// Adds a candidate unless its address or id is already there. Bootstrap
    /// nodes (no id) go first. Keeps at most `max`, dropping the farthest
    /// that is not awaited.
    pub(crate) fn add(&mut self, id: Option<NodeId>, addr: SocketAddr, depth: u32) {
        if Family::of(&addr) != self.family
            || addr.port() == 0
            || addr.ip().is_unspecified()
            || addr.ip().is_multicast()
        {
            return;
        }
        if self
            .candidates
            .iter()
            .any(|c| c.addr == addr || (id.is_some() && c.id == id))
        {
            return;
        }
        let distance = match id {
            Some(id) => self.target.distance(&id),
            None => Distance([0; 20]),
        };
        let pos = self
            .candidates
            .partition_point(|c| (c.id.is_some(), c.distance) <= (id.is_some(), distance));
        if pos >= self.max {
            return;
        }
        self.candidates.insert(
            pos,
            Candidate {
                addr,
                id,
                distance,
                state: CandidateState::Fresh,
                depth,
                token: None,
                secure: false,
            },
        );
        if self.candidates.len() > self.max {
            if let Some(drop) = self
                .candidates
                .iter()
                .rposition(|c| c.state != CandidateState::Waiting)
            {
                self.candidates.remove(drop);
            }
        }
    }

    fn counts(c: &Candidate, enforce: bool) -> bool {
        match c.state {
            CandidateState::Failed => false,
            CandidateState::Responded => !enforce || c.secure,
            _ => true,
        }
    }

    /// The next node to query, if fewer than `alpha` are in flight and one
    /// of the K closest live candidates has not been asked; it is marked as
    /// awaited.
    pub(crate) fn next(
        &mut self,
        alpha: usize,
        enforce: bool,
    ) -> Option<(SocketAddr, Option<NodeId>)> {
        if self.in_flight >= alpha {
            return None;
        }
        let mut seen = 0;
        for c in &mut self.candidates {
            if !Self::counts(c, enforce) {
                continue;
            }
            if c.state == CandidateState::Fresh {
                c.state = CandidateState::Waiting;
                self.in_flight += 1;
                return Some((c.addr, c.id));
            }
            seen += 1;
            if seen >= self.k {
                break;
            }
        }
        None
    }

    /// Undoes [`next`](Self::next) when the query could not be sent.
    pub(crate) fn unsend(&mut self, addr: SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            if c.state == CandidateState::Waiting {
                c.state = CandidateState::Fresh;
                self.in_flight -= 1;
            }
        }
    }

    /// Converged: the K closest live candidates have all answered, or
    /// nothing is left to ask and nothing is in flight.
    pub(crate) fn converged(&self, enforce: bool) -> bool {
        let mut seen = 0;
        let mut waiting = false;
        for c in &self.candidates {
            if !Self::counts(c, enforce) {
                continue;
            }
            match c.state {
                CandidateState::Fresh => return false,
                CandidateState::Waiting => waiting = true,
                _ => {}
            }
            seen += 1;
            if seen >= self.k {
                break;
            }
        }
        if seen >= self.k {
            !waiting
        } else {
            self.in_flight == 0
        }
    }

    /// Records an answer from `addr`; returns its depth (for the nodes it
    /// named), or `None` if `addr` is not a candidate.
    pub(crate) fn responded(
        &mut self,
        addr: SocketAddr,
        id: NodeId,
        token: Option<&[u8]>,
        secure: bool,
    ) -> Option<u32> {
        let pos = self.candidates.iter().position(|c| c.addr == addr)?;
        let mut c = self.candidates.remove(pos);
        if c.state == CandidateState::Waiting {
            self.in_flight -= 1;
        }
        c.state = CandidateState::Responded;
        c.id = Some(id);
        c.distance = self.target.distance(&id);
        c.token = token.filter(|t| t.len() <= MAX_TOKEN_LEN).map(Box::from);
        c.secure = secure;
        let depth = c.depth;
        // Another candidate with the same id (a stale address): drop it.
        self.candidates.retain(|o| o.id != Some(id));
        let at = self
            .candidates
            .partition_point(|o| (o.id.is_some(), o.distance) <= (true, c.distance));
        self.candidates.insert(at, c);
        Some(depth)
    }

    /// Records that `addr` did not answer (or answered with an error).
    pub(crate) fn failed(&mut self, addr: SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            if c.state == CandidateState::Waiting {
                self.in_flight -= 1;
            }
            c.state = CandidateState::Failed;
        }
    }

    /// The K closest nodes that answered with a token (and a BEP 42 valid
    /// id when enforcing), with their tokens.
    pub(crate) fn announce_targets(&self, enforce: bool) -> Vec<(NodeInfo, Box<[u8]>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == CandidateState::Responded && (!enforce || c.secure))
            .take(self.k)
            .filter_map(|c| Some((NodeInfo::new(c.id?, c.addr), c.token.clone()?)))
            .collect()
    }

    /// The K closest nodes that answered, closest first, with the depth of
    /// the closest.
    pub(crate) fn closest(&self) -> (Vec<(Distance, NodeInfo)>, u32) {
        let mut hops = 0;
        let out: Vec<_> = self
            .candidates
            .iter()
            .filter(|c| c.state == CandidateState::Responded)
            .take(self.k)
            .filter_map(|c| {
                if hops == 0 {
                    hops = c.depth;
                }
                Some((c.distance, NodeInfo::new(c.id?, c.addr)))
            })
            .collect();
        (out, hops)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.candidates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], i))
    }

    fn id(b: u8) -> NodeId {
        let mut x = [0u8; 20];
        x[0] = b;
        NodeId(x)
    }

    #[test]
    fn asks_closest_first_alpha_at_a_time_and_converges() {
        let mut s = Search::new(Family::V4, NodeId([0; 20]), 2, 10);
        for i in 1..=5u8 {
            s.add(Some(id(i * 16)), addr(u16::from(i)), 1);
        }
        s.add(Some(id(16)), addr(99), 1); // same id: ignored
        s.add(Some(id(1)), addr(1), 1); // same address: ignored
        assert_eq!(s.len(), 5);
        assert_eq!(s.next(2, false), Some((addr(1), Some(id(16)))));
        assert_eq!(s.next(2, false), Some((addr(2), Some(id(32)))));
        assert_eq!(s.next(2, false), None, "alpha reached");
        assert!(!s.converged(false));
        s.failed(addr(1));
        // Node 3 enters the K=2 window.
        assert_eq!(s.next(2, false), Some((addr(3), Some(id(48)))));
        assert_eq!(s.responded(addr(2), id(32), Some(b"tok"), true), Some(1));
        s.add(Some(id(2)), addr(7), 2); // closer than all
        assert_eq!(s.next(2, false), Some((addr(7), Some(id(2)))));
        s.responded(addr(7), id(2), None, true);
        assert!(s.converged(false), "the 2 closest live nodes answered");
        assert_eq!(s.closest().1, 2);
        let targets = s.announce_targets(false);
        assert_eq!(targets.len(), 1, "only node 2 gave a token");
        // Enforcing BEP 42: an insecure answer does not count.
        s.responded(addr(3), id(48), Some(b"t"), false);
        assert_eq!(s.announce_targets(true).len(), 1);
    }

    #[test]
    fn bootstrap_nodes_first_and_bounded() {
        let mut s = Search::new(Family::V4, NodeId([0; 20]), 2, 4);
        for i in 1..=10u8 {
            s.add(Some(id(i)), addr(u16::from(i)), 1);
        }
        s.add(None, addr(100), 1);
        assert_eq!(s.len(), 4);
        assert_eq!(s.next(3, false), Some((addr(100), None)));
        // Wrong family, port 0: ignored.
        s.add(Some(id(0)), "[::1]:5".parse().unwrap(), 1);
        s.add(Some(id(0)), addr(0), 1);
        assert_eq!(s.len(), 4);
    }
}
