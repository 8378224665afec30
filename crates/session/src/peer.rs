//! One peer connection: handshake, then a task that reads messages,
//! keeps the request pipeline full, serves the peer's requests, and obeys
//! the torrent's commands. See `DESIGN.md`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use seedbed_metainfo::BLOCK_SIZE;
use seedbed_peer_wire::{
    allowed_fast_set, metadata_piece_count, Bitfield, Block, BlockRequest, ExtendedHandshake,
    ExtensionIds, Handshake, HandshakeCodec, HandshakeEvent, HandshakePrefix, Message,
    MessageDecoder, MetadataMessage, PexFlags, PexMessage, Reserved, METADATA_PIECE_LEN,
    UT_METADATA, UT_PEX,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Sleep};
use tokio_util::codec::Framed;

use crate::encryption::{dial, PeerStream};
use crate::error::Error;
use crate::hash_exchange::{self, PeerHashes};
use crate::peer_info::Link;
use crate::picker::Received;
use crate::rate_limit;
use crate::torrent::{DriverCmd, PeerCmd, PeerKey, PieceBuffer, State, TorrentShared};
use crate::transport::TransportStream;
use crate::upload_queue::UploadQueue;
use crate::wire_io::{piece_frames, BoxRead, BoxWrite, SendQueue, WireReader, PIECE_HEADER};

/// Our reserved bits: fast extension (BEP 6) and extension protocol
/// (BEP 10).
const OUR_RESERVED: Reserved = Reserved::ZERO
    .with(Reserved::FAST)
    .with(Reserved::EXTENSION_PROTOCOL);

/// Requests we keep in flight at first, before the peer's rate is known.
const INITIAL_DEPTH: usize = 64;
/// Seconds of the peer's rate we keep requested (as libtorrent's
/// `request_queue_time`).
const QUEUE_SECONDS: u64 = 3;
/// Requests are sent once the pipeline lacks a 1/REQUEST_BATCH_DIV of its
/// depth (at most MAX_REQUEST_BATCH), so several go out per flush.
const REQUEST_BATCH_DIV: usize = 8;
const MAX_REQUEST_BATCH: usize = 16;
/// Their `reqq` when they do not say (libtorrent's default).
const DEFAULT_REQQ: usize = 250;
/// Our extended message id for `ut_pex` (BEP 10 `m`).
const OUR_UT_PEX: u8 = 2;
/// Pieces we let a choked peer request (BEP 6 allowed fast set).
const ALLOWED_FAST: u32 = 4;
/// In endgame a peer asks for blocks others are fetching only while it has
/// fewer than this many requests of its own outstanding.
const ENDGAME_QUEUE: usize = 4;
/// Blocks read from disk per batch when serving (256 KiB).
const READ_BATCH: usize = 16;
/// A new batch is read from disk while fewer bytes than this wait to be
/// sent: the socket always has the next blocks at hand, and an uploading
/// connection holds at most about this plus one batch.
const SEND_WATERMARK: usize = 512 * 1024;
/// Longest sleep of a connection held back by a speed limit before it
/// looks again (a limit raised at run time applies within this).
const THROTTLE_RECHECK: Duration = Duration::from_secs(1);
/// How often a connection that transfers blocks measures its rate and
/// checks its requests' timeout. An idle one wakes only for keep-alives,
/// PeX and its idle limit.
const TICK: Duration = Duration::from_secs(1);
/// A peer that sends nothing for this long is dropped.
const IDLE_LIMIT: Duration = Duration::from_secs(180);
/// Keep-alive after this long without sending.
const KEEPALIVE: Duration = Duration::from_secs(90);
/// PeX (BEP 11): the first message this long after connecting, then at
/// most one a minute.
const PEX_FIRST: Duration = Duration::from_secs(2);
const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Most peers in one PeX message (BEP 11 suggests at most 50 added).
const PEX_MAX: usize = 50;

/// Our reserved bits: [`OUR_RESERVED`], and the DHT bit when we run a DHT
/// node for this torrent (BEP 5: we then send `port`).
fn our_reserved(shared: &TorrentShared) -> Reserved {
    if shared.dht.is_some() {
        OUR_RESERVED.with(Reserved::DHT)
    } else {
        OUR_RESERVED
    }
}

/// Our handshake when dialling: the torrent's wire hash, and for a hybrid
/// the v2 upgrade bit (`upgrade.rs`).
fn our_handshake(shared: &TorrentShared) -> Handshake {
    Handshake::new(shared.info_hash, shared.peer_id)
        .with_reserved(shared.upgrade_bits(our_reserved(shared)))
}

