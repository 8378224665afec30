//! The upload side: the peer's requests and cancels, serving them from
//! the page cache or a disk read task within the upload limit, and the
//! peer's BEP 52 hash requests.

use super::*;

impl Conn {
    /// Whether `serve` would read more blocks now.
    pub(super) fn can_serve(&self) -> bool {
        self.reading.is_none()
            && self.send_paused_until.is_none()
            && !self.requests.is_empty()
            && self.out.len() < SEND_WATERMARK
    }

    pub(super) fn on_request(&mut self, r: BlockRequest) -> Result<(), Error> {
        let g = *self.shared.info.geometry();
        let valid = (g
            .piece(r.piece)
            .and_then(|p| g.block(p, r.begin, r.length))
            .is_some()
            || self.shared.v2_tail_block(&r))
            && r.length <= BLOCK_SIZE
            && self.shared.lock().picker.has_piece(r.piece);
        let allowed = !self.am_choking || self.allowed_ours.contains(&r.piece);
        if !valid || !allowed || self.requests.len() >= self.shared.config.max_queued_uploads {
            if self.fast {
                self.send(Message::RejectRequest(r));
            }
            return Ok(());
        }
        self.requests.push(r);
        Ok(())
    }

    /// A `cancel` of a queued request drops it; with the fast extension
    /// every request gets one answer, so it is rejected (BEP 6).
    pub(super) fn on_cancel(&mut self, r: BlockRequest) {
        if self.requests.cancel(&r) && self.fast {
            self.send(Message::RejectRequest(r));
        }
    }

    /// A BEP 52 hash request: answered in a task of its own (leaves below
    /// the piece layer are hashed from disk), whose answer comes back as
    /// [`PeerCmd::Send`].
    pub(super) fn on_hash_request(&mut self, r: seedbed_peer_wire::HashRequest) {
        let tx = {
            let st = self.shared.lock();
            st.peers.get(&self.key).map(|p| p.tx.clone())
        };
        let Some(tx) = tx else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let unchoked = !self.am_choking;
        tokio::spawn(async move {
            let answer = hash_exchange::answer(&shared, r, unchoked).await;
            let _ = tx.send(PeerCmd::Send(answer));
        });
    }

    /// Reads the peer's next requested blocks: first from the page cache
    /// on this thread (no hand-off, the common case for a seed; blocks
    /// that follow each other in a piece with one `preadv2`), then, for
    /// the first block that is not cached, a batch on a blocking thread.
    /// Nothing new is read while the send queue holds `SEND_WATERMARK`
    /// bytes.
    pub(super) fn serve(&mut self) -> Result<(), Error> {
        if !self.can_serve() {
            return Ok(());
        }
        // The upload limit: in debt, wait; else spend at most what is
        // there, but at least one block (the debt is waited out after).
        let now = Instant::now();
        let Some(budget) = rate_limit::available(self.shared.upload_limiters(), now) else {
            self.send_paused_until = self.throttle(self.shared.upload_limiters());
            return Ok(());
        };
        let g = *self.shared.info.geometry();
        let mut sent = 0u64;
        while self.out.len() < SEND_WATERMARK && (sent == 0 || sent < budget) {
            // The next run of requests for blocks that follow each other in
            // one piece (a libtorrent leecher asks for a piece's blocks in
            // order), at most READ_BATCH and the budget: one read for all.
            let mut run: Vec<(BlockRequest, BytesMut)> = Vec::with_capacity(READ_BATCH);
            let mut run_bytes = 0u64;
            for r in self.requests.iter().take(READ_BATCH) {
                if let Some((last, _)) = run.last() {
                    let next = last.begin.checked_add(last.length);
                    if r.piece != last.piece
                        || Some(r.begin) != next
                        || sent + run_bytes + u64::from(r.length) > budget
                    {
                        break;
                    }
                }
                run_bytes += u64::from(r.length);
                run.push((*r, self.out.frame(r)));
            }
            let Some(&(first, _)) = run.first() else {
                break;
            };
            let piece = g.piece(first.piece).expect("validated request");
            let filled = {
                let mut bufs: Vec<&mut [u8]> = run
                    .iter_mut()
                    .map(|(_, f)| &mut f[PIECE_HEADER..])
                    .collect();
                self.shared
                    .storage
                    .read_cached_blocks(piece, first.begin, &mut bufs)?
            };
            let whole = filled == run.len();
            for (k, (r, frame)) in run.into_iter().enumerate() {
                if k < filled {
                    self.requests.pop_front();
                    self.out.push_frame(frame.freeze());
                    sent += u64::from(r.length);
                } else {
                    self.out.unused_frame(frame);
                }
            }
            if !whole {
                break;
            }
        }
        self.count_sent(sent);
        if self.requests.is_empty()
            || self.out.len() >= SEND_WATERMARK
            || (sent > 0 && sent >= budget)
        {
            self.spend_upload(sent, now);
            return Ok(());
        }
        // The rest of the budget, in whole blocks (at least one).
        let mut n = 0;
        let mut batch_bytes = 0u64;
        for r in self.requests.iter().take(READ_BATCH) {
            if n > 0 && sent + batch_bytes >= budget {
                break;
            }
            n += 1;
            batch_bytes += u64::from(r.length);
        }
        self.spend_upload(sent + batch_bytes, now);
        let batch: Vec<(BlockRequest, BytesMut)> = self
            .requests
            .take_front(n)
            .into_iter()
            .map(|r| (r, self.out.frame(&r)))
            .collect();
        let shared = Arc::clone(&self.shared);
        self.reading = Some(tokio::task::spawn_blocking(move || {
            piece_frames(batch, |r, out| {
                let piece = g.piece(r.piece).expect("validated request");
                // A v2 tail block past the torrent's end reads as zeros
                // (the frame may hold an earlier block's bytes).
                let n = g.piece_len(piece).saturating_sub(r.begin).min(r.length) as usize;
                out[n..].fill(0);
                shared.storage.read(piece, r.begin, &mut out[..n])
            })
        }));
        Ok(())
    }

    fn spend_upload(&self, bytes: u64, now: Instant) {
        if bytes > 0 {
            for l in self.shared.upload_limiters() {
                l.spend(bytes, now);
            }
        }
    }

    fn count_sent(&mut self, sent: u64) {
        if sent == 0 {
            return;
        }
        self.last_sent = Instant::now();
        self.shared
            .counters
            .uploaded
            .fetch_add(sent, Ordering::Relaxed);
        if let Some(p) = self.shared.lock().peers.get_mut(&self.key) {
            p.up += sent;
            p.live.uploaded += sent;
        }
    }

    /// Queues the `piece` frames read from disk, but not those of pieces
    /// the peer may no longer ask for (it was choked meanwhile): with the
    /// fast extension those are rejected, as the choke rejected the
    /// requests still queued (BEP 6: every request gets a block or a
    /// reject).
    pub(super) fn on_read_done(&mut self, batch: ReadBatch) -> Result<(), Error> {
        let mut sent = 0u64;
        for (r, frame) in batch {
            let frame = frame?;
            if self.am_choking && !self.allowed_ours.contains(&r.piece) {
                if let Ok(frame) = frame.try_into_mut() {
                    self.out.unused_frame(frame);
                }
                if self.fast {
                    self.send(Message::RejectRequest(r));
                }
                continue;
            }
            sent += u64::from(r.length);
            self.out.push_frame(frame);
        }
        self.count_sent(sent);
        Ok(())
    }
}
