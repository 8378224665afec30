//! The peer wire messages: what we send first (extension handshake, what
//! we have, allowed fast set, DHT port), and what each message the peer
//! sends does (choke and interest, `have` and bitfields, the rest handed
//! to the download, upload and extension sides).

use super::*;

impl Conn {
    /// Extension handshake, what we have, and our allowed-fast set.
    pub(super) fn introduce(&mut self) -> Result<(), Error> {
        if self.extended {
            let hs = ExtendedHandshake {
                v: Some(self.shared.config.user_agent.clone()),
                p: self.shared.listen_port,
                reqq: Some(self.shared.config.max_queued_uploads as u32),
                yourip: Some(self.addr.ip()),
                metadata_size: u32::try_from(self.shared.info.raw().len()).ok(),
                ..self.ids.our_handshake()
            };
            self.send(hs.to_message());
        }
        let have = self.shared.lock().picker.have().clone();
        let msg = if self.fast && have.is_full() {
            Some(Message::HaveAll)
        } else if self.fast && have.count_ones() == 0 {
            Some(Message::HaveNone)
        } else if have.count_ones() > 0 {
            Some(have.to_message())
        } else {
            None
        };
        if let Some(m) = msg {
            self.send(m);
        }
        if self.fast {
            if let IpAddr::V4(ip) = self.addr.ip() {
                let set =
                    allowed_fast_set(&self.shared.info_hash, ip, self.num_pieces, ALLOWED_FAST);
                for piece in set {
                    self.allowed_ours.insert(piece);
                    self.send(Message::AllowedFast { piece });
                }
            }
        }
        // BEP 5: a peer that runs a DHT node learns our DHT port.
        if self.their_dht {
            if let Some(dht) = &self.shared.dht {
                self.send(Message::Port(dht.udp_port()));
            }
        }
        Ok(())
    }

    fn protocol_error(&self, reason: impl Into<String>) -> Error {
        Error::Peer {
            addr: self.addr,
            reason: reason.into(),
        }
    }

    /// Returns `false` when the connection should close quietly.
    pub(super) fn on_message(&mut self, m: Message) -> Result<bool, Error> {
        match m {
            Message::KeepAlive => {}
            Message::Choke => {
                self.peer_choking = true;
                self.mirror(|l| l.peer_choking = true);
                if !self.fast {
                    // Without the fast extension, a choke drops every request.
                    self.drop_outstanding();
                }
            }
            Message::Unchoke => {
                self.peer_choking = false;
                self.mirror(|l| l.peer_choking = false);
            }
            Message::Interested => {
                let slots = self.shared.config.unchoke_slots;
                let unchoke_now = {
                    let mut st = self.shared.lock();
                    let unchoked = st.peers.values().filter(|p| !p.am_choking).count();
                    let p = st.peers.get_mut(&self.key).expect("registered");
                    p.interested = true;
                    if p.am_choking && unchoked < slots {
                        p.am_choking = false;
                        true
                    } else {
                        false
                    }
                };
                if unchoke_now {
                    self.am_choking = false;
                    self.send(Message::Unchoke);
                }
            }
            Message::NotInterested => {
                let mut st = self.shared.lock();
                if let Some(p) = st.peers.get_mut(&self.key) {
                    p.interested = false;
                }
            }
            Message::Have { piece } => {
                if piece >= self.num_pieces {
                    return Err(self.protocol_error(format!("have {piece} out of range")));
                }
                let interesting = {
                    let mut st = self.shared.lock();
                    let State { picker, peers, .. } = &mut *st;
                    let p = peers.get_mut(&self.key).expect("registered");
                    if !p.has.get(piece) {
                        p.has.set(piece, true);
                        picker.peer_has(piece);
                    }
                    picker.needs(piece)
                };
                if interesting {
                    self.set_interest(true);
                }
            }
            Message::Bitfield(bytes) => {
                let bits = Bitfield::from_payload(&bytes, self.num_pieces)?;
                return self.set_has(bits);
            }
            Message::HaveAll => return self.set_has(Bitfield::full(self.num_pieces)),
            Message::HaveNone => {}
            Message::Request(r) => self.on_request(r)?,
            Message::Cancel(r) => self.on_cancel(r),
            Message::Piece(block) => self.on_block(block),
            Message::RejectRequest(r) if self.outstanding.remove(&r).is_some() => {
                // Choked, a rejected allowed fast piece is not asked for
                // again (else we ask for its blocks after every reject),
                // as libtorrent does.
                if self.peer_choking {
                    self.allowed_theirs.remove(&r.piece);
                }
                let mut st = self.shared.lock();
                st.picker.block_dropped(&r);
                if let Some(p) = st.peers.get_mut(&self.key) {
                    p.live.requests_out = self.outstanding.len();
                }
            }
            Message::AllowedFast { piece } if piece < self.num_pieces => {
                self.allowed_theirs.insert(piece);
            }
            Message::Extended { id: 0, payload } => {
                if let Ok(hs) = ExtendedHandshake::decode(&payload, &self.shared.limits) {
                    if let Some(q) = hs.reqq {
                        self.reqq = (q as usize).max(1);
                    }
                    self.ids.apply_handshake(&hs);
                    if let Some(port) = hs.p.filter(|p| *p != 0) {
                        let mut st = self.shared.lock();
                        if let Some(p) = st.peers.get_mut(&self.key) {
                            p.listen_addr = Some(SocketAddr::new(self.addr.ip(), port));
                        }
                    }
                }
            }
            Message::Extended { id, payload } => self.on_extension(id, &payload)?,
            Message::HashRequest(r) => self.on_hash_request(r),
            Message::Hashes(h) => {
                hash_exchange::on_hashes(&self.shared, self.key, self.addr, &mut self.hashes, &h)?;
            }
            Message::HashReject(r) => {
                hash_exchange::on_reject(&self.shared, self.key, &mut self.hashes, &r);
            }
            Message::Port(port) => self.on_port(port),
            // Suggestions are not used by this engine yet.
            _ => {}
        }
        Ok(true)
    }

    fn set_has(&mut self, bits: Bitfield) -> Result<bool, Error> {
        let (interesting, both_seeds) = {
            let mut st = self.shared.lock();
            let State { picker, peers, .. } = &mut *st;
            let p = peers.get_mut(&self.key).expect("registered");
            picker.peer_gone(&p.has);
            p.has = bits;
            picker.peer_has_all_of(&p.has);
            (
                picker.is_interesting(&p.has),
                picker.is_complete() && p.has.is_full(),
            )
        };
        if both_seeds {
            return Ok(false);
        }
        self.set_interest(interesting);
        Ok(true)
    }
}
