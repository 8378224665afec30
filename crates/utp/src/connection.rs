//! One uTP connection as a sans-IO state machine: [`Connection`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::config::{Config, DATA_SACK_ROOM};
use crate::error::Error;
use crate::ledbat::Ledbat;
use crate::packet::{
    Header, Packet, PacketType, EXTENSION_NONE, EXTENSION_SELECTIVE_ACK, HEADER_LEN,
    MAX_SELECTIVE_ACK_LEN,
};
use crate::pmtu::{probe_payload, PathMtu};
use crate::rtt::RttEstimator;
use crate::seq::{timestamp_micros, SeqNr};

/// Most packets in flight (sent, not acked) at once. Far below half the
/// sequence space, so that wrapping comparisons stay unambiguous.
pub const MAX_PACKETS_IN_FLIGHT: usize = 8192;

/// Duplicate acks that trigger a fast retransmit (BEP 29 "packet loss").
const DUP_ACK_LIMIT: u32 = 3;

/// Most packets fast-retransmitted because of one selective ack.
const MAX_SACK_RESENDS: usize = 4;

/// The connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// We sent a SYN and wait for its ack.
    SynSent,
    /// Established (for an incoming connection: from its SYN on). Data
    /// flows; one side or both may have sent FIN.
    Connected,
    /// Done: both FINs acked, reset, timed out or aborted. See
    /// [`Connection::error`].
    Closed,
}

/// What changed, from [`Connection::poll_event`]. Each kind is reported
/// once per change (not once per packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake finished.
    Connected,
    /// Data (or the end of the stream) can be read.
    Readable,
    /// The send buffer has room again after a write was refused.
    Writable,
    /// Closed gracefully: both sides sent FIN and both were acked.
    Closed,
    /// The remote reset the connection (ST_RESET), or refused our SYN.
    Reset,
    /// The remote stopped answering (too many consecutive timeouts), or
    /// never answered our SYN.
    TimedOut,
}

const EV_CONNECTED: u8 = 1;
const EV_READABLE: u8 = 2;
const EV_WRITABLE: u8 = 4;
const EV_CLOSED: u8 = 8;
const EV_RESET: u8 = 16;
const EV_TIMED_OUT: u8 = 32;

/// Counters of one connection, and its congestion state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Datagrams sent, retransmissions included.
    pub packets_sent: u64,
    /// Datagrams received and parsed.
    pub packets_received: u64,
    /// Payload bytes put into packets the first time.
    pub bytes_sent: u64,
    /// Payload bytes delivered in order.
    pub bytes_received: u64,
    /// Packets sent again after a timeout.
    pub retransmits: u64,
    /// Packets sent again after duplicate or selective acks.
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Loss events that cut the window.
    pub losses: u64,
    /// Data packets received again (already delivered or held).
    pub duplicates: u64,
    /// Packets dropped: acks of data never sent, wrong connection id, too
    /// far ahead, beyond the advertised window.
    pub dropped: u64,
    /// The congestion window in bytes.
    pub window: u32,
    /// The remote's advertised window in bytes.
    pub peer_window: u32,
    /// Payload bytes in flight.
    pub bytes_in_flight: u32,
    /// The smoothed RTT, once measured.
    pub rtt: Option<Duration>,
    /// The path MTU in bytes known to work: what ordinary packets are
    /// sized by (see [`Config::mtu_discovery`]).
    pub mtu: u16,
    /// Path MTU probes sent.
    pub mtu_probes: u64,
}

#[derive(Debug)]
struct SentPacket {
    kind: PacketType,
    payload: Bytes,
    sent_at: Instant,
    transmissions: u16,
    /// Marked lost by a timeout, waiting in `needs_resend`.
    need_resend: bool,
    /// Counted in `bytes_in_flight`.
    in_flight: bool,
    /// Sent as a path MTU probe (first transmission only).
    mtu_probe: bool,
}

