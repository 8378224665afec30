//! Outgoing packets: what goes next (resends first, then new data as
//! the windows allow, path MTU probes among it), and the packet bytes.

use super::*;

impl Connection {
    /// The next datagram to send, written into `buf`; returns its length.
    /// Call until it returns `None`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Config::max_packet_size`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        assert!(
            buf.len() >= self.config.max_packet_size(),
            "poll_transmit needs a buffer of max_packet_size bytes"
        );
        self.transmit_is_probe = false;
        if self.send_reset {
            self.send_reset = false;
            return Some(self.write_control(now, PacketType::Reset, buf));
        }
        if self.state == State::Closed {
            if self.ack_needed {
                self.ack_needed = false;
                return Some(self.write_control(now, PacketType::State, buf));
            }
            return None;
        }
        if self.ack_needed && !self.confirmed && self.remote_syn.is_some() {
            // The answer to a SYN goes first: only a STATE connects the
            // remote (it drops data and FIN until then).
            return Some(self.write_control(now, PacketType::State, buf));
        }
        while let Some(seq) = self.fast_resend.pop_front() {
            if self.slot(seq).is_some() {
                let fast = self.state != State::SynSent;
                return Some(self.resend(now, seq, buf, fast));
            }
        }
        while let Some(&seq) = self.needs_resend.front() {
            let Some(p) = self.slot(seq) else {
                self.needs_resend.pop_front();
                continue;
            };
            if !p.need_resend {
                self.needs_resend.pop_front();
                continue;
            }
            let len = p.payload.len() as u32;
            let window = self.ledbat.window().min(self.peer_window);
            if !(self.probe || self.bytes_in_flight == 0 || self.bytes_in_flight + len <= window) {
                break;
            }
            self.needs_resend.pop_front();
            self.probe = false;
            return Some(self.resend(now, seq, buf, false));
        }
        if self.state == State::Connected && self.needs_resend.is_empty() {
            if let Some((n, probe)) = self.next_chunk() {
                return Some(self.send_data(now, n, probe, buf));
            }
            if self.close_requested && self.fin_seq.is_none() && self.unsent.is_empty() {
                return Some(self.send_fin(now, buf));
            }
        }
        if self.ack_needed && self.state != State::SynSent {
            return Some(self.write_control(now, PacketType::State, buf));
        }
        None
    }

    pub(super) fn slot(&self, seq: SeqNr) -> Option<&SentPacket> {
        if !seq.is_after(self.acked) {
            return None;
        }
        let idx = usize::from(self.acked.distance_to(seq)) - 1;
        self.sent.get(idx).and_then(Option::as_ref)
    }

    pub(super) fn slot_mut(&mut self, seq: SeqNr) -> Option<&mut SentPacket> {
        if !seq.is_after(self.acked) {
            return None;
        }
        let idx = usize::from(self.acked.distance_to(seq)) - 1;
        self.sent.get_mut(idx).and_then(Option::as_mut)
    }

    /// How many bytes the next data packet may carry, if one may go now,
    /// and the MTU it probes if it is a path MTU probe.
    pub(super) fn next_chunk(&mut self) -> Option<(usize, Option<u16>)> {
        if self.unsent.is_empty() || self.sent.len() >= MAX_PACKETS_IN_FLIGHT {
            return None;
        }
        let max = self.pmtu.payload();
        // A probe is a full packet of its size, among ordinary packets (a
        // window of more than three) so that its loss stands out.
        let probe = self.pmtu.next_probe().filter(|&mtu| {
            self.unsent.len() >= probe_payload(mtu)
                && self.ledbat.window() as usize > 3 * max
                && self.peer_window as usize > 3 * max
        });
        let max = probe.map_or(max, probe_payload);
        let chunk = self.unsent.len().min(max);
        let in_flight = self.bytes_in_flight as usize;
        let cwnd = self.ledbat.window() as usize;
        let peer = self.peer_window as usize;
        let fits_cwnd = in_flight == 0 || in_flight + chunk <= cwnd;
        let n = if fits_cwnd && in_flight + chunk <= peer {
            chunk
        } else if self.probe {
            self.probe = false;
            chunk
        } else if fits_cwnd && in_flight == 0 && peer > 0 {
            // A small window from the remote: fill it.
            peer.min(chunk)
        } else {
            if in_flight == 0 && self.rto_deadline.is_none() {
                // Nothing in flight to bring an ack: probe at the timeout.
                let at = self.last_send + self.rto();
                self.arm(at);
            }
            return None;
        };
        if n < max
            && self.config.nagle
            && !self.close_requested
            && self.undersized.is_some_and(|u| self.slot(u).is_some())
        {
            return None;
        }
        Some((n, probe.filter(|&mtu| n == probe_payload(mtu))))
    }

    pub(super) fn send_data(
        &mut self,
        now: Instant,
        n: usize,
        probe: Option<u16>,
        buf: &mut [u8],
    ) -> usize {
        let payload = self.unsent.split_to(n).freeze();
        let seq = self.seq_nr;
        self.seq_nr = seq.add(1);
        // A probe fills its MTU exactly: no selective ack goes in it.
        self.transmit_is_probe = probe.is_some();
        let len = self.write_packet(now, PacketType::Data, seq, &payload, buf);
        if let Some(mtu) = probe {
            self.pmtu.on_probe_sent(seq, mtu);
            self.stats.mtu_probes += 1;
        } else if n < self.pmtu.payload() {
            self.undersized = Some(seq);
        }
        self.bytes_in_flight += n as u32;
        self.stats.bytes_sent += n as u64;
        self.sent.push_back(Some(SentPacket {
            kind: PacketType::Data,
            payload,
            sent_at: now,
            transmissions: 1,
            need_resend: false,
            in_flight: true,
            mtu_probe: probe.is_some(),
        }));
        if self.rto_deadline.is_none() || self.bytes_in_flight == n as u32 {
            let at = now + self.rto();
            self.arm(at);
        }
        if self.write_blocked && self.unsent.len() < self.config.send_buffer as usize {
            self.write_blocked = false;
            self.events |= EV_WRITABLE;
        }
        len
    }

    pub(super) fn send_fin(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        let seq = self.seq_nr;
        self.seq_nr = seq.add(1);
        self.fin_seq = Some(seq);
        let len = self.write_packet(now, PacketType::Fin, seq, &[], buf);
        self.sent.push_back(Some(SentPacket {
            kind: PacketType::Fin,
            payload: Bytes::new(),
            sent_at: now,
            transmissions: 1,
            need_resend: false,
            in_flight: false,
            mtu_probe: false,
        }));
        if self.rto_deadline.is_none() {
            let at = now + self.rto();
            self.arm(at);
        }
        len
    }

    pub(super) fn resend(&mut self, now: Instant, seq: SeqNr, buf: &mut [u8], fast: bool) -> usize {
        let rto = self.rto();
        let p = self.slot_mut(seq).expect("caller checked the slot");
        let kind = p.kind;
        let payload = p.payload.clone();
        let first = p.transmissions == 0;
        p.transmissions = p.transmissions.saturating_add(1);
        p.sent_at = now;
        p.need_resend = false;
        p.mtu_probe = false;
        let newly_in_flight = !p.in_flight;
        p.in_flight = true;
        if newly_in_flight {
            self.bytes_in_flight += payload.len() as u32;
        }
        if !first {
            if fast {
                self.stats.fast_retransmits += 1;
            } else {
                self.stats.retransmits += 1;
            }
        }
        if self.rto_deadline.is_none() {
            self.arm(now + rto);
        }
        self.write_packet(now, kind, seq, &payload, buf)
    }

    pub(super) fn write_control(&mut self, now: Instant, t: PacketType, buf: &mut [u8]) -> usize {
        // Until an incoming connection is confirmed, its STATE packets
        // (the answer to the SYN, and to a retransmitted SYN if that
        // answer was lost) carry our first sequence number, so that the
        // remote starts the stream there even after we sent data.
        let seq = if t == PacketType::State && !self.confirmed && self.remote_syn.is_some() {
            self.initial_seq
        } else {
            self.seq_nr
        };
        self.write_packet(now, t, seq, &[], buf)
    }

    /// Writes a packet with the current ack state; the selective ack goes
    /// in when packets are held out of order and it fits.
    pub(super) fn write_packet(
        &mut self,
        now: Instant,
        t: PacketType,
        seq: SeqNr,
        payload: &[u8],
        buf: &mut [u8],
    ) -> usize {
        let window = self.recv_window();
        let header = Header {
            packet_type: t,
            connection_id: if t == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp_micros: timestamp_micros(self.epoch, now),
            timestamp_difference_micros: self.reply_micro,
            window,
            seq_nr: seq,
            ack_nr: if t == PacketType::Syn {
                SeqNr(0)
            } else {
                self.ack_nr
            },
        };
        // A packet stays within the MTU known to work (a probe or the
        // resend of an earlier, bigger one: within its own size).
        let max = if self.transmit_is_probe {
            HEADER_LEN + payload.len()
        } else {
            self.pmtu
                .datagram()
                .max(HEADER_LEN + payload.len() + DATA_SACK_ROOM)
        };
        let room = max - HEADER_LEN - payload.len();
        let mut pos = HEADER_LEN;
        let sack_len = if self.reorder.is_empty() || t == PacketType::Syn || t == PacketType::Reset
        {
            0
        } else {
            let needed = self.reorder.len().div_ceil(32) * 4;
            let fit = (room.saturating_sub(2) / 4 * 4).min(MAX_SELECTIVE_ACK_LEN);
            needed.min(fit)
        };
        if sack_len > 0 {
            header.write_to(EXTENSION_SELECTIVE_ACK, buf);
            buf[pos] = EXTENSION_NONE;
            buf[pos + 1] = sack_len as u8;
            pos += 2;
            let mask = &mut buf[pos..pos + sack_len];
            mask.fill(0);
            for (i, slot) in self.reorder.iter().enumerate().take(sack_len * 8) {
                if slot.is_some() {
                    mask[i / 8] |= 1 << (i % 8);
                }
            }
            pos += sack_len;
        } else {
            header.write_to(EXTENSION_NONE, buf);
        }
        buf[pos..pos + payload.len()].copy_from_slice(payload);
        pos += payload.len();
        if t != PacketType::Reset {
            self.ack_needed = false;
            self.unacked_packets = 0;
            self.unacked_bytes = 0;
            self.ack_deadline = None;
            self.advertised = window;
        }
        self.last_send = now;
        self.stats.packets_sent += 1;
        pos
    }
}
