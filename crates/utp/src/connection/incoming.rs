//! Incoming packets: acks and selective acks, loss detection, data in
//! order and out of order, delayed acks, FIN and RESET.

use super::*;

impl Connection {
    /// Handles one datagram that arrived at `now` for this connection.
    ///
    /// # Errors
    /// [`Error::Packet`] when the datagram is not a valid packet (nothing
    /// changes then). Valid packets that do not fit the connection (wrong
    /// id, acks of data never sent) are dropped and counted in
    /// [`ConnectionStats::dropped`].
    pub fn handle(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Error> {
        let packet = Packet::parse(datagram)?;
        self.handle_packet(now, &packet);
        Ok(())
    }

    /// Handles one parsed packet (see [`handle`](Self::handle)). The work
    /// is bounded by the packet's size and the packets in flight.
    pub fn handle_packet(&mut self, now: Instant, packet: &Packet<'_>) {
        self.stats.packets_received += 1;
        let h = packet.header;
        if self.state == State::Closed {
            // After a graceful close, ack a retransmitted FIN or data so
            // that the remote can finish too.
            if self.error.is_none()
                && h.connection_id == self.recv_id
                && matches!(h.packet_type, PacketType::Fin | PacketType::Data)
            {
                self.ack_needed = true;
            }
            return;
        }
        match h.packet_type {
            PacketType::Syn => {
                // A retransmitted SYN: our STATE was lost, send it again.
                if self.remote_syn == Some(h.seq_nr) && h.connection_id == self.send_id {
                    self.ack_needed = true;
                } else {
                    self.stats.dropped += 1;
                }
                return;
            }
            PacketType::Reset => {
                let ids_match = h.connection_id == self.recv_id || h.connection_id == self.send_id;
                if !ids_match || h.ack_nr.is_after(self.seq_nr.sub(1)) {
                    self.stats.dropped += 1;
                    return;
                }
                let e = if self.state == State::SynSent {
                    Error::ConnectionRefused
                } else {
                    Error::ConnectionReset
                };
                self.terminate(e, EV_RESET);
                return;
            }
            _ => {}
        }
        if h.connection_id != self.recv_id {
            self.stats.dropped += 1;
            return;
        }
        if self.state == State::SynSent {
            // Only the STATE that acks our SYN moves us on: it carries the
            // sequence number of the remote's first data packet (libtorrent,
            // libutp). A DATA packet could be any of the first ones (the
            // STATE may be lost and several sent), so it cannot tell where
            // the stream starts: it is dropped, and sent again later.
            if h.ack_nr != self.seq_nr.sub(1) || h.packet_type != PacketType::State {
                self.stats.dropped += 1;
                return;
            }
            self.state = State::Connected;
            self.ack_nr = h.seq_nr.sub(1);
            // An ack right away confirms us to the remote (it may have
            // sent data we dropped while waiting for this STATE).
            self.ack_needed = true;
            self.events |= EV_CONNECTED | EV_WRITABLE;
        }
        let last_sent = self.seq_nr.sub(1);
        if h.ack_nr.is_after(last_sent) {
            // An ack of data never sent: a confused or hostile peer.
            self.stats.dropped += 1;
            return;
        }
        self.confirmed = true;
        self.heard += 1;
        if h.timestamp_micros != 0 {
            self.reply_micro = timestamp_micros(self.epoch, now).wrapping_sub(h.timestamp_micros);
        }
        self.peer_window = h.window;
        self.ledbat
            .on_delay_sample(now, h.timestamp_difference_micros);
        self.process_acks(now, packet, last_sent);

        match h.packet_type {
            PacketType::Data => self.on_data(now, h.seq_nr, packet.payload),
            PacketType::Fin => self.on_fin(h.seq_nr),
            _ => {}
        }
        if let Some(f) = self.fin_seq {
            if self.fin_acked_at.is_none() && !f.is_after(self.acked) {
                self.fin_acked_at = Some(now);
            }
        }
        if self.fin_acked_at.is_some() && self.eof {
            self.state = State::Closed;
            self.rto_deadline = None;
            // Our ack of the remote's FIN may be lost: stay a while to ack
            // its retransmission (as TCP's TIME-WAIT), so that it closes
            // gracefully too instead of meeting a reset.
            let linger = (self.rto() * 4).min(self.config.fin_wait);
            self.linger_until = Some(now + linger);
            self.events |= EV_CLOSED | EV_READABLE;
        }
    }

    pub(super) fn process_acks(&mut self, now: Instant, packet: &Packet<'_>, last_sent: SeqNr) {
        let h = packet.header;
        let prev_in_flight = self.bytes_in_flight;
        let mut acked_bytes = 0u32;
        let mut min_rtt: Option<Duration> = None;
        let mut progress = false;
        let mut lost: Option<SeqNr> = None;

        if h.ack_nr.is_after(self.acked) {
            let n = self.acked.distance_to(h.ack_nr);
            for _ in 0..n {
                self.acked = self.acked.add(1);
                if let Some(Some(p)) = self.sent.pop_front() {
                    self.on_acked(now, p, &mut acked_bytes, &mut min_rtt);
                }
            }
            progress = true;
            self.dup_acks = 0;
        } else if h.ack_nr == self.acked
            && h.packet_type == PacketType::State
            && self.sent.iter().any(Option::is_some)
        {
            self.dup_acks += 1;
        }

        if let Some(sack) = packet.selective_ack {
            if !self.sent.is_empty() {
                let first = h.ack_nr.add(2);
                let bits = sack.len_bits();
                let mut total_set = 0usize;
                for i in 0..bits {
                    let seq = first.add(i as u16);
                    if seq.is_after(last_sent) {
                        break;
                    }
                    if !sack.is_set(i) {
                        continue;
                    }
                    total_set += 1;
                    if !seq.is_after(self.acked) {
                        continue;
                    }
                    let idx = usize::from(self.acked.distance_to(seq)) - 1;
                    if let Some(p) = self.sent.get_mut(idx).and_then(Option::take) {
                        self.on_acked(now, p, &mut acked_bytes, &mut min_rtt);
                        progress = true;
                    }
                }
                // Packets with three or more acked after them are lost
                // (BEP 29 "packet loss"), ack_nr + 1 included.
                if total_set >= DUP_ACK_LIMIT as usize {
                    let mut set_so_far = 0usize;
                    let mut resends = 0usize;
                    for i in 0..=bits {
                        // i == 0 is ack_nr + 1, the implicitly missing one.
                        let seq = h.ack_nr.add(1).add(i as u16);
                        if seq.is_after(last_sent) || resends == MAX_SACK_RESENDS {
                            break;
                        }
                        let set = i > 0 && sack.is_set(i - 1);
                        if set {
                            set_so_far += 1;
                            continue;
                        }
                        if total_set - set_so_far < DUP_ACK_LIMIT as usize {
                            break;
                        }
                        if !seq.is_after(self.acked) || seq.is_before(self.fast_resend_seq) {
                            continue;
                        }
                        let idx = usize::from(self.acked.distance_to(seq)) - 1;
                        if matches!(self.sent.get(idx), Some(Some(_))) {
                            self.fast_resend.push_back(seq);
                            self.fast_resend_seq = seq.add(1);
                            if !self.pmtu.is_probe(seq) {
                                lost.get_or_insert(seq);
                            }
                            resends += 1;
                        }
                    }
                }
            }
        }

        // Drop acked slots at the front.
        while let Some(None) = self.sent.front() {
            self.sent.pop_front();
            self.acked = self.acked.add(1);
        }
        if self.fast_resend_seq.is_before(self.acked.add(1)) {
            self.fast_resend_seq = self.acked.add(1);
        }
        if self.loss_seq.is_before(self.acked) {
            self.loss_seq = self.acked;
        }
        if let Some(u) = self.undersized {
            if !u.is_after(self.acked) {
                self.undersized = None;
            }
        }

        if self.dup_acks >= DUP_ACK_LIMIT {
            let seq = self.acked.add(1);
            if seq == self.fast_resend_seq && matches!(self.sent.front(), Some(Some(_))) {
                self.fast_resend.push_back(seq);
                self.fast_resend_seq = seq.add(1);
                if !self.pmtu.is_probe(seq) {
                    lost.get_or_insert(seq);
                }
            }
        }

        // The remote keeps talking but has not acked our oldest packet
        // long after its ack could have come: lost. Without this a lone
        // packet (a request while the remote streams data to us, with
        // nothing after it to bring duplicate or selective acks) waits
        // for the retransmission timeout, at least 500 ms.
        let seq = self.acked.add(1);
        if seq == self.fast_resend_seq && self.state == State::Connected {
            if let (Some(Some(p)), Some(srtt)) = (self.sent.front(), self.rtt.rtt()) {
                let delay = (srtt * 2 + self.rtt.rtt_var() * 4).max(self.config.min_probe_timeout);
                if p.in_flight && now.saturating_duration_since(p.sent_at) >= delay {
                    self.fast_resend.push_back(seq);
                    self.fast_resend_seq = seq.add(1);
                    if !self.pmtu.is_probe(seq) {
                        lost.get_or_insert(seq);
                    }
                }
            }
        }

        // The probe is to be resent while packets after it arrived: too
        // big for the path. Its resend goes without the don't-fragment bit.
        if let Some(probe) = self.pmtu.probe_seq() {
            if self.fast_resend.contains(&probe) {
                self.pmtu.on_probe_lost();
                if let Some(p) = self.slot_mut(probe) {
                    p.mtu_probe = false;
                }
            }
        }

        if progress {
            self.timeouts = 0;
            self.silent_timeouts = 0;
            self.probe = false;
            // With packets outstanding: their timer. Idle with a grown
            // window: decay it at the next timeout.
            if self.sent.iter().any(Option::is_some)
                || self.ledbat.window() > self.config.initial_window
            {
                let at = now + self.rto();
                self.arm(at);
            } else {
                self.rto_deadline = None;
            }
        }
        if acked_bytes > 0 && prev_in_flight > 0 {
            let packet = self.pmtu.payload() as u32;
            let window_limited = prev_in_flight + packet > self.ledbat.window();
            self.ledbat.on_ack(acked_bytes, window_limited, min_rtt);
        }
        if let Some(seq) = lost {
            if seq.is_after(self.loss_seq) {
                self.ledbat.on_loss();
                self.loss_seq = self.seq_nr.sub(1);
                self.stats.losses += 1;
            }
        }
    }

    pub(super) fn on_acked(
        &mut self,
        now: Instant,
        p: SentPacket,
        acked_bytes: &mut u32,
        min_rtt: &mut Option<Duration>,
    ) {
        let len = p.payload.len() as u32;
        if p.in_flight {
            self.bytes_in_flight -= len;
        }
        *acked_bytes += len;
        if p.mtu_probe {
            self.pmtu.on_probe_acked();
        }
        if p.transmissions == 1 {
            let rtt = now.saturating_duration_since(p.sent_at);
            self.rtt.sample(rtt);
            *min_rtt = Some(min_rtt.map_or(rtt, |m| m.min(rtt)));
        }
        if p.kind == PacketType::Syn {
            self.confirmed = true;
        }
    }

    pub(super) fn on_data(&mut self, now: Instant, seq: SeqNr, payload: &[u8]) {
        // Acked at once unless it is the next packet in order with none
        // held out of order (below): a duplicate, a packet after a hole
        // (its selective ack drives the remote's fast retransmit), one
        // that fills a hole, or one dropped; or when an ack is due anyway.
        let ack_due = self.ack_needed;
        self.ack_needed = true;
        if self.eof_seq.is_some_and(|e| !seq.is_before(e)) {
            self.stats.dropped += 1;
            return;
        }
        let d = self.ack_nr.distance_to(seq);
        if d == 0 || d >= 0x8000 {
            self.stats.duplicates += 1;
            return;
        }
        let free = self.recv_window() as usize;
        if d == 1 {
            // The next packet in order is taken whenever the in-order
            // bytes fit the buffer, whatever the reorder buffer holds:
            // it is what lets the reorder buffer drain (refusing it when
            // held packets fill the window would stall the connection).
            if self.recv_buf.len() + payload.len() > self.config.recv_buffer as usize {
                // The remote ignored our window.
                self.stats.dropped += 1;
                return;
            }
            self.deliver(payload);
            self.ack_nr = seq;
            if self.reorder.is_empty() && !ack_due {
                self.delay_ack(now, payload.len());
            }
            while let Some(slot) = self.reorder.pop_front() {
                let Some(b) = slot else { break };
                self.reorder_bytes -= b.len();
                self.deliver(&b);
                self.ack_nr = self.ack_nr.add(1);
            }
            self.check_eof();
            self.events |= EV_READABLE;
            return;
        }
        let idx = usize::from(d) - 2;
        if idx >= usize::from(self.config.max_reorder) {
            self.stats.dropped += 1;
            return;
        }
        if matches!(self.reorder.get(idx), Some(Some(_))) {
            self.stats.duplicates += 1;
            return;
        }
        if payload.len() > free {
            self.stats.dropped += 1;
            return;
        }
        if self.reorder.len() <= idx {
            self.reorder.resize(idx + 1, None);
        }
        let b = if self.detached {
            Bytes::new()
        } else {
            self.reorder_bytes += payload.len();
            Bytes::copy_from_slice(payload)
        };
        self.reorder[idx] = Some(b);
    }

    /// Acks in-order data every [`Config::ack_every`] packets or every
    /// quarter of the receive buffer, whichever comes first (a window of
    /// a few large packets is not held up by the timer), and at most
    /// [`Config::ack_delay`] after the first packet not yet acked.
    pub(super) fn delay_ack(&mut self, now: Instant, len: usize) {
        self.unacked_packets = self.unacked_packets.saturating_add(1);
        self.unacked_bytes += len;
        if self.unacked_packets >= self.config.ack_every
            || self.unacked_bytes >= self.config.recv_buffer as usize / 4
        {
            return;
        }
        self.ack_needed = false;
        if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now + self.config.ack_delay);
        }
    }

    pub(super) fn deliver(&mut self, payload: &[u8]) {
        self.stats.bytes_received += payload.len() as u64;
        if !self.detached {
            self.recv_buf.extend_from_slice(payload);
        }
    }

    pub(super) fn on_fin(&mut self, seq: SeqNr) {
        self.ack_needed = true;
        if self.eof_seq.is_some() {
            return;
        }
        let d = self.ack_nr.distance_to(seq);
        if d == 0 || d >= 0x8000 || usize::from(d) > usize::from(self.config.max_reorder) + 1 {
            self.stats.dropped += 1;
            return;
        }
        self.eof_seq = Some(seq);
        // Nothing after the FIN counts.
        let keep = usize::from(d) - 1;
        while self.reorder.len() > keep.saturating_sub(1) {
            if let Some(Some(b)) = self.reorder.pop_back() {
                self.reorder_bytes -= b.len();
            }
        }
        self.check_eof();
    }

    pub(super) fn check_eof(&mut self) {
        if let Some(e) = self.eof_seq {
            if !self.eof && self.ack_nr.add(1) == e {
                self.ack_nr = e;
                self.eof = true;
                self.reorder.clear();
                self.reorder_bytes = 0;
                self.events |= EV_READABLE;
            }
        }
    }

    pub(super) fn terminate(&mut self, error: Error, event: u8) {
        self.state = State::Closed;
        self.error = Some(error);
        self.clear_send_state();
        self.events |= event | EV_READABLE | EV_WRITABLE;
    }

    pub(super) fn terminate_quietly(&mut self) {
        self.state = State::Closed;
        self.clear_send_state();
    }

    pub(super) fn clear_send_state(&mut self) {
        self.sent.clear();
        self.needs_resend.clear();
        self.fast_resend.clear();
        self.unsent = BytesMut::new();
        self.bytes_in_flight = 0;
        self.rto_deadline = None;
        self.ack_needed = false;
        self.ack_deadline = None;
    }
}