/// One uTP connection as a sans-IO state machine (quinn-proto is the
/// model): datagrams and time go in, datagrams, events and a deadline come
/// out. No socket, clock or randomness inside: `now` is an argument, and
/// the connection id and initial sequence number are chosen by the caller.
///
/// The driver's loop:
///
/// 1. [`Connection::handle`] each datagram that arrived (with the time);
/// 2. [`Connection::handle_timeout`] when [`Connection::poll_timeout`] is
///    reached;
/// 3. [`Connection::poll_transmit`] until it returns `None`, sending each
///    datagram;
/// 4. [`Connection::poll_event`] to learn what changed;
///
/// and the application [`Connection::write`]s, [`Connection::read`]s and
/// [`Connection::close`]s in between (then steps 3 and 4 again).
///
/// What happens inside (BEP 29): the SYN / STATE handshake; packets
/// numbered by 16-bit wrapping sequence numbers; in-order delivery with a
/// bounded receive buffer and reorder buffer, advertised as the window;
/// selective acks sent when packets are missing; retransmission on timeout
/// with BEP 29's RTT / RTO; fast retransmit after three duplicate acks or
/// a selective ack with three packets acked past a hole; LEDBAT congestion
/// control ([`Ledbat`]); FIN in both directions and RESET; keep-alive.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    epoch: Instant,
    state: State,
    recv_id: u16,
    send_id: u16,
    /// Heard from the remote beyond its SYN (incoming) or our SYN was
    /// acked (outgoing). An unconfirmed incoming connection dies at its
    /// first timeout (its SYN may have been spoofed).
    confirmed: bool,
    detached: bool,
    error: Option<Error>,
    /// The remote's SYN sequence number, for incoming connections.
    remote_syn: Option<SeqNr>,
    /// Our first sequence number.
    initial_seq: SeqNr,

    // Sending.
    /// Next sequence number for a DATA, FIN or SYN.
    seq_nr: SeqNr,
    /// Everything up to here is acked; `sent[i]` is `acked + 1 + i`.
    acked: SeqNr,
    sent: VecDeque<Option<SentPacket>>,
    bytes_in_flight: u32,
    needs_resend: VecDeque<SeqNr>,
    fast_resend: VecDeque<SeqNr>,
    unsent: BytesMut,
    write_blocked: bool,
    close_requested: bool,
    fin_seq: Option<SeqNr>,
    fin_acked_at: Option<Instant>,
    dup_acks: u32,
    /// Lowest sequence number that may still be fast-retransmitted.
    fast_resend_seq: SeqNr,
    /// Losses of packets up to here do not cut the window again.
    loss_seq: SeqNr,
    /// The undersized data packet in flight (Nagle).
    undersized: Option<SeqNr>,
    peer_window: u32,
    ledbat: Ledbat,
    rtt: RttEstimator,
    rto_deadline: Option<Instant>,
    /// Consecutive timeouts without an ack: the backoff exponent.
    timeouts: u32,
    /// Consecutive timeouts in which nothing at all came from the remote.
    silent_timeouts: u32,
    /// Valid packets received, and their count when the timer was armed.
    heard: u64,
    heard_at_arm: u64,
    /// The next packet may go out whatever the window (after a timeout).
    probe: bool,
    reply_micro: u32,
    last_send: Instant,

    // Receiving.
    /// Last sequence number received in order.
    ack_nr: SeqNr,
    recv_buf: BytesMut,
    /// `reorder[i]` holds `ack_nr + 2 + i`.
    reorder: VecDeque<Option<Bytes>>,
    reorder_bytes: usize,
    eof_seq: Option<SeqNr>,
    eof: bool,
    ack_needed: bool,
    /// In-order data packets received since our last ack.
    unacked_packets: u16,
    /// Their payload bytes.
    unacked_bytes: usize,
    /// When a delayed ack is due.
    ack_deadline: Option<Instant>,
    advertised: u32,

    send_reset: bool,
    /// After a graceful close: until when retransmitted FINs are acked.
    linger_until: Option<Instant>,
    events: u8,
    stats: ConnectionStats,
    /// Path MTU discovery.
    pmtu: PathMtu,
    /// The datagram the last `poll_transmit` gave is a path MTU probe.
    transmit_is_probe: bool,
}

