//! Timers: retransmission (BEP 29 timeouts, backoff), keep-alive, the
//! FIN wait, and what a timeout does to the packets in flight.

use super::*;

impl Connection {
    /// Handles the timers due at `now`: retransmission, keep-alive, and
    /// the FIN wait of a detached connection.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            if self.linger_until.is_some_and(|t| now >= t) {
                self.linger_until = None;
            }
            return;
        }
        if self.ack_deadline.is_some_and(|d| now >= d) {
            self.ack_deadline = None;
            self.ack_needed = true;
        }
        if self.rto_deadline.is_some_and(|d| now >= d) {
            self.on_rto(now);
        }
        if self.state == State::Closed {
            return;
        }
        if let (State::Connected, Some(k), true) =
            (self.state, self.config.keepalive, self.confirmed)
        {
            if now >= self.last_send + k {
                self.ack_needed = true;
            }
        }
        if let (true, Some(at), false) = (self.detached, self.fin_acked_at, self.eof) {
            if now >= at + self.config.fin_wait {
                self.terminate_quietly();
            }
        }
    }

    pub(super) fn rto(&self) -> Duration {
        self.rtt.timeout(
            self.config.initial_timeout,
            self.config.min_timeout,
            self.config.max_timeout,
            self.timeouts,
        )
    }

    /// Sets the retransmission timer to fire at `at`.
    pub(super) fn arm(&mut self, at: Instant) {
        self.rto_deadline = Some(at);
        self.heard_at_arm = self.heard;
    }

    pub(super) fn on_rto(&mut self, now: Instant) {
        self.rto_deadline = None;
        match self.state {
            State::Closed => {}
            State::SynSent => {
                let tries = match self.sent.front() {
                    Some(Some(p)) => p.transmissions,
                    _ => return,
                };
                self.stats.timeouts += 1;
                if u32::from(tries) > u32::from(self.config.max_syn_retransmits) {
                    self.terminate(Error::TimedOut, EV_TIMED_OUT);
                    return;
                }
                self.timeouts += 1;
                self.fast_resend.push_back(self.acked.add(1));
            }
            State::Connected => {
                let outstanding = self.sent.iter().any(Option::is_some);
                if !self.confirmed {
                    // An incoming connection never heard from after its
                    // SYN (the SYN may be spoofed): like a SYN, a few
                    // tries of the STATE (and of any data), then give up.
                    self.stats.timeouts += 1;
                    self.timeouts += 1;
                    if self.timeouts > u32::from(self.config.max_syn_retransmits) {
                        self.terminate(Error::TimedOut, EV_TIMED_OUT);
                        return;
                    }
                    self.ack_needed = true;
                    if outstanding {
                        self.mark_all_lost();
                        self.probe = true;
                    }
                    let at = now + self.rto();
                    self.arm(at);
                    return;
                }
                if !outstanding && self.unsent.is_empty() {
                    // Idle: decay the window (libtorrent), and keep
                    // decaying while it is above the initial one.
                    self.ledbat.on_timeout(false);
                    if self.ledbat.window() > self.config.initial_window {
                        let at = now + self.rto();
                        self.arm(at);
                    }
                    return;
                }
                self.timeouts += 1;
                self.stats.timeouts += 1;
                // Give up only on a remote that says nothing at all: one
                // that answers (say, with a zero window) is alive, and is
                // probed with backoff up to `max_timeout`.
                if self.heard == self.heard_at_arm {
                    self.silent_timeouts += 1;
                } else {
                    self.silent_timeouts = 0;
                }
                if self.silent_timeouts > u32::from(self.config.max_timeouts) {
                    self.terminate(Error::TimedOut, EV_TIMED_OUT);
                    return;
                }
                if outstanding {
                    self.ledbat.on_timeout(true);
                    self.mark_all_lost();
                }
                // With nothing outstanding this is a window probe: the
                // remote's window (or ours) was too small for a packet.
                self.probe = true;
                let at = now + self.rto();
                self.arm(at);
            }
        }
    }

    /// A timeout: every packet in flight is taken as lost and queued to
    /// be sent again, oldest first, as the window allows.
    pub(super) fn mark_all_lost(&mut self) {
        self.pmtu.on_timeout();
        let mut seq = self.acked;
        for slot in self.sent.iter_mut() {
            seq = seq.add(1);
            let Some(p) = slot else { continue };
            p.in_flight = false;
            p.mtu_probe = false;
            if !p.need_resend {
                p.need_resend = true;
                self.needs_resend.push_back(seq);
            }
        }
        self.bytes_in_flight = 0;
        self.loss_seq = self.seq_nr.sub(1);
        self.fast_resend_seq = self.seq_nr;
        self.fast_resend.clear();
    }
}
