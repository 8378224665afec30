//! The download side: the request pipeline (depth, batches, endgame
//! duplicates, the allowed fast set while choked), blocks received, our
//! requests dropped, and our BEP 52 hash requests.

use super::*;

impl Conn {
    pub(super) fn on_block(&mut self, block: Block) {
        let r = block.request();
        let len = block.data.len() as u64;
        let now = Instant::now();
        for l in self.shared.download_limiters() {
            l.spend(len, now);
        }
        let counters = &self.shared.counters;
        if self.outstanding.remove(&r).is_none() {
            counters.wasted.fetch_add(len, Ordering::Relaxed);
            return;
        }
        self.last_progress = Instant::now();
        self.received_this_tick += len;
        // Slow start: one more request in flight per block delivered, so
        // the pipeline doubles every round trip until the rate-based depth
        // (set each second) or the cap takes over.
        self.depth += 1;
        counters.downloaded.fetch_add(len, Ordering::Relaxed);
        let g = *self.shared.info.geometry();
        let mut complete = None;
        {
            let mut st = self.shared.lock();
            if let Some(p) = st.peers.get_mut(&self.key) {
                p.down += len;
                p.live.downloaded += len;
                p.live.snubbed = false;
                p.live.requests_out = self.outstanding.len();
            }
            match st.picker.block_received(&r) {
                outcome @ (Received::New | Received::PieceComplete) => {
                    let piece = g.piece(r.piece).expect("picker checked the piece");
                    let buf = st.buffers.entry(r.piece).or_insert_with(|| PieceBuffer {
                        blocks: vec![None; g.num_blocks(piece) as usize],
                        contributors: Vec::new(),
                    });
                    buf.blocks[(r.begin / BLOCK_SIZE) as usize] = Some(block.data);
                    if !buf.contributors.contains(&self.key) {
                        buf.contributors.push(self.key);
                    }
                    if outcome == Received::PieceComplete {
                        let buf = st.buffers.remove(&r.piece).expect("buffer just filled");
                        complete = Some((piece, buf));
                    }
                    if st.picker.in_endgame() {
                        for (k, p) in &st.peers {
                            if *k != self.key {
                                let _ = p.tx.send(PeerCmd::Cancel(r));
                            }
                        }
                    }
                }
                Received::Duplicate | Received::Invalid => {
                    counters.wasted.fetch_add(len, Ordering::Relaxed);
                }
            }
        }
        if let Some((piece, buf)) = complete {
            let blocks: Option<Vec<Bytes>> = buf.blocks.into_iter().collect();
            match blocks {
                Some(blocks) => self.shared.submit_piece(piece, blocks, buf.contributors),
                None => self.shared.lock().picker.piece_checked(piece, false),
            }
        }
    }

    pub(super) fn drop_outstanding(&mut self) {
        if self.outstanding.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        for (r, _) in self.outstanding.drain() {
            st.picker.block_dropped(&r);
        }
        if let Some(p) = st.peers.get_mut(&self.key) {
            p.live.requests_out = 0;
        }
    }

    pub(super) fn request_more(&mut self) -> Result<(), Error> {
        if !self.am_interested {
            return Ok(());
        }
        if self.peer_choking && self.allowed_theirs.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if let Some(until) = self.snubbed_until {
            if until > now {
                return Ok(());
            }
            self.snubbed_until = None;
            self.mirror(|l| l.snubbed = false);
        }
        // Back-pressure: complete pieces wait for the hashing threads.
        if self.shared.verify_backlogged() {
            return Ok(());
        }
        let cap = self.shared.config.max_requests_per_peer.min(self.reqq);
        self.depth = self.depth.min(cap);
        let target = self.depth;
        if self.outstanding.len() >= target {
            return Ok(());
        }
        let want = target - self.outstanding.len();
        // Requests go out in batches (a few per flush, not one per block
        // received), unless the pipeline is empty.
        if want < (target / REQUEST_BATCH_DIV).clamp(1, MAX_REQUEST_BATCH)
            && !self.outstanding.is_empty()
        {
            return Ok(());
        }
        // Endgame duplicates only for a peer with (almost) nothing queued.
        let dups = ENDGAME_QUEUE.saturating_sub(self.outstanding.len());
        self.scratch.clear();
        {
            let mut st = self.shared.lock();
            let State {
                picker, peers, rng, ..
            } = &mut *st;
            let Some(p) = peers.get(&self.key) else {
                return Ok(());
            };
            picker.set_clock(now.duration_since(self.shared.epoch).as_millis() as u64);
            let outstanding = &self.outstanding;
            // v2-only: only pieces whose hash is known (merkle_verify.rs).
            let gated = self
                .shared
                .verifier
                .v2
                .as_ref()
                .and_then(|v| v.pickable(&p.has));
            let has = gated.as_ref().unwrap_or(&p.has);
            if self.peer_choking {
                let mut allowed = Bitfield::new(self.num_pieces);
                for &piece in &self.allowed_theirs {
                    if has.get(piece) {
                        allowed.set(piece, true);
                    }
                }
                picker.pick(
                    &allowed,
                    want,
                    dups,
                    |r| outstanding.contains_key(r),
                    rng,
                    &mut self.scratch,
                );
            } else {
                picker.pick(
                    has,
                    want,
                    dups,
                    |r| outstanding.contains_key(r),
                    rng,
                    &mut self.scratch,
                );
            }
            if let Some(p) = peers.get_mut(&self.key) {
                p.live.requests_out = self.outstanding.len() + self.scratch.len();
            }
        }
        let picked = std::mem::take(&mut self.scratch);
        // Requests are timed from when the pipeline last moved: a block,
        // or now if it was empty (the time before, choked or not
        // interested, is no delay of this peer's).
        if self.outstanding.is_empty() && !picked.is_empty() {
            self.last_progress = now;
        }
        for r in &picked {
            self.outstanding.insert(*r, now);
            self.send(Message::Request(*r));
        }
        if !picked.is_empty() && self.next_tick.is_none() {
            self.next_tick = Some(now + TICK);
        }
        self.scratch = picked;
        Ok(())
    }

    /// Asks the peer for piece layers we lack (BEP 52, `hash_exchange.rs`).
    pub(super) fn request_hashes(&mut self) {
        let now = Instant::now();
        for r in hash_exchange::next_requests(&self.shared, self.key, &mut self.hashes, now) {
            self.send(Message::HashRequest(r));
        }
    }
}