impl Connection {
    fn new(config: Config, now: Instant, recv_id: u16, send_id: u16, seq_nr: SeqNr) -> Self {
        let packet = config.max_payload() as u32;
        Connection {
            config,
            epoch: now,
            state: State::SynSent,
            recv_id,
            send_id,
            confirmed: false,
            detached: false,
            error: None,
            remote_syn: None,
            initial_seq: seq_nr,
            seq_nr,
            acked: seq_nr.sub(1),
            sent: VecDeque::new(),
            bytes_in_flight: 0,
            needs_resend: VecDeque::new(),
            fast_resend: VecDeque::new(),
            unsent: BytesMut::new(),
            write_blocked: false,
            close_requested: false,
            fin_seq: None,
            fin_acked_at: None,
            dup_acks: 0,
            fast_resend_seq: seq_nr,
            loss_seq: seq_nr.sub(1),
            undersized: None,
            peer_window: packet,
            ledbat: Ledbat::new(
                config.initial_window,
                packet,
                config.max_window,
                config.target_delay,
                config.max_window_growth_per_rtt,
                config.base_delay_minutes,
                config.slow_start,
            ),
            rtt: RttEstimator::default(),
            rto_deadline: None,
            timeouts: 0,
            silent_timeouts: 0,
            heard: 0,
            heard_at_arm: 0,
            probe: false,
            reply_micro: 0,
            last_send: now,
            ack_nr: SeqNr(0),
            recv_buf: BytesMut::new(),
            reorder: VecDeque::new(),
            reorder_bytes: 0,
            eof_seq: None,
            eof: false,
            ack_needed: false,
            unacked_packets: 0,
            unacked_bytes: 0,
            ack_deadline: None,
            advertised: 0,
            send_reset: false,
            linger_until: None,
            events: 0,
            stats: ConnectionStats::default(),
            pmtu: PathMtu::new(&config),
            transmit_is_probe: false,
        }
    }

    /// Opens a connection: the first [`poll_transmit`](Self::poll_transmit)
    /// gives the SYN.
    ///
    /// `recv_id` is the connection id we receive on (random, unused for
    /// this remote; we send on `recv_id + 1`), `initial_seq` the sequence
    /// number of the SYN (random; BEP 29 says 1, libtorrent and libutp
    /// pick at random). `config` should be [valid](Config::validate).
    pub fn connect(config: Config, now: Instant, recv_id: u16, initial_seq: SeqNr) -> Self {
        let mut c = Connection::new(config, now, recv_id, recv_id.wrapping_add(1), initial_seq);
        c.sent.push_back(Some(SentPacket {
            kind: PacketType::Syn,
            payload: Bytes::new(),
            sent_at: now,
            transmissions: 0,
            need_resend: false,
            in_flight: false,
            mtu_probe: false,
        }));
        c.fast_resend.push_back(initial_seq);
        c.seq_nr = initial_seq.add(1);
        c
    }

    /// Accepts a connection from its SYN: the first
    /// [`poll_transmit`](Self::poll_transmit) gives the ST_STATE that acks
    /// it. We receive on the SYN's id + 1 and send on its id (BEP 29
    /// "connection setup"); `initial_seq` is our first sequence number
    /// (random).
    ///
    /// # Errors
    /// [`Error::Packet`] when `syn` is not an ST_SYN.
    pub fn accept(
        config: Config,
        now: Instant,
        syn: &Packet<'_>,
        initial_seq: SeqNr,
    ) -> Result<Self, Error> {
        let h = syn.header;
        if h.packet_type != PacketType::Syn {
            return Err(Error::packet(0, "not a SYN"));
        }
        let mut c = Connection::new(
            config,
            now,
            h.connection_id.wrapping_add(1),
            h.connection_id,
            initial_seq,
        );
        c.state = State::Connected;
        c.remote_syn = Some(h.seq_nr);
        c.ack_nr = h.seq_nr;
        // libtorrent sends wnd_size 0 in its SYN: assume room for a packet
        // until the remote tells us more.
        c.peer_window = h.window.max(c.config.max_payload() as u32);
        if h.timestamp_micros != 0 {
            c.reply_micro = timestamp_micros(now, now).wrapping_sub(h.timestamp_micros);
        }
        c.stats.packets_received = 1;
        c.ack_needed = true;
        c.events = EV_CONNECTED | EV_WRITABLE;
        let at = now + c.rto();
        c.arm(at);
        Ok(c)
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection closed, if it did not close gracefully (`None`
    /// while open and after a graceful close).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the connection is closed and has nothing more to do: after
    /// a graceful close it still acks the remote's retransmitted FIN for
    /// a while (four timeouts, at most [`Config::fin_wait`]).
    pub fn is_drained(&self) -> bool {
        self.state == State::Closed && self.linger_until.is_none()
    }

    /// The connection id we receive on.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// The connection id we send on.
    pub fn send_id(&self) -> u16 {
        self.send_id
    }

    /// Whether the remote is known to be there: our SYN was acked, or it
    /// sent something after its SYN.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters and congestion state.
    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            window: self.ledbat.window(),
            peer_window: self.peer_window,
            bytes_in_flight: self.bytes_in_flight,
            rtt: self.rtt.rtt(),
            mtu: self.pmtu.floor(),
            ..self.stats
        }
    }

