//! The connection's event loop: [`Conn::run`] waits on the torrent's
//! commands, the peer's messages, disk reads, writes and the one timer,
//! then keeps the pipeline full and serves; its deadlines (keep-alive,
//! idle limit, PeX, snubs, speed-limit pauses, the rate measurement and
//! request timeouts) and the torrent's commands ([`PeerCmd`]).

use super::*;

impl Conn {
    pub(super) async fn run(&mut self) -> Result<(), Error> {
        self.introduce()?;
        loop {
            let wake = self.next_wake();
            if wake != self.timer_at {
                self.timer_at = wake;
                self.timer.as_mut().reset(wake.into());
            }
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    None | Some(PeerCmd::Disconnect) => return Ok(()),
                    Some(cmd) => self.on_cmd(cmd)?,
                },
                msg = self.reader.next(), if self.read_paused_until.is_none() => match msg {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(m)) => {
                        self.last_recv = Instant::now();
                        if !self.on_message(m)? {
                            return Ok(());
                        }
                        // Everything else that came in the same read, so
                        // requests are served and made in batches.
                        while let Some(m) = self.reader.try_next()? {
                            if !self.on_message(m)? {
                                return Ok(());
                            }
                        }
                        // Over the download limit: read nothing more
                        // until the debt is paid back.
                        self.read_paused_until = self.throttle(self.shared.download_limiters());
                    }
                },
                done = async { self.reading.as_mut().expect("guarded").await }, if self.reading.is_some() => {
                    self.reading = None;
                    let batch = done.map_err(|e| Error::io("disk read task", std::io::Error::other(e)))?;
                    self.on_read_done(batch)?;
                }
                written = self.out.write_some(&mut self.writer), if !self.out.is_empty() => {
                    written.map_err(|e| Error::io("write to peer", e))?;
                }
                // Requests are queued and the send queue has room again
                // (the socket took everything): read the next blocks, after
                // letting other tasks run.
                () = tokio::task::yield_now(), if self.can_serve() => {}
                () = &mut self.timer => {
                    if !self.on_timer()? {
                        return Ok(());
                    }
                }
            }
            self.request_more()?;
            self.request_hashes();
            self.serve()?;
            self.write_now()?;
            // Blocks expected or being served (requests come in bursts
            // of hundreds): read ahead; neither: release the read buffer.
            let busy = !self.outstanding.is_empty()
                || !self.requests.is_empty()
                || self.reading.is_some()
                || !self.out.is_empty();
            self.reader.set_busy(busy);
            if !busy && self.reading.is_none() {
                self.out.release_if_empty();
                self.requests.release_if_empty();
            }
        }
    }

    /// When a connection held back by `limiters` should look again: when
    /// their debt is paid back, at most `THROTTLE_RECHECK` from now; `None`
    /// if it need not wait.
    pub(super) fn throttle(&self, limiters: [&rate_limit::RateLimiter; 2]) -> Option<Instant> {
        let now = Instant::now();
        rate_limit::ready_at(limiters, now).map(|t| t.min(now + THROTTLE_RECHECK))
    }

    /// Writes what the socket takes now, without waiting; the run loop
    /// waits for the rest.
    fn write_now(&mut self) -> Result<(), Error> {
        while !self.out.is_empty() {
            match self.out.write_some(&mut self.writer).now_or_never() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(Error::io("write to peer", e)),
                None => break,
            }
        }
        Ok(())
    }

    /// The earliest deadline: the keep-alive, the idle limit, the next
    /// PeX message, the end of a snub, and, while blocks are transferred,
    /// the next rate measurement. An idle connection sleeps until its
    /// keep-alive is due or a message arrives.
    fn next_wake(&self) -> Instant {
        let mut at = (self.last_sent + KEEPALIVE).min(self.last_recv + IDLE_LIMIT);
        if !self.private {
            at = at.min(self.pex_next);
        }
        if let Some(t) = self.snubbed_until {
            at = at.min(t);
        }
        for t in [
            self.next_tick,
            self.read_paused_until,
            self.send_paused_until,
        ]
        .into_iter()
        .flatten()
        {
            at = at.min(t);
        }
        // Never in the past: what was due has been handled.
        at.max(Instant::now() + Duration::from_millis(1))
    }

    fn on_cmd(&mut self, cmd: PeerCmd) -> Result<(), Error> {
        match cmd {
            PeerCmd::Have(piece) => {
                self.send(Message::Have { piece });
                if self.am_interested {
                    let still = self.is_interesting();
                    self.set_interest(still);
                }
            }
            PeerCmd::Choke => {
                if !self.am_choking {
                    self.am_choking = true;
                    self.send(Message::Choke);
                    // Requests in the allowed fast set stay queued.
                    let mut dropped = Vec::new();
                    for r in self.requests.take_all() {
                        if self.allowed_ours.contains(&r.piece) {
                            self.requests.push(r);
                        } else {
                            dropped.push(r);
                        }
                    }
                    if self.fast {
                        for r in dropped {
                            self.send(Message::RejectRequest(r));
                        }
                    }
                }
            }
            PeerCmd::Unchoke => {
                if self.am_choking {
                    self.am_choking = false;
                    self.send(Message::Unchoke);
                }
            }
            PeerCmd::Cancel(r) => {
                if self.outstanding.remove(&r).is_some() {
                    self.send(Message::Cancel(r));
                }
            }
            PeerCmd::Interest => {
                let interesting = self.is_interesting();
                self.set_interest(interesting);
            }
            PeerCmd::Send(m) => self.send(m),
            PeerCmd::Wake | PeerCmd::Disconnect => {}
        }
        Ok(())
    }

    /// The timer fired: whatever is due of the rate measurement (once a
    /// second while blocks are transferred: request depth, timeouts), the
    /// end of a snub, the idle limit, PeX and the keep-alive. Returns
    /// `false` to close an idle connection.
    fn on_timer(&mut self) -> Result<bool, Error> {
        let now = Instant::now();
        if self.next_tick.is_some_and(|t| t <= now) {
            let rate = std::mem::take(&mut self.received_this_tick);
            if rate > 0 {
                let want = (rate * QUEUE_SECONDS / u64::from(BLOCK_SIZE)) as usize;
                self.depth = want.max(INITIAL_DEPTH / 4).max(self.depth / 2);
            }
            if !self.outstanding.is_empty()
                && now.duration_since(self.last_progress) > self.shared.config.request_timeout
            {
                tracing::debug!(addr = %self.addr, n = self.outstanding.len(), "requests timed out");
                self.drop_outstanding();
                self.depth = 4;
                self.snubbed_until = Some(now + self.shared.config.request_timeout);
                self.mirror(|l| l.snubbed = true);
            }
            let transferring = rate > 0 || !self.outstanding.is_empty();
            self.next_tick = transferring.then_some(now + TICK);
        }
        if self.snubbed_until.is_some_and(|t| t <= now) {
            self.snubbed_until = None;
            self.mirror(|l| l.snubbed = false);
        }
        if self.read_paused_until.is_some_and(|t| t <= now) {
            self.read_paused_until = self.throttle(self.shared.download_limiters());
        }
        if self.send_paused_until.is_some_and(|t| t <= now) {
            // `serve` asks the limiters again.
            self.send_paused_until = None;
        }
        if now.duration_since(self.last_recv) >= IDLE_LIMIT {
            return Ok(false);
        }
        if !self.private && now >= self.pex_next {
            self.pex_next = now + PEX_INTERVAL;
            self.send_pex()?;
        }
        if now.duration_since(self.last_sent) >= KEEPALIVE {
            self.send(Message::KeepAlive);
        }
        Ok(true)
    }
}
