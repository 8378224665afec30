//! The multiplexer of one UDP socket, sans-IO: [`Endpoint`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::EndpointConfig;
use crate::connection::{Connection, Event};
use crate::error::Error;
use crate::packet::{Header, Packet, PacketType, HEADER_LEN};
use crate::seq::SeqNr;

/// Most ST_RESET answers waiting to be sent.
const MAX_PENDING_RESETS: usize = 64;

/// A connection of an [`Endpoint`]. Handles of removed connections are
/// never reused for another connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// A datagram to send, from [`Endpoint::poll_transmit`]: its bytes are
/// the first `size` bytes of the buffer given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Its length in bytes.
    pub size: usize,
    /// Set when the datagram is a path MTU probe of this connection
    /// ([`Connection::transmit_is_mtu_probe`]): send it with the
    /// don't-fragment bit, and if the socket refuses it as too big
    /// (`EMSGSIZE`), call [`Connection::refuse_mtu_probe`] on it.
    pub mtu_probe: Option<ConnectionHandle>,
}

/// What [`Endpoint::handle`] did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Routed {
    /// Given to an existing connection.
    Connection(ConnectionHandle),
    /// A SYN that opened a new incoming connection (see
    /// [`Endpoint::accept`]).
    NewConnection(ConnectionHandle),
    /// A SYN refused by a limit, or incoming connections are off; not
    /// answered (the remote will retry or give up).
    Refused,
    /// For no connection: answered with ST_RESET when the rate limit
    /// allows (never for a RESET).
    Stray,
}

/// Counters of an [`Endpoint`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Connections now.
    pub connections: usize,
    /// Incoming connections not confirmed yet.
    pub half_open: usize,
    /// Incoming connections waiting for `accept`.
    pub backlog: usize,
    /// Datagrams that were not valid packets.
    pub invalid: u64,
    /// SYNs refused by a limit.
    pub syns_refused: u64,
    /// Packets for no connection.
    pub strays: u64,
    /// ST_RESET answers sent to strays.
    pub resets_sent: u64,
}

#[derive(Debug)]
struct Entry {
    conn: Connection,
    remote: SocketAddr,
    generation: u32,
    half_open: bool,
    accepted: bool,
    in_transmit_queue: bool,
    in_event_queue: bool,
    touched: bool,
    scheduled: Option<Instant>,
}