/// Dials `addr` (uTP first, then TCP, as the session's transports say),
/// handshakes and runs the connection until it ends.
pub(crate) async fn connect(shared: Arc<TorrentShared>, addr: SocketAddr) {
    // uTP or TCP (by the transports setting; TCP from the bound
    // address), then plain or MSE handshakes as the encryption policy says.
    let (framed, theirs) =
        match dial(&shared.config, &shared.dialer, addr, our_handshake(&shared)).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(%addr, %e, "connect failed");
                shared.connect_failed(addr);
                return;
            }
        };
    if theirs.peer_id == shared.peer_id {
        tracing::debug!(%addr, "dialled ourselves");
        shared.dialled_self(addr);
        return;
    }
    // A hybrid's peer may answer our v1 hash with its v2 hash (upgrade).
    if !shared.accepts_hash(&theirs.info_hash) {
        tracing::debug!(%addr, "wrong info hash");
        shared.connect_failed(addr);
        return;
    }
    let link = Link {
        encrypted: framed.get_ref().is_mse(),
        transport: framed.get_ref().get_ref().transport(),
        ..Link::tcp(true)
    };
    let (reader, writer) = split(&shared, framed);
    run(shared, reader, writer, addr, theirs, link).await;
}

/// Completes an incoming connection whose first 48 bytes named this
/// torrent: answers with our handshake, reads the peer id, runs it.
///
/// `prefix` is what the peer sent: its info hash (our v1 or truncated v2
/// hash) and reserved bits. We answer with the same hash, or with the v2
/// hash when a hybrid's v1 hash came with the upgrade bit (BEP 52).
pub(crate) async fn accept(
    shared: Arc<TorrentShared>,
    mut framed: Framed<PeerStream, HandshakeCodec>,
    addr: SocketAddr,
    prefix: HandshakePrefix,
) {
    let t = shared.config.connect_timeout;
    let agreed = shared.answer_hash(&prefix.info_hash, prefix.reserved);
    let attempt = async {
        let ours = Handshake::new(agreed, shared.peer_id).with_reserved(our_reserved(&shared));
        framed.send(ours).await?;
        loop {
            match framed.next().await {
                Some(Ok(HandshakeEvent::Complete(hs))) => return Ok::<_, Error>(hs),
                Some(Ok(HandshakeEvent::Prefix(_))) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(Error::Peer {
                        addr,
                        reason: "closed during the handshake".into(),
                    })
                }
            }
        }
    };
    let mut theirs = match timeout(t, attempt).await {
        Ok(Ok(hs)) => hs,
        _ => return,
    };
    // The hash both ends use from now on (it decides whether the
    // connection speaks v2).
    theirs.info_hash = agreed;
    if theirs.peer_id == shared.peer_id {
        return;
    }
    let link = Link {
        encrypted: framed.get_ref().is_mse(),
        transport: framed.get_ref().get_ref().transport(),
        ..Link::tcp(false)
    };
    let (reader, writer) = split(&shared, framed);
    run(shared, reader, writer, addr, theirs, link).await;
}

/// The two halves of a connection after the handshake; bytes that came
/// with the handshake are decoded first.
///
/// A plaintext connection (plain, or MSE that selected plaintext) is split
/// into the TCP stream's own halves, so writes stay vectored and lock-free;
/// an RC4 one into the halves of its `MseStream`.
fn split(
    shared: &TorrentShared,
    framed: Framed<PeerStream, HandshakeCodec>,
) -> (WireReader, BoxWrite) {
    let parts = framed.into_parts();
    let decoder = MessageDecoder::new(shared.limits);
    match parts.io.into_plaintext() {
        Ok((stream, pending)) => {
            // Bytes the codec read come first, then those the stream still
            // held from the handshake.
            let mut buffered = parts.read_buf;
            buffered.extend_from_slice(&pending);
            match stream {
                TransportStream::Tcp(tcp) => {
                    let (r, w) = tcp.into_split();
                    let read: BoxRead = Box::new(r);
                    (WireReader::new(read, buffered, decoder), Box::new(w))
                }
                TransportStream::Utp(utp) => {
                    let (r, w) = tokio::io::split(utp);
                    let read: BoxRead = Box::new(r);
                    (WireReader::new(read, buffered, decoder), Box::new(w))
                }
            }
        }
        Err(stream) => {
            let (r, w) = tokio::io::split(*stream);
            let read: BoxRead = Box::new(r);
            (WireReader::new(read, parts.read_buf, decoder), Box::new(w))
        }
    }
}

