//! Incoming datagrams ([`Dht::handle`]): decoding and dispatch, and the
//! answers to other nodes' queries (BEP 5, 32, 43, 51), with the routing
//! that follows a query. Replies to our queries: `transactions.rs`.

use super::*;

impl Dht {
    /// Handles one received datagram from `from`: answers queries, matches
    /// replies to our transactions, drives lookups. Datagrams over
    /// [`Config::max_datagram_len`], undecodable ones, and replies matching
    /// no transaction of ours (by id and sender) are dropped and counted
    /// ([`Stats`]); a malformed query whose transaction id was readable is
    /// answered with error 203.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.last_now = now;
        self.counters.received += 1;
        let from = canonical(from);
        if datagram.len() > self.config.max_datagram_len {
            self.counters.too_long += 1;
            return;
        }
        if from.port() == 0 || self.tables[slot(Family::of(&from))].is_none() {
            return;
        }
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                if let Some(t) = e.error_reply_id() {
                    if !self.config.read_only {
                        let t = *t;
                        self.reply_error(from, t, ErrorCode::Protocol, b"invalid message");
                    }
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.on_query(now, from, &msg, q),
            Body::Response(r) => self.on_response(now, from, &msg, r),
            Body::Error(e) => self.on_error(now, from, &msg, e),
        }
    }

    fn reply_error(&mut self, to: SocketAddr, t: TransactionId, code: ErrorCode, message: &[u8]) {
        let version = self.config.version;
        let msg = Message {
            transaction_id: t,
            version: version.as_ref().map(|v| &v[..]),
            ip: Some(to),
            read_only: false,
            body: Body::Error(ErrorReply {
                code,
                message,
                id: Some(self.id),
            }),
        };
        self.transmit(to, &msg);
    }

    fn compact_nodes(&self, family: Family, target: &NodeId, out: &mut Vec<u8>) -> bool {
        let Some(table) = self.tables[slot(family)].as_ref() else {
            return false;
        };
        for n in table.closest(target, self.config.table.k, false) {
            encode_node(&n, out);
        }
        true
    }

    fn on_query(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, q: Query<'_>) {
        self.counters.queries_received += 1;
        if self.config.read_only {
            return;
        }
        self.serve_query(now, from, msg, q);
        // Routing, after the answer is on its way: a known node stays good;
        // a new one is checked with a ping and enters the table only if it
        // answers. Read-only nodes (BEP 43) are served but never added.
        let sender = q.id();
        if !msg.read_only && sender != self.id {
            let family = Family::of(&from);
            let secure = is_secure_node_id(&sender, from.ip());
            let known = self.tables[slot(family)]
                .as_mut()
                .is_some_and(|t| t.heard_from(&sender, from, now));
            if !known && (secure || !self.config.enforce_node_id) {
                self.verify(now, from);
            }
        }
    }

    fn serve_query(&mut self, now: Instant, from: SocketAddr, msg: &Message<'_>, q: Query<'_>) {
        let family = Family::of(&from);
        let (want4, want6) = wanted(&q, family);
        let mut n4 = Vec::new();
        let mut n6 = Vec::new();
        let token;
        let values;
        let samples;
        let t = msg.transaction_id;
        let mut r = Response::new(self.id);
        match q {
            Query::Ping { .. } => {}
            Query::FindNode { target, .. } => {
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
            }
            Query::GetPeers { info_hash, .. } => {
                let target = NodeId::from(info_hash);
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
                token = self.tokens.issue(from.ip());
                r.token = Some(&token);
                let max = match family {
                    Family::V4 => self.config.max_values,
                    Family::V6 => self.config.max_values / 2,
                };
                let random = self.rng.next_u64();
                values = self.storage.peers(&info_hash, family, max, now, random);
                if !values.is_empty() {
                    r.values = Some(Values::from_peers(&values));
                }
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.tokens.verify(from.ip(), token) {
                    self.counters.bad_tokens += 1;
                    self.reply_error(from, t, ErrorCode::Protocol, b"bad token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.reply_error(from, t, ErrorCode::Protocol, b"invalid port");
                    return;
                }
                let peer = SocketAddr::new(from.ip(), port);
                match self.storage.announce(info_hash, peer, now) {
                    Stored::Full | Stored::IpLimit => {
                        self.reply_error(from, t, ErrorCode::Server, b"storage full");
                        return;
                    }
                    Stored::Added => self.event(Event::PeerAnnounced { info_hash, peer }),
                    Stored::Refreshed => {}
                }
            }
            Query::SampleInfohashes { target, .. } => {
                if want4 && self.compact_nodes(Family::V4, &target, &mut n4) {
                    r.nodes = Some(CompactNodes::new(&n4, Family::V4));
                }
                if want6 && self.compact_nodes(Family::V6, &target, &mut n6) {
                    r.nodes6 = Some(CompactNodes::new(&n6, Family::V6));
                }
                let random = self.rng.bytes20();
                samples = self
                    .storage
                    .sample(self.config.max_samples, random)
                    .iter()
                    .flat_map(|h| h.0)
                    .collect::<Vec<u8>>();
                r.samples = Some(Samples::new(&samples));
                r.num = Some(self.storage.stats().info_hashes as i64);
                r.interval = Some(i64::from(self.config.sample_interval.min(21600)));
            }
            Query::Unknown { .. } => {
                self.counters.unknown_methods += 1;
                self.reply_error(from, t, ErrorCode::MethodUnknown, b"method unknown");
                return;
            }
        }
        let version = self.config.version;
        let reply = Message {
            transaction_id: t,
            version: version.as_ref().map(|v| &v[..]),
            ip: Some(from),
            read_only: false,
            body: Body::Response(r),
        };
        self.transmit(from, &reply);
    }
}

/// Which node lists a reply carries (BEP 32): as `want` says, else the
/// family the query came over.
fn wanted(q: &Query<'_>, family: Family) -> (bool, bool) {
    let want = match *q {
        Query::FindNode { want, .. }
        | Query::GetPeers { want, .. }
        | Query::SampleInfohashes { want, .. } => want,
        _ => None,
    };
    match want {
        Some(w) => (w.n4, w.n6),
        None => (family == Family::V4, family == Family::V6),
    }
}