/// The multiplexer: every uTP connection of one UDP socket, sans-IO.
///
/// An [`Endpoint`] routes each datagram by its connection id and remote
/// address, accepts incoming SYNs within limits (total connections,
/// half-open ones, the accept backlog: a SYN flood cannot grow memory
/// without bound), answers stray packets with ST_RESET (as libutp does,
/// rate-limited), and schedules the timers and transmissions of all its
/// connections: one [`poll_timeout`](Endpoint::poll_timeout) for the whole
/// socket.
///
/// Randomness (connection ids, initial sequence numbers, reset sequence
/// numbers) comes from a generator seeded by the caller.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: u64,
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    generation: u32,
    routes: HashMap<(SocketAddr, u16), u32>,
    last_route: Option<(SocketAddr, u16, u32)>,
    backlog: VecDeque<ConnectionHandle>,
    transmit_queue: VecDeque<u32>,
    event_queue: VecDeque<u32>,
    touched: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    resets: VecDeque<(SocketAddr, Header)>,
    reset_second: Option<Instant>,
    resets_this_second: u32,
    half_open: usize,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint with these settings; `seed` seeds the generator of
    /// connection ids and sequence numbers (give it a random value).
    ///
    /// # Errors
    /// [`Error::Config`] when a setting is out of its range.
    pub fn new(config: EndpointConfig, seed: u64) -> Result<Self, Error> {
        config.validate()?;
        Ok(Endpoint {
            config,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            entries: Vec::new(),
            free: Vec::new(),
            generation: 0,
            routes: HashMap::new(),
            last_route: None,
            backlog: VecDeque::new(),
            transmit_queue: VecDeque::new(),
            event_queue: VecDeque::new(),
            touched: Vec::new(),
            timers: BinaryHeap::new(),
            resets: VecDeque::new(),
            reset_second: None,
            resets_this_second: 0,
            half_open: 0,
            stats: EndpointStats::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            connections: self.routes.len(),
            half_open: self.half_open,
            backlog: self.backlog.len(),
            ..self.stats
        }
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn entry(&self, h: ConnectionHandle) -> Option<&Entry> {
        self.entries
            .get(h.index as usize)?
            .as_ref()
            .filter(|e| e.generation == h.generation)
    }

    fn entry_mut(&mut self, h: ConnectionHandle) -> Option<&mut Entry> {
        self.entries
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|e| e.generation == h.generation)
    }

    fn handle_of(&self, index: u32) -> ConnectionHandle {
        let generation = self.entries[index as usize]
            .as_ref()
            .map_or(0, |e| e.generation);
        ConnectionHandle { index, generation }
    }

    fn insert(&mut self, conn: Connection, remote: SocketAddr, incoming: bool) -> ConnectionHandle {
        self.generation = self.generation.wrapping_add(1);
        let entry = Entry {
            conn,
            remote,
            generation: self.generation,
            half_open: incoming,
            accepted: !incoming,
            in_transmit_queue: false,
            in_event_queue: false,
            touched: false,
            scheduled: None,
        };
        let recv_id = entry.conn.recv_id();
        let index = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(entry);
                i
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        };
        if incoming {
            self.half_open += 1;
        }
        self.routes.insert((remote, recv_id), index);
        self.touch(index);
        ConnectionHandle {
            index,
            generation: self.generation,
        }
    }

    fn remove(&mut self, index: u32) {
        let Some(e) = self.entries[index as usize].take() else {
            return;
        };
        let key = (e.remote, e.conn.recv_id());
        self.routes.remove(&key);
        if self.last_route.is_some_and(|(a, id, _)| (a, id) == key) {
            self.last_route = None;
        }
        if e.half_open {
            self.half_open -= 1;
        }
        self.free.push(index);
    }

    fn touch(&mut self, index: u32) {
        if let Some(Some(e)) = self.entries.get_mut(index as usize) {
            if !e.touched {
                e.touched = true;
                self.touched.push(index);
            }
        }
    }

    /// Brings the queues, the timer heap and the counters up to date with
    /// the connections that changed.
    fn settle(&mut self) {
        while let Some(index) = self.touched.pop() {
            let Some(Some(e)) = self.entries.get_mut(index as usize) else {
                continue;
            };
            e.touched = false;
            if e.half_open && (e.conn.is_confirmed() || e.conn.is_closed()) {
                e.half_open = false;
                self.half_open -= 1;
            }
            let wants = e.conn.wants_transmit();
            if wants && !e.in_transmit_queue {
                e.in_transmit_queue = true;
                self.transmit_queue.push_back(index);
            }
            if e.conn.has_events() && !e.in_event_queue && e.accepted && !e.conn.is_detached() {
                e.in_event_queue = true;
                self.event_queue.push_back(index);
            }
            let t = e.conn.poll_timeout();
            if t != e.scheduled {
                e.scheduled = t;
                if let Some(t) = t {
                    self.timers.push(Reverse((t, index, e.generation)));
                }
            }
            // A connection nobody holds is removed once it is done.
            let unheld = e.conn.is_detached() || !e.accepted;
            if e.conn.is_drained() && unheld && !wants {
                self.remove(index);
            }
        }
    }

    // ----- connections -----

    /// Opens a connection to `remote`: its SYN goes out at the next
    /// [`poll_transmit`](Self::poll_transmit); [`Event::Connected`] (or
    /// [`Event::TimedOut`] / [`Event::Reset`]) follows.
    ///
    /// # Errors
    /// [`Error::ConnectionLimit`] at `max_connections`, or when no free
    /// connection id for this remote was found.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<ConnectionHandle, Error> {
        if self.routes.len() >= self.config.max_connections {
            return Err(Error::ConnectionLimit {
                limit: "max_connections",
            });
        }
        let mut recv_id = None;
        for _ in 0..64 {
            let id = self.random() as u16;
            // The remote answers on `id`; its side uses `id + 1` too.
            if !self.routes.contains_key(&(remote, id))
                && !self.routes.contains_key(&(remote, id.wrapping_add(1)))
            {
                recv_id = Some(id);
                break;
            }
        }
        let Some(recv_id) = recv_id else {
            return Err(Error::ConnectionLimit {
                limit: "connection ids for this remote",
            });
        };
        let seq = SeqNr(self.random() as u16);
        let conn = Connection::connect(self.config.connection, now, recv_id, seq);
        Ok(self.insert(conn, remote, false))
    }

    /// The next incoming connection and its remote address, if one is
    /// waiting. Its [`Event::Connected`] is reported after this.
    pub fn accept(&mut self) -> Option<(ConnectionHandle, SocketAddr)> {
        while let Some(h) = self.backlog.pop_front() {
            let Some(e) = self.entry_mut(h) else { continue };
            if e.conn.is_closed() {
                // Died waiting (an unconfirmed SYN that timed out).
                e.accepted = false;
                self.touch(h.index);
                continue;
            }
            e.accepted = true;
            let remote = e.remote;
            self.touch(h.index);
            return Some((h, remote));
        }
        None
    }

    /// The connection, to inspect.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.entry(h).map(|e| &e.conn)
    }

    /// The connection, to read, write or close. Whatever changes is
    /// picked up by the next `poll_*` call.
    pub fn connection_mut(&mut self, h: ConnectionHandle) -> Option<&mut Connection> {
        self.entry(h)?;
        self.touch(h.index);
        self.entry_mut(h).map(|e| &mut e.conn)
    }

    /// The remote address of a connection.
    pub fn remote(&self, h: ConnectionHandle) -> Option<SocketAddr> {
        self.entry(h).map(|e| e.remote)
    }

    /// Gives a connection up: it is closed gracefully (FIN after what was
    /// written), incoming data is acked and dropped, and it is removed
    /// once done (or at once if already closed). Its events stop.
    pub fn release(&mut self, h: ConnectionHandle) {
        if let Some(e) = self.entry_mut(h) {
            e.conn.detach();
            self.touch(h.index);
            self.settle();
        }
    }

    /// Aborts a connection with an ST_RESET and removes it.
    pub fn abort(&mut self, h: ConnectionHandle) {
        if let Some(e) = self.entry_mut(h) {
            e.conn.abort();
            e.conn.detach();
            self.touch(h.index);
            self.settle();
        }
    }

    // ----- datagrams -----

    /// Handles one datagram from `remote` that arrived at `now`.
    ///
    /// # Errors
    /// [`Error::Packet`] when it is not a valid uTP packet (it is
    /// dropped and counted).
    pub fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Result<Routed, Error> {
        let packet = match Packet::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.invalid += 1;
                return Err(e);
            }
        };
        let h = packet.header;
        let index = match h.packet_type {
            PacketType::Syn => self.route(remote, h.connection_id.wrapping_add(1)),
            PacketType::Reset => self.route_reset(remote, h.connection_id),
            _ => self.route(remote, h.connection_id),
        };
        if let Some(index) = index {
            let e = self.entries[index as usize].as_mut().expect("routed");
            e.conn.handle_packet(now, &packet);
            self.touch(index);
            return Ok(Routed::Connection(self.handle_of(index)));
        }
        match h.packet_type {
            PacketType::Syn => Ok(self.incoming_syn(now, remote, &packet)),
            PacketType::Reset => {
                self.stats.strays += 1;
                Ok(Routed::Stray)
            }
            _ => {
                self.stats.strays += 1;
                self.answer_stray(now, remote, h);
                Ok(Routed::Stray)
            }
        }
    }

    fn route(&mut self, remote: SocketAddr, id: u16) -> Option<u32> {
        if let Some((a, i, index)) = self.last_route {
            if a == remote && i == id {
                return Some(index);
            }
        }
        let index = *self.routes.get(&(remote, id))?;
        self.last_route = Some((remote, id, index));
        Some(index)
    }

    /// A RESET carries either id: ours (libtorrent) or the remote's, which
    /// is our send id (libutp), as libutp looks them up.
    fn route_reset(&mut self, remote: SocketAddr, id: u16) -> Option<u32> {
        if let Some(i) = self.route(remote, id) {
            return Some(i);
        }
        for other in [id.wrapping_add(1), id.wrapping_sub(1)] {
            if let Some(&i) = self.routes.get(&(remote, other)) {
                let ours = self.entries[i as usize]
                    .as_ref()
                    .is_some_and(|e| e.conn.send_id() == id);
                if ours {
                    return Some(i);
                }
            }
        }
        None
    }

    fn incoming_syn(&mut self, now: Instant, remote: SocketAddr, syn: &Packet<'_>) -> Routed {
        let refuse = !self.config.accept_incoming
            || self.routes.len() >= self.config.max_connections
            || self.half_open >= self.config.max_half_open
            || self.backlog.len() >= self.config.accept_backlog;
        if refuse {
            self.stats.syns_refused += 1;
            return Routed::Refused;
        }
        let seq = SeqNr(self.random() as u16);
        let conn = Connection::accept(self.config.connection, now, syn, seq).expect("a SYN");
        let h = self.insert(conn, remote, true);
        self.backlog.push_back(h);
        Routed::NewConnection(h)
    }

    fn answer_stray(&mut self, now: Instant, remote: SocketAddr, h: Header) {
        if self.config.max_resets_per_second == 0 || self.resets.len() >= MAX_PENDING_RESETS {
            return;
        }
        let new_second = self
            .reset_second
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1));
        if new_second {
            self.reset_second = Some(now);
            self.resets_this_second = 0;
        }
        if self.resets_this_second >= self.config.max_resets_per_second {
            return;
        }
        self.resets_this_second += 1;
        // As libutp: the stray's connection id, acking its seq_nr.
        let reset = Header {
            packet_type: PacketType::Reset,
            connection_id: h.connection_id,
            timestamp_micros: 0,
            timestamp_difference_micros: 0,
            window: 0,
            seq_nr: SeqNr(self.random() as u16),
            ack_nr: h.seq_nr,
        };
        self.resets.push_back((remote, reset));
    }

    /// The next datagram to send, written into `buf` (at least
    /// [`Config::max_packet_size`](crate::Config::max_packet_size) bytes).
    /// Connections take turns, one datagram each. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((destination, header)) = self.resets.pop_front() {
            header.write_to(crate::packet::EXTENSION_NONE, buf);
            self.stats.resets_sent += 1;
            return Some(Transmit {
                destination,
                size: HEADER_LEN,
                mtu_probe: None,
            });
        }
        self.settle();
        while let Some(index) = self.transmit_queue.pop_front() {
            let Some(Some(e)) = self.entries.get_mut(index as usize) else {
                continue;
            };
            match e.conn.poll_transmit(now, buf) {
                Some(size) => {
                    let destination = e.remote;
                    let probe = e.conn.transmit_is_mtu_probe();
                    // Round robin: back of the queue, still queued.
                    self.transmit_queue.push_back(index);
                    self.touch(index);
                    return Some(Transmit {
                        destination,
                        size,
                        mtu_probe: probe.then(|| self.handle_of(index)),
                    });
                }
                None => {
                    e.in_transmit_queue = false;
                    self.touch(index);
                }
            }
        }
        self.settle();
        None
    }

    /// The next event of a connection held by the application (accepted
    /// or connected, not released).
    pub fn poll_event(&mut self) -> Option<(ConnectionHandle, Event)> {
        self.settle();
        while let Some(index) = self.event_queue.pop_front() {
            let Some(Some(e)) = self.entries.get_mut(index as usize) else {
                continue;
            };
            e.in_event_queue = false;
            if let Some(ev) = e.conn.poll_event() {
                self.touch(index);
                return Some((self.handle_of(index), ev));
            }
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next:
    /// the earliest timer of all connections.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.settle();
        while let Some(&Reverse((t, index, generation))) = self.timers.peek() {
            let live = self.entries[index as usize]
                .as_ref()
                .is_some_and(|e| e.generation == generation && e.scheduled == Some(t));
            if live {
                return Some(t);
            }
            self.timers.pop();
        }
        None
    }

    /// Handles every connection timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle();
        while let Some(&Reverse((t, index, generation))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(Some(e)) = self.entries.get_mut(index as usize) else {
                continue;
            };
            if e.generation != generation || e.scheduled != Some(t) {
                continue;
            }
            e.scheduled = None;
            e.conn.handle_timeout(now);
            self.touch(index);
        }
        self.settle();
    }
}

#[cfg(test)]
mod tests;