async fn run(
    shared: Arc<TorrentShared>,
    reader: WireReader,
    writer: BoxWrite,
    addr: SocketAddr,
    theirs: Handshake,
    link: Link,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let Some(key) = shared.register_peer(addr, tx, theirs.peer_id, link) else {
        return;
    };
    let mut conn = Conn::new(Arc::clone(&shared), key, addr, reader, writer, rx, &theirs);
    match conn.run().await {
        Ok(()) => tracing::debug!(%addr, "peer closed"),
        Err(e) => tracing::debug!(%addr, %e, "peer dropped"),
    }
    let outstanding: Vec<BlockRequest> = conn.outstanding.keys().copied().collect();
    hash_exchange::release(&shared, key, &mut conn.hashes);
    shared.unregister_peer(key, outstanding.into_iter());
}

type ReadBatch = Vec<(BlockRequest, Result<Bytes, Error>)>;

struct Conn {
    shared: Arc<TorrentShared>,
    key: PeerKey,
    addr: SocketAddr,
    reader: WireReader,
    writer: BoxWrite,
    /// What waits to be written.
    out: SendQueue,
    rx: mpsc::UnboundedReceiver<PeerCmd>,
    /// The one timer of the connection, set to the earliest of its
    /// deadlines (`next_wake`).
    timer: Pin<Box<Sleep>>,
    timer_at: Instant,
    /// The next rate measurement, while blocks are transferred.
    next_tick: Option<Instant>,
    /// Reading stopped by the download limit until then.
    read_paused_until: Option<Instant>,
    /// Serving stopped by the upload limit until then.
    send_paused_until: Option<Instant>,
    num_pieces: u32,
    fast: bool,
    extended: bool,
    peer_choking: bool,
    am_choking: bool,
    am_interested: bool,
    /// Our requests to the peer, with when they were sent.
    outstanding: HashMap<BlockRequest, Instant>,
    /// The peer's `reqq`.
    reqq: usize,
    /// How many requests we want in flight.
    depth: usize,
    received_this_tick: u64,
    last_progress: Instant,
    last_recv: Instant,
    last_sent: Instant,
    snubbed_until: Option<Instant>,
    /// The peer's requests, waiting to be read from disk.
    requests: UploadQueue,
    reading: Option<JoinHandle<ReadBatch>>,
    /// Pieces we let the peer request while it is choked.
    allowed_ours: HashSet<u32>,
    /// Pieces the peer lets us request while it chokes us.
    allowed_theirs: HashSet<u32>,
    scratch: Vec<BlockRequest>,
    /// Extension ids, ours and the peer's (BEP 10).
    ids: ExtensionIds,
    /// The torrent is private (BEP 27): no PeX.
    private: bool,
    pex_next: Instant,
    /// Peers named in our PeX messages so far.
    pex_sent: HashSet<SocketAddr>,
    /// BEP 52 hash exchange with this peer (`hash_exchange.rs`).
    hashes: PeerHashes,
    /// The peer set the DHT bit (BEP 5): it gets our `port` message.
    their_dht: bool,
    /// The peer's `port` message was handled (only the first one is).
    port_seen: bool,
}

impl Conn {
    fn new(
        shared: Arc<TorrentShared>,
        key: PeerKey,
        addr: SocketAddr,
        reader: WireReader,
        writer: BoxWrite,
        rx: mpsc::UnboundedReceiver<PeerCmd>,
        theirs: &Handshake,
    ) -> Conn {
        let now = Instant::now();
        let fast = theirs.reserved.fast();
        let extended = theirs.reserved.extension_protocol();
        let num_pieces = shared.info.geometry().num_pieces();
        let private = shared.info.is_private();
        let speaks_v2 = shared.speaks_v2(&theirs.info_hash);
        let mut ids = ExtensionIds::new();
        ids.register(UT_METADATA, crate::metadata::OUR_UT_METADATA);
        if !private {
            ids.register(UT_PEX, OUR_UT_PEX);
        }
        Conn {
            shared,
            key,
            addr,
            reader,
            writer,
            out: SendQueue::default(),
            rx,
            timer: Box::pin(tokio::time::sleep_until((now + KEEPALIVE).into())),
            timer_at: now + KEEPALIVE,
            next_tick: None,
            read_paused_until: None,
            send_paused_until: None,
            num_pieces,
            fast,
            extended,
            peer_choking: true,
            am_choking: true,
            am_interested: false,
            outstanding: HashMap::new(),
            reqq: DEFAULT_REQQ,
            depth: INITIAL_DEPTH,
            received_this_tick: 0,
            last_progress: now,
            last_recv: now,
            last_sent: now,
            snubbed_until: None,
            requests: UploadQueue::default(),
            reading: None,
            allowed_ours: HashSet::new(),
            allowed_theirs: HashSet::new(),
            scratch: Vec::new(),
            ids,
            private,
            pex_next: now + PEX_FIRST,
            pex_sent: HashSet::new(),
            hashes: PeerHashes::new(speaks_v2),
            their_dht: theirs.reserved.dht(),
            port_seen: false,
        }
    }

