//! Our external address (BEP 42): the votes of the nodes that reply,
//! and a secure node id once the address is known.

use super::*;

impl Dht {
    pub(super) fn vote(&mut self, now: Instant, voter: IpAddr, reported: SocketAddr) {
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
}
