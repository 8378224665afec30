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

    /// Applies `f` to what the torrent shows of this peer
    /// ([`PeerInfo`](crate::PeerInfo)).
    /// Whether the peer has a piece we want.
    fn is_interesting(&self) -> bool {
        let st = self.shared.lock();
        st.peers
            .get(&self.key)
            .is_some_and(|p| st.picker.is_interesting(&p.has))
    }

    /// Says `interested` or `not interested` when that changes, and
    /// shows it in the peer's info.
    fn set_interest(&mut self, interesting: bool) {
        if interesting != self.am_interested {
            self.am_interested = interesting;
            self.mirror(|l| l.am_interested = interesting);
            self.send(if interesting {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    fn mirror(&self, f: impl FnOnce(&mut crate::peer_info::PeerLive)) {
        if let Some(p) = self.shared.lock().peers.get_mut(&self.key) {
            f(&mut p.live);
        }
    }
}

mod download;
mod event_loop;
mod extensions;
mod messages;
mod upload;