    /// Queues a message; the run loop writes it.
    fn send(&mut self, msg: Message) {
        self.out.push(&msg);
        self.last_sent = Instant::now();
    }

    async fn run(&mut self) -> Result<(), Error> {
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

    /// Whether `serve` would read more blocks now.
    fn can_serve(&self) -> bool {
        self.reading.is_none()
            && self.send_paused_until.is_none()
            && !self.requests.is_empty()
            && self.out.len() < SEND_WATERMARK
    }

    /// When a connection held back by `limiters` should look again: when
    /// their debt is paid back, at most `THROTTLE_RECHECK` from now; `None`
    /// if it need not wait.
    fn throttle(&self, limiters: [&rate_limit::RateLimiter; 2]) -> Option<Instant> {
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

    /// Extension handshake, what we have, and our allowed-fast set.
    fn introduce(&mut self) -> Result<(), Error> {
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
    fn on_message(&mut self, m: Message) -> Result<bool, Error> {
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
                if interesting && !self.am_interested {
                    self.am_interested = true;
                    self.mirror(|l| l.am_interested = true);
                    self.send(Message::Interested);
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

    /// BEP 5 `port`: the peer's DHT node listens on its IP and `port`;
    /// the DHT pings it (in a task of its own), and it enters the routing
    /// table if it answers. Only the first `port` of a connection counts (a
    /// peer cannot make us ping a stream of ports), and none when we run no
    /// DHT for this torrent (off, or private).
    fn on_port(&mut self, port: u16) {
        if self.port_seen || port == 0 {
            return;
        }
        self.port_seen = true;
        if let Some(dht) = &self.shared.dht {
            let dht = dht.clone();
            let node = SocketAddr::new(self.addr.ip(), port);
            tokio::spawn(async move { dht.add_node(node).await });
        }
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
        if interesting != self.am_interested {
            self.am_interested = interesting;
            self.mirror(|l| l.am_interested = interesting);
            self.send(if interesting {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
        Ok(true)
    }

    fn on_request(&mut self, r: BlockRequest) -> Result<(), Error> {
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
    fn on_cancel(&mut self, r: BlockRequest) {
        if self.requests.cancel(&r) && self.fast {
            self.send(Message::RejectRequest(r));
        }
    }

    fn on_block(&mut self, block: Block) {
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

    /// `ut_metadata` requests are served from the info dictionary's exact
    /// bytes (BEP 9); `ut_pex` peers are handed to the driver (BEP 11).
    fn on_extension(&mut self, id: u8, payload: &Bytes) -> Result<(), Error> {
        match self.ids.incoming(id) {
            Some(UT_METADATA) => {
                let Ok(MetadataMessage::Request { piece }) =
                    MetadataMessage::decode(payload, &self.shared.limits)
                else {
                    return Ok(());
                };
                let Some(their_id) = self.ids.outgoing(UT_METADATA) else {
                    return Ok(());
                };
                let raw = self.shared.info.raw().clone();
                let total = raw.len() as u32;
                let reply = if piece < metadata_piece_count(total) {
                    let start = piece as usize * METADATA_PIECE_LEN as usize;
                    let end = (start + METADATA_PIECE_LEN as usize).min(raw.len());
                    MetadataMessage::Data {
                        piece,
                        total_size: total,
                        data: raw.slice(start..end),
                    }
                } else {
                    MetadataMessage::Reject { piece }
                };
                self.send(Message::Extended {
                    id: their_id,
                    payload: reply.to_bytes(),
                });
            }
            Some(UT_PEX) if !self.private => {
                if let Ok(pex) = PexMessage::decode(payload) {
                    let addrs: Vec<SocketAddr> = pex
                        .added
                        .iter()
                        .map(|a| SocketAddr::V4(*a))
                        .chain(pex.added6.iter().map(|a| SocketAddr::V6(*a)))
                        .filter(|a| a.port() != 0)
                        .take(PEX_MAX)
                        .collect();
                    if !addrs.is_empty() {
                        let _ = self.shared.cmd_tx.send(DriverCmd::AddPeers(addrs));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends the peers connected and dropped since our last PeX message.
    fn send_pex(&mut self) -> Result<(), Error> {
        let Some(their_id) = self.ids.outgoing(UT_PEX) else {
            return Ok(());
        };
        let current: HashSet<SocketAddr> = {
            let st = self.shared.lock();
            st.peers
                .iter()
                .filter(|(k, _)| **k != self.key)
                .filter_map(|(_, p)| p.listen_addr)
                .filter(|a| *a != self.addr)
                .collect()
        };
        let mut msg = PexMessage::default();
        for a in current.difference(&self.pex_sent).take(PEX_MAX) {
            match a {
                SocketAddr::V4(v4) => {
                    msg.added.push(*v4);
                    msg.added_flags.push(PexFlags(0));
                }
                SocketAddr::V6(v6) => {
                    msg.added6.push(*v6);
                    msg.added6_flags.push(PexFlags(0));
                }
            }
        }
        for a in self.pex_sent.difference(&current).take(PEX_MAX) {
            match a {
                SocketAddr::V4(v4) => msg.dropped.push(*v4),
                SocketAddr::V6(v6) => msg.dropped6.push(*v6),
            }
        }
        if msg == PexMessage::default() {
            return Ok(());
        }
        for a in msg
            .added
            .iter()
            .map(|a| SocketAddr::V4(*a))
            .chain(msg.added6.iter().map(|a| SocketAddr::V6(*a)))
        {
            self.pex_sent.insert(a);
        }
        for a in msg
            .dropped
            .iter()
            .map(|a| SocketAddr::V4(*a))
            .chain(msg.dropped6.iter().map(|a| SocketAddr::V6(*a)))
        {
            self.pex_sent.remove(&a);
        }
        self.send(Message::Extended {
            id: their_id,
            payload: msg.to_bytes(),
        });
        Ok(())
    }

    fn drop_outstanding(&mut self) {
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

    /// Applies `f` to what the torrent shows of this peer
    /// ([`PeerInfo`](crate::PeerInfo)).
    fn mirror(&self, f: impl FnOnce(&mut crate::peer_info::PeerLive)) {
        if let Some(p) = self.shared.lock().peers.get_mut(&self.key) {
            f(&mut p.live);
        }
    }

    fn on_cmd(&mut self, cmd: PeerCmd) -> Result<(), Error> {
        match cmd {
            PeerCmd::Have(piece) => {
                self.send(Message::Have { piece });
                if self.am_interested {
                    let still = {
                        let st = self.shared.lock();
                        st.peers
                            .get(&self.key)
                            .is_some_and(|p| st.picker.is_interesting(&p.has))
                    };
                    if !still {
                        self.am_interested = false;
                        self.mirror(|l| l.am_interested = false);
                        self.send(Message::NotInterested);
                    }
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
                let interesting = {
                    let st = self.shared.lock();
                    st.peers
                        .get(&self.key)
                        .is_some_and(|p| st.picker.is_interesting(&p.has))
                };
                if interesting != self.am_interested {
                    self.am_interested = interesting;
                    self.send(if interesting {
                        Message::Interested
                    } else {
                        Message::NotInterested
                    });
                }
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

    fn request_more(&mut self) -> Result<(), Error> {
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
    fn request_hashes(&mut self) {
        let now = Instant::now();
        for r in hash_exchange::next_requests(&self.shared, self.key, &mut self.hashes, now) {
            self.send(Message::HashRequest(r));
        }
    }

    /// A BEP 52 hash request: answered in a task of its own (leaves below
    /// the piece layer are hashed from disk), whose answer comes back as
    /// [`PeerCmd::Send`].
    fn on_hash_request(&mut self, r: seedbed_peer_wire::HashRequest) {
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

    /// Starts reading the next batch of the peer's requests from disk.
    /// Reads the peer's next requested blocks: first from the page cache
    /// on this thread (no hand-off, the common case for a seed; blocks
    /// that follow each other in a piece with one `preadv2`), then, for
    /// the first block that is not cached, a batch on a blocking thread.
    /// Nothing new is read while the send queue holds `SEND_WATERMARK`
    /// bytes.
    fn serve(&mut self) -> Result<(), Error> {
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
    /// the peer may no longer ask for (it was choked meanwhile).
    fn on_read_done(&mut self, batch: ReadBatch) -> Result<(), Error> {
        let mut sent = 0u64;
        for (r, frame) in batch {
            let frame = frame?;
            if self.am_choking && !self.allowed_ours.contains(&r.piece) {
                if let Ok(frame) = frame.try_into_mut() {
                    self.out.unused_frame(frame);
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