    /// Whether the datagram the last [`poll_transmit`](Self::poll_transmit)
    /// gave is a path MTU probe (see [`Config::mtu_discovery`]): it should
    /// be sent with the don't-fragment bit, and if the socket refuses it as
    /// too big (`EMSGSIZE`), [`refuse_mtu_probe`](Self::refuse_mtu_probe)
    /// be called. Other datagrams may be fragmented on the way.
    pub fn transmit_is_mtu_probe(&self) -> bool {
        self.transmit_is_probe
    }

    /// The socket refused the path MTU probe just given as too big for
    /// the path (`EMSGSIZE`): its size is above the path MTU, and the
    /// packet is sent again at once, without the don't-fragment bit.
    pub fn refuse_mtu_probe(&mut self) {
        let Some(seq) = self.pmtu.probe_seq() else {
            return;
        };
        self.pmtu.on_probe_lost();
        self.transmit_is_probe = false;
        if let Some(p) = self.slot_mut(seq) {
            p.mtu_probe = false;
            // Never reached the network: a first transmission again.
            p.transmissions = 0;
            let len = if p.in_flight {
                p.payload.len() as u32
            } else {
                0
            };
            p.in_flight = false;
            self.bytes_in_flight -= len;
            self.fast_resend.push_front(seq);
        }
    }

    /// The LEDBAT controller (window, delays).
    pub fn congestion(&self) -> &Ledbat {
        &self.ledbat
    }

    /// Bytes ready to [`read`](Self::read).
    pub fn readable_bytes(&self) -> usize {
        self.recv_buf.len()
    }

    /// Whether the remote's FIN was reached: after the buffered bytes,
    /// reads return 0.
    pub fn is_read_closed(&self) -> bool {
        self.eof
    }

    /// Bytes a [`write`](Self::write) would take now.
    pub fn send_capacity(&self) -> usize {
        if self.state == State::Closed || self.close_requested {
            return 0;
        }
        (self.config.send_buffer as usize).saturating_sub(self.unsent.len())
    }

    /// Bytes written and not yet acked (unsent plus in flight).
    pub fn unacked_bytes(&self) -> usize {
        self.unsent.len()
            + self
                .sent
                .iter()
                .flatten()
                .map(|p| p.payload.len())
                .sum::<usize>()
    }

    /// The window we advertise now, in bytes: the receive buffer less what
    /// is buffered.
    pub fn recv_window(&self) -> u32 {
        (self.config.recv_buffer as usize).saturating_sub(self.recv_buf.len() + self.reorder_bytes)
            as u32
    }

    /// Whether a [`poll_transmit`](Self::poll_transmit) may give a datagram
    /// now (cheap; it may still give none when the window is full).
    pub fn wants_transmit(&self) -> bool {
        self.send_reset
            || self.ack_needed
            || !self.fast_resend.is_empty()
            || (self.state == State::Connected
                && (!self.needs_resend.is_empty()
                    || !self.unsent.is_empty()
                    || (self.close_requested && self.fin_seq.is_none())))
    }

    // ----- application side -----

