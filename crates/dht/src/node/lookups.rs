//! Iterative lookups (bootstrap, refresh, `find_node`, `get_peers`,
//! announce): starting one from the tables, driving it as replies come
//! in, `announce_peer` to the closest nodes, and its result.

use super::*;

impl Dht {
    pub(super) fn start_lookup(
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
    pub(super) fn drive(&mut self, now: Instant, id: LookupId) {
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

    pub(super) fn search_response(
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
}
