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

    // ----- events and timers -----

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

    fn rto(&self) -> Duration {
        self.rtt.timeout(
            self.config.initial_timeout,
            self.config.min_timeout,
            self.config.max_timeout,
            self.timeouts,
        )
    }

    /// Sets the retransmission timer to fire at `at`.
    fn arm(&mut self, at: Instant) {
        self.rto_deadline = Some(at);
        self.heard_at_arm = self.heard;
    }

    fn on_rto(&mut self, now: Instant) {
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
    fn mark_all_lost(&mut self) {
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

    // ----- incoming -----

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

    fn process_acks(&mut self, now: Instant, packet: &Packet<'_>, last_sent: SeqNr) {
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

    fn on_acked(
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

    fn on_data(&mut self, now: Instant, seq: SeqNr, payload: &[u8]) {
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
    fn delay_ack(&mut self, now: Instant, len: usize) {
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

    fn deliver(&mut self, payload: &[u8]) {
        self.stats.bytes_received += payload.len() as u64;
        if !self.detached {
            self.recv_buf.extend_from_slice(payload);
        }
    }

    fn on_fin(&mut self, seq: SeqNr) {
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

    fn check_eof(&mut self) {
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

    fn terminate(&mut self, error: Error, event: u8) {
        self.state = State::Closed;
        self.error = Some(error);
        self.clear_send_state();
        self.events |= event | EV_READABLE | EV_WRITABLE;
    }

    fn terminate_quietly(&mut self) {
        self.state = State::Closed;
        self.clear_send_state();
    }

    fn clear_send_state(&mut self) {
        self.sent.clear();
        self.needs_resend.clear();
        self.fast_resend.clear();
        self.unsent = BytesMut::new();
        self.bytes_in_flight = 0;
        self.rto_deadline = None;
        self.ack_needed = false;
        self.ack_deadline = None;
    }

    // ----- outgoing -----

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

    fn slot(&self, seq: SeqNr) -> Option<&SentPacket> {
        if !seq.is_after(self.acked) {
            return None;
        }
        let idx = usize::from(self.acked.distance_to(seq)) - 1;
        self.sent.get(idx).and_then(Option::as_ref)
    }

    fn slot_mut(&mut self, seq: SeqNr) -> Option<&mut SentPacket> {
        if !seq.is_after(self.acked) {
            return None;
        }
        let idx = usize::from(self.acked.distance_to(seq)) - 1;
        self.sent.get_mut(idx).and_then(Option::as_mut)
    }

    /// How many bytes the next data packet may carry, if one may go now,
    /// and the MTU it probes if it is a path MTU probe.
    fn next_chunk(&mut self) -> Option<(usize, Option<u16>)> {
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

    fn send_data(&mut self, now: Instant, n: usize, probe: Option<u16>, buf: &mut [u8]) -> usize {
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

    fn send_fin(&mut self, now: Instant, buf: &mut [u8]) -> usize {
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

    fn resend(&mut self, now: Instant, seq: SeqNr, buf: &mut [u8], fast: bool) -> usize {
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

    fn write_control(&mut self, now: Instant, t: PacketType, buf: &mut [u8]) -> usize {
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
    fn write_packet(
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

#[cfg(test)]
mod tests;
