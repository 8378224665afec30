//! Our queries as KRPC transactions: sending one (transaction id,
//! deadline, what it is for), the pings that check nodes, and how each
//! ends: its reply (routing table, external address vote, the lookup or
//! request it belongs to), an error reply, or a timeout.

use super::*;

impl Dht {
    pub(super) fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        node: Option<NodeId>,
        query: Query<'_>,
        purpose: Purpose,
    ) -> Result<u32, Error> {
        if self.pending.len() >= self.config.max_pending {
            return Err(Error::Limit {
                what: "transactions in flight",
                limit: self.config.max_pending,
            });
        }
        if self.tables[slot(Family::of(&to))].is_none() {
            return Err(Error::NoSocket { addr: to });
        }
        let tid = loop {
            let t = self.rng.next_u64() as u32;
            if !self.pending.contains_key(&t) {
                break t;
            }
        };
        let version = self.config.version;
        let msg = Message {
            transaction_id: TransactionId::from_u32(tid),
            version: version.as_ref().map(|v| &v[..]),
            ip: None,
            read_only: self.config.read_only,
            body: Body::Query(query),
        };
        self.transmit(to, &msg);
        let deadline = now + self.config.query_timeout;
        self.pending.insert(
            tid,
            Pending {
                to,
                node,
                deadline,
                purpose,
            },
        );
        self.deadlines.insert((deadline, tid));
        Ok(tid)
    }

    /// Pings `addr`, a node we heard from but do not know, so that it
    /// enters the routing table if it answers; skipped when it is already
    /// being pinged or `Config::max_verify_pings` are in flight.
    pub(super) fn verify(&mut self, now: Instant, addr: SocketAddr) {
        if self.verifying.contains(&addr) || self.verifying.len() >= self.config.max_verify_pings {
            return;
        }
        let q = Query::Ping { id: self.id };
        if self.send_query(now, addr, None, q, Purpose::Verify).is_ok() {
            self.verifying.insert(addr);
        }
    }

    pub(super) fn check(&mut self, now: Instant, node: NodeInfo) {
        let q = Query::Ping { id: self.id };
        if self
            .send_query(now, node.addr, Some(node.id), q, Purpose::Check)
            .is_err()
        {
            if let Some(t) = self.tables[slot(Family::of(&node.addr))].as_mut() {
                t.ping_done(&node.id);
            }
        }
    }

    /// Takes the pending transaction a reply answers: same transaction id
    /// and same sender, else `None` (counted, ignored).
    fn take_pending(&mut self, from: SocketAddr, t: &TransactionId) -> Option<Pending> {
        let found = t
            .to_u32()
            .filter(|tid| self.pending.get(tid).is_some_and(|p| p.to == from));
        match found {
            Some(tid) => {
                let p = self.pending.remove(&tid)?;
                self.deadlines.remove(&(p.deadline, tid));
                Some(p)
            }
            None => {
                self.counters.unknown_transactions += 1;
                None
            }
        }
    }

    pub(super) fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        r: Response<'_>,
    ) {
        let Some(p) = self.take_pending(from, &msg.transaction_id) else {
            return;
        };
        let family = Family::of(&from);
        let node = NodeInfo::new(r.id, from);
        let secure = is_secure_node_id(&r.id, from.ip());
        if !secure {
            self.counters.insecure_ids += 1;
            self.event(Event::InsecureNodeId { node });
        }
        if r.id != self.id && (secure || !self.config.enforce_node_id) {
            if let Some(table) = self.tables[slot(family)].as_mut() {
                match table.insert(node, now, secure) {
                    Insert::Added => self.event(Event::NodeAdded(node)),
                    Insert::Pending { ping } => self.check(now, ping),
                    _ => {}
                }
            }
        }
        if let Some(ip) = msg.ip {
            self.vote(now, from.ip(), ip);
        }
        match p.purpose {
            Purpose::Search { lookup, search } => {
                self.search_response(now, lookup, search, from, &r, secure)
            }
            Purpose::Announce { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    l.stats.announces_acked += 1;
                    if let Some(s) = l.searches.get_mut(search) {
                        s.announce_pending = s.announce_pending.saturating_sub(1);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Ping(request) => self.event(Event::Pong { request, node }),
            Purpose::Verify => {
                self.verifying.remove(&from);
            }
            Purpose::Check => {}
            Purpose::Sample(request) => {
                let mut nodes: Vec<NodeInfo> = r.nodes.iter().flat_map(|n| n.iter()).collect();
                nodes.extend(r.nodes6.iter().flat_map(|n| n.iter()));
                self.event(Event::Samples {
                    request,
                    node,
                    samples: r.samples.map(|s| s.iter().collect()).unwrap_or_default(),
                    num: r.num,
                    interval: r.interval,
                    nodes,
                });
            }
        }
    }

    pub(super) fn on_error(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: &Message<'_>,
        e: ErrorReply<'_>,
    ) {
        let Some(p) = self.take_pending(from, &msg.transaction_id) else {
            return;
        };
        let error = Error::Remote {
            code: e.code.code(),
            message: String::from_utf8_lossy(e.message).into_owned(),
        };
        self.failed(now, p, Some(error));
    }

    /// A transaction ended without a reply (`error` `None`: timeout) or
    /// with an error reply.
    pub(super) fn failed(&mut self, now: Instant, p: Pending, error: Option<Error>) {
        let timed_out = error.is_none();
        if timed_out {
            self.counters.timeouts += 1;
            if let (Some(id), Some(table)) = (p.node, self.tables[slot(Family::of(&p.to))].as_mut())
            {
                let state = table.failed(&id, p.to, now);
                // BEP 5: a node that fails a check once is tried once more.
                if matches!(p.purpose, Purpose::Check) && state == Some(NodeState::Questionable) {
                    self.check(now, NodeInfo::new(id, p.to));
                }
            }
        }
        match p.purpose {
            Purpose::Search { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    if timed_out {
                        l.stats.timeouts += 1;
                    } else {
                        l.stats.errors += 1;
                    }
                    if let Some(s) = l.searches.get_mut(search) {
                        s.failed(p.to);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Announce { lookup, search } => {
                if let Some(l) = self.lookups.get_mut(&lookup) {
                    if let Some(s) = l.searches.get_mut(search) {
                        s.announce_pending = s.announce_pending.saturating_sub(1);
                    }
                    self.drive(now, lookup);
                }
            }
            Purpose::Ping(request) | Purpose::Sample(request) => self.event(Event::RequestFailed {
                request,
                error: error.unwrap_or(Error::Timeout),
            }),
            Purpose::Verify => {
                self.verifying.remove(&p.to);
            }
            Purpose::Check => {}
        }
    }
}