    /// Queues bytes to send; returns how many were taken (all of `data`
    /// or as many as the send buffer has room for). Writes before the
    /// handshake finished are sent after it.
    ///
    /// # Errors
    /// [`Error::WouldBlock`] when the send buffer is full (an
    /// [`Event::Writable`] follows when it drains);
    /// [`Error::WriteAfterClose`] after [`close`](Self::close); the close
    /// reason once the connection is closed.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if self.state == State::Closed {
            return Err(self.error.clone().unwrap_or(Error::WriteAfterClose));
        }
        if self.close_requested {
            return Err(Error::WriteAfterClose);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let room = (self.config.send_buffer as usize).saturating_sub(self.unsent.len());
        if room == 0 {
            self.write_blocked = true;
            return Err(Error::WouldBlock);
        }
        let n = room.min(data.len());
        self.unsent.extend_from_slice(&data[..n]);
        if n < data.len() {
            self.write_blocked = true;
        }
        Ok(n)
    }

    /// Reads received bytes in order into `buf`; returns how many. `Ok(0)`
    /// with a non-empty `buf` is the end of the stream (the remote's FIN).
    ///
    /// # Errors
    /// [`Error::WouldBlock`] when nothing is there yet (an
    /// [`Event::Readable`] follows); the close reason
    /// ([`Error::ConnectionReset`], [`Error::TimedOut`], ...) once the
    /// connection failed and the buffer is empty.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if !self.recv_buf.is_empty() {
            let n = buf.len().min(self.recv_buf.len());
            buf[..n].copy_from_slice(&self.recv_buf[..n]);
            self.recv_buf.advance(n);
            self.after_read();
            return Ok(n);
        }
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        match (&self.state, &self.error) {
            (State::Closed, Some(e)) => Err(e.clone()),
            (State::Closed, None) => Ok(0),
            _ => Err(Error::WouldBlock),
        }
    }

    /// The buffered in-order bytes, without taking them (may be empty):
    /// copy what fits, then [`consume`](Self::consume) it. For a reader
    /// whose buffer is not initialised (`tokio::io::ReadBuf`), so that
    /// nothing has to be zeroed first. Empty does not say why: call
    /// [`read`](Self::read) for end of stream or an error.
    pub fn readable(&self) -> &[u8] {
        &self.recv_buf
    }

    /// Drops the first `n` bytes of [`readable`](Self::readable), as a
    /// [`read`](Self::read) of `n` bytes would.
    ///
    /// # Panics
    /// If `n` is more than `readable().len()`.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.recv_buf.len(), "consume past the readable bytes");
        if n > 0 {
            self.recv_buf.advance(n);
            self.after_read();
        }
    }

    /// Takes all buffered in-order bytes at once, without copying (may be
    /// empty).
    pub fn read_chunk(&mut self) -> Bytes {
        let b = self.recv_buf.split().freeze();
        if !b.is_empty() {
            self.after_read();
        }
        b
    }

    fn after_read(&mut self) {
        // Tell a remote that may be stalled on our window that it opened.
        let max_packet = self.config.max_packet_size() as u32;
        let now = self.recv_window();
        if self.advertised < 2 * max_packet
            && now.saturating_sub(self.advertised)
                >= (2 * max_packet).min(self.config.recv_buffer / 2)
        {
            self.ack_needed = true;
        }
    }

    /// Finishes our side of the stream: once everything written is sent,
    /// a FIN follows. Reading goes on until the remote's FIN. The
    /// connection is [`State::Closed`] when both FINs are acked.
    pub fn close(&mut self) {
        if self.state != State::Closed {
            self.close_requested = true;
        }
    }

    /// Aborts the connection: an ST_RESET goes out at the next
    /// [`poll_transmit`](Self::poll_transmit) and the connection is closed
    /// with [`Error::Aborted`]. No event is reported for it.
    pub fn abort(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.send_reset = true;
        self.terminate(Error::Aborted, 0);
    }

    /// Marks the connection as released by its application: data that
    /// arrives is acked and dropped, and after our FIN is acked we wait
    /// at most [`Config::fin_wait`] for the remote's.
    pub fn detach(&mut self) {
        self.detached = true;
        self.recv_buf = BytesMut::new();
        self.close();
    }

    /// Whether [`detach`](Self::detach) was called.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    // ----- events and deadlines (the timers are in timers.rs) -----

    /// The next change to report, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        for (bit, ev) in [
            (EV_CONNECTED, Event::Connected),
            (EV_READABLE, Event::Readable),
            (EV_WRITABLE, Event::Writable),
            (EV_CLOSED, Event::Closed),
            (EV_RESET, Event::Reset),
            (EV_TIMED_OUT, Event::TimedOut),
        ] {
            if self.events & bit != 0 {
                self.events &= !bit;
                return Some(ev);
            }
        }
        None
    }

    /// Whether [`poll_event`](Self::poll_event) has something.
    pub fn has_events(&self) -> bool {
        self.events != 0
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return self.linger_until;
        }
        let mut t = self.rto_deadline;
        let mut earliest = |d: Instant| t = Some(t.map_or(d, |t| t.min(d)));
        if let Some(d) = self.ack_deadline {
            earliest(d);
        }
        if let (State::Connected, Some(k), true) =
            (self.state, self.config.keepalive, self.confirmed)
        {
            earliest(self.last_send + k);
        }
        if let (true, Some(at), false) = (self.detached, self.fin_acked_at, self.eof) {
            earliest(at + self.config.fin_wait);
        }
        t
    }
}

mod incoming;
mod outgoing;
mod timers;

#[cfg(test)]
mod tests;
