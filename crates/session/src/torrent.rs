//! One torrent's shared state: its peers, picker, piece buffers and
//! counters, and what the peer tasks and the hash pool do to them. The
//! driver task is in `torrent/driver.rs`. See `DESIGN.md`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use seedbed_metainfo::{Info, InfoHash, PeerId, PieceIndex};
use seedbed_peer_wire::{Bitfield, BlockRequest, Limits};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::announce::{self, AnnounceCmd};
use crate::choker::{self, Candidate};
use crate::config::{AddTorrentOptions, SessionConfig};
use crate::dht::SessionDht;
use crate::file_selection::{self, FilePriority};
use crate::handle::{Event, Slot, Status};
use crate::merkle_verify::{Verdict, Verifier};
use crate::peer;
use crate::peer_info::{Link, PeerLive};
use crate::picker::PiecePicker;
use crate::rate_limit::{Bandwidth, RateLimiter};
use crate::resume::{self, ResumeState};
use crate::storage::Storage;
use crate::tracker_info::TrackerList;
use crate::transport::Dialer;
use crate::verify::HashPool;

mod driver;

pub(crate) use driver::run_driver;

/// The engine's key for one peer connection.
pub(crate) type PeerKey = u64;

/// Commands from the torrent to a peer connection task.
#[derive(Debug, Clone)]
pub(crate) enum PeerCmd {
    /// We verified a piece: announce it with `have`.
    Have(u32),
    /// Choke the peer (the choker decided).
    Choke,
    /// Unchoke the peer.
    Unchoke,
    /// Another peer delivered this block (endgame): cancel ours.
    Cancel(BlockRequest),
    /// Blocks became free again: try to request more.
    Wake,
    /// Piece priorities changed: check whether the peer is (still)
    /// interesting, and request.
    Interest,
    /// Send this message (an answer worked out in a task of its own, as
    /// BEP 52 hashes read from disk).
    Send(seedbed_peer_wire::Message),
    /// Close the connection.
    Disconnect,
}

/// Commands to the driver task.
#[derive(Debug)]
pub(crate) enum DriverCmd {
    /// Peers to connect to.
    AddPeers(Vec<SocketAddr>),
    Pause,
    Resume,
    /// Stop, announce `stopped`, leave the session; answer when done.
    Stop(oneshot::Sender<()>),
    /// Every piece is verified.
    Completed,
    /// Forget what is verified and hash the data again
    /// (`TorrentHandle::force_recheck`).
    Recheck,
    /// New file priorities, one per entry of `Info::files`.
    Priorities(Vec<FilePriority>),
}

/// A connected peer, as the torrent sees it.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub(crate) addr: SocketAddr,
    pub(crate) tx: mpsc::UnboundedSender<PeerCmd>,
    /// Pieces the peer has.
    pub(crate) has: Bitfield,
    /// The peer is interested in our pieces.
    pub(crate) interested: bool,
    /// We choke the peer.
    pub(crate) am_choking: bool,
    /// Payload bytes received from / sent to the peer since the last
    /// choker round.
    pub(crate) down: u64,
    pub(crate) up: u64,
    /// Hash-check trust: up for good pieces, down for bad ones.
    pub(crate) trust: i32,
    /// Where the peer accepts connections: the dialled address, or its IP
    /// with the port from its extension handshake (`p`). Shared by PeX.
    pub(crate) listen_addr: Option<SocketAddr>,
    /// What `TorrentHandle::peers` shows besides the above.
    pub(crate) live: PeerLive,
}

/// Blocks of a piece being downloaded, kept in memory until the piece is
/// complete and verified, so nothing unverified is ever written.
#[derive(Debug)]
pub(crate) struct PieceBuffer {
    pub(crate) blocks: Vec<Option<Bytes>>,
    pub(crate) contributors: Vec<PeerKey>,
}

#[derive(Debug)]
pub(crate) struct Known {
    failures: u32,
    next_attempt: Instant,
    connected: bool,
}

/// Byte counters, readable without the lock.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) downloaded: AtomicU64,
    pub(crate) uploaded: AtomicU64,
    pub(crate) wasted: AtomicU64,
}

/// Everything behind the torrent's lock. Held only for short, non-async
/// sections.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) picker: PiecePicker,
    pub(crate) buffers: HashMap<u32, PieceBuffer>,
    pub(crate) peers: HashMap<PeerKey, PeerEntry>,
    pub(crate) known: HashMap<SocketAddr, Known>,
    pub(crate) banned: HashSet<SocketAddr>,
    pub(crate) optimistic: Option<PeerKey>,
    pub(crate) rng: StdRng,
    pub(crate) next_key: PeerKey,
    pub(crate) connecting: usize,
    /// No new connections: paused, stopped, or finished without seeding.
    pub(crate) closed: bool,
}

/// The torrents of a session, by info hash.
pub(crate) type Registry = Mutex<HashMap<InfoHash, Arc<Slot>>>;

/// One torrent, shared by its driver, its peer tasks and the hashing
/// threads.
pub(crate) struct TorrentShared {
    pub(crate) info_hash: InfoHash,
    pub(crate) info: Arc<Info>,
    pub(crate) trackers: Vec<Vec<String>>,
    pub(crate) storage: Arc<Storage>,
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) opts: AddTorrentOptions,
    pub(crate) peer_id: PeerId,
    pub(crate) listen_port: Option<u16>,
    pub(crate) limits: Limits,
    pub(crate) state: Mutex<State>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) counters: Counters,
    /// Download and upload rates in bytes per second.
    pub(crate) rates: Mutex<(f64, f64)>,
    pub(crate) status: Arc<watch::Sender<Status>>,
    /// The trackers' status, shared with the handle.
    pub(crate) tracker_list: TrackerList,
    pub(crate) cmd_tx: mpsc::UnboundedSender<DriverCmd>,
    pub(crate) hasher: HashPool,
    pub(crate) registry: Weak<Registry>,
    /// Bytes of complete pieces queued for hashing and not yet checked.
    pub(crate) unverified: AtomicU64,
    /// Past this many unverified bytes, peers request nothing new.
    pub(crate) max_unverified: u64,
    /// Zero of the picker's clock (`PiecePicker::set_clock`).
    pub(crate) epoch: Instant,
    /// This torrent's speed limits.
    pub(crate) bandwidth: Bandwidth,
    /// The session's speed limits, shared by every torrent.
    pub(crate) session_bandwidth: Arc<Bandwidth>,
    /// Piece hashes (SHA-1, BEP 52 merkle trees) and hashing time.
    pub(crate) verifier: Verifier,
    /// Where resume data is kept, and its saves.
    pub(crate) resume: ResumeState,
    /// The priority of each entry of `Info::files`, as last asked for.
    pub(crate) file_priorities: Mutex<Vec<FilePriority>>,
    /// The session's DHT, unless it is off or the torrent is private
    /// (BEP 27): the DHT bit and `port` messages on connections.
    pub(crate) dht: Option<SessionDht>,
    /// Opens peer connections (uTP first, then TCP, by the settings).
    pub(crate) dialer: Dialer,
}

impl fmt::Debug for TorrentShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Torrent")
            .field("info_hash", &self.info_hash)
            .field("name", &self.info.name())
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

/// Trust at or below which a peer is banned.
const BAN_TRUST: i32 = -6;

impl TorrentShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn set_status(&self, status: Status) {
        // The event goes out while the watch is still locked, so whoever
        // sees the new status (and then subscribes) does not get it too.
        self.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status.clone();
                self.emit(Event::StatusChanged(status));
                true
            }
        });
    }

    /// Queues a complete piece for hashing and, if it passes, writing.
    pub(crate) fn submit_piece(
        self: &Arc<Self>,
        piece: PieceIndex,
        blocks: Vec<Bytes>,
        contributors: Vec<PeerKey>,
    ) {
        let shared = Arc::clone(self);
        let len = u64::from(self.info.geometry().piece_len(piece));
        self.unverified.fetch_add(len, Ordering::Relaxed);
        self.hasher.submit(move || {
            let verdict = shared.verifier.verify(&shared.info, piece, &blocks);
            if verdict == Verdict::Inconsistent {
                shared.unverified.fetch_sub(len, Ordering::Relaxed);
                shared.inconsistent_hashes(piece);
                return;
            }
            let mut ok = verdict == Verdict::Pass;
            if ok {
                if let Err(e) = shared.storage.write_piece(piece, &blocks) {
                    tracing::error!(%e, "writing piece {piece}");
                    shared.set_status(Status::Failed(e.to_string()));
                    ok = false;
                }
            }
            shared.unverified.fetch_sub(len, Ordering::Relaxed);
            // piece_checked wakes every peer (`have` or `Wake`), so those
            // held back by `verify_backlogged` request again.
            shared.piece_checked(piece, ok, &contributors);
        });
    }

    /// Whether so many complete pieces wait for the hashing threads that
    /// peers should not request more now
    /// ([`SessionConfig::max_unverified_bytes`]).
    pub(crate) fn verify_backlogged(&self) -> bool {
        self.unverified.load(Ordering::Relaxed) > self.max_unverified
    }

    /// Applies a hash check's result: `have` to every peer, trust, bans,
    /// completion.
    fn piece_checked(&self, piece: PieceIndex, ok: bool, contributors: &[PeerKey]) {
        let mut st = self.lock();
        let wanted = st.picker.priority(piece.get()) > 0;
        st.picker.piece_checked(piece, ok);
        if ok {
            for p in st.peers.values() {
                let _ = p.tx.send(PeerCmd::Have(piece.get()));
            }
            for k in contributors {
                if let Some(p) = st.peers.get_mut(k) {
                    p.trust = (p.trust + 1).min(8);
                }
            }
            // The last wanted piece finishes the download.
            let complete = wanted && st.picker.is_finished();
            drop(st);
            tracing::debug!(piece = piece.get(), "piece verified");
            self.emit(Event::PieceVerified { piece: piece.get() });
            if complete {
                let _ = self.cmd_tx.send(DriverCmd::Completed);
            }
            return;
        }
        let len = u64::from(self.info.geometry().piece_len(piece));
        self.counters.wasted.fetch_add(len, Ordering::Relaxed);
        let mut banned = Vec::new();
        let sole = contributors.len() == 1;
        for k in contributors {
            if let Some(p) = st.peers.get_mut(k) {
                p.trust -= 2;
                if sole || p.trust <= BAN_TRUST {
                    banned.push((*k, p.addr));
                }
            }
        }
        for (k, addr) in &banned {
            st.banned.insert(*addr);
            if let Some(p) = st.peers.get(k) {
                let _ = p.tx.send(PeerCmd::Disconnect);
            }
        }
        for p in st.peers.values() {
            let _ = p.tx.send(PeerCmd::Wake);
        }
        drop(st);
        self.emit(Event::PieceFailed { piece: piece.get() });
        for (_, addr) in banned {
            tracing::warn!(%addr, "banned: sent data that failed the hash check");
            self.emit(Event::PeerBanned { addr });
        }
    }

    /// Registers a connected peer; `None` when it is banned or the torrent
    /// takes no more peers.
    pub(crate) fn register_peer(
        &self,
        addr: SocketAddr,
        tx: mpsc::UnboundedSender<PeerCmd>,
        peer_id: PeerId,
        link: Link,
    ) -> Option<PeerKey> {
        let outgoing = link.outgoing;
        let mut st = self.lock();
        if outgoing {
            st.connecting = st.connecting.saturating_sub(1);
        }
        if st.closed || st.banned.contains(&addr) || st.peers.len() >= self.max_peers() {
            if let Some(k) = st.known.get_mut(&addr) {
                k.connected = false;
                k.next_attempt = Instant::now() + Duration::from_secs(30);
            }
            return None;
        }
        let key = st.next_key;
        st.next_key += 1;
        let n = self.info.geometry().num_pieces();
        st.peers.insert(
            key,
            PeerEntry {
                addr,
                tx,
                has: Bitfield::new(n),
                interested: false,
                am_choking: true,
                down: 0,
                up: 0,
                trust: 0,
                listen_addr: outgoing.then_some(addr),
                live: PeerLive::new(peer_id, link),
            },
        );
        if let Some(k) = st.known.get_mut(&addr) {
            k.connected = true;
        }
        drop(st);
        self.emit(Event::PeerConnected { addr });
        Some(key)
    }

    /// Forgets a peer; its requested blocks become free again.
    pub(crate) fn unregister_peer(
        &self,
        key: PeerKey,
        outstanding: impl Iterator<Item = BlockRequest>,
    ) {
        let mut st = self.lock();
        for r in outstanding {
            st.picker.block_dropped(&r);
        }
        let Some(entry) = st.peers.remove(&key) else {
            return;
        };
        st.picker.peer_gone(&entry.has);
        if st.optimistic == Some(key) {
            st.optimistic = None;
        }
        if let Some(k) = st.known.get_mut(&entry.addr) {
            k.connected = false;
            k.next_attempt = Instant::now() + Duration::from_secs(30);
        }
        for p in st.peers.values() {
            let _ = p.tx.send(PeerCmd::Wake);
        }
        drop(st);
        self.emit(Event::PeerDisconnected { addr: entry.addr });
    }

    /// The download limiters a block passes: the torrent's, the session's.
    pub(crate) fn download_limiters(&self) -> [&RateLimiter; 2] {
        [&self.bandwidth.download, &self.session_bandwidth.download]
    }

    /// The upload limiters a block passes: the torrent's, the session's.
    pub(crate) fn upload_limiters(&self) -> [&RateLimiter; 2] {
        [&self.bandwidth.upload, &self.session_bandwidth.upload]
    }

    pub(crate) fn max_peers(&self) -> usize {
        self.opts.max_peers.unwrap_or(self.config.max_peers)
    }

    /// Connection failed or ended: try this address again later, with a
    /// growing back-off.
    pub(crate) fn connect_failed(&self, addr: SocketAddr) {
        let mut st = self.lock();
        st.connecting = st.connecting.saturating_sub(1);
        if let Some(k) = st.known.get_mut(&addr) {
            k.failures += 1;
            k.connected = false;
            let secs = 1u64 << k.failures.min(8);
            k.next_attempt = Instant::now() + Duration::from_secs(secs);
        }
    }

    /// The peer at `addr` answered with our own peer id: it is us (on an
    /// address [`SessionConfig::is_own_address`] could not know), never
    /// dialled again.
    pub(crate) fn dialled_self(&self, addr: SocketAddr) {
        let mut st = self.lock();
        st.connecting = st.connecting.saturating_sub(1);
        st.known.remove(&addr);
        st.banned.insert(addr);
    }

    fn disconnect_all(&self) {
        let st = self.lock();
        for p in st.peers.values() {
            let _ = p.tx.send(PeerCmd::Disconnect);
        }
    }
}

/// Builds the shared state of a torrent; the driver starts it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_shared(
    info: Arc<Info>,
    trackers: Vec<Vec<String>>,
    storage: Arc<Storage>,
    config: Arc<SessionConfig>,
    opts: AddTorrentOptions,
    peer_id: PeerId,
    listen_port: Option<u16>,
    hasher: HashPool,
    registry: Weak<Registry>,
    slot: &Slot,
    session_bandwidth: Arc<Bandwidth>,
    file_priorities: Vec<FilePriority>,
    dht: Option<SessionDht>,
    dialer: Dialer,
) -> (Arc<TorrentShared>, mpsc::UnboundedReceiver<DriverCmd>) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let events = slot.events.clone();
    let status = Arc::clone(&slot.status);
    let geometry = *info.geometry();
    let limits = Limits::new().num_pieces(geometry.num_pieces());
    let mut known = HashMap::new();
    for addr in opts.peers.iter().filter(|a| !config.is_own_address(**a)) {
        known.insert(
            *addr,
            Known {
                failures: 0,
                next_attempt: Instant::now(),
                connected: false,
            },
        );
    }
    let max_unverified = config
        .max_unverified_bytes
        .max(2 * hasher.threads() as u64 * u64::from(geometry.piece_length()));
    let resume = ResumeState::new(resume::resume_path(&config, &opts, &info.info_hash()));
    let shared = Arc::new(TorrentShared {
        info_hash: info.info_hash(),
        trackers,
        storage,
        config,
        peer_id,
        listen_port,
        limits,
        state: Mutex::new(State {
            picker: PiecePicker::new(geometry),
            buffers: HashMap::new(),
            peers: HashMap::new(),
            known,
            banned: HashSet::new(),
            optimistic: None,
            rng: StdRng::from_os_rng(),
            next_key: 1,
            connecting: 0,
            closed: true,
        }),
        events,
        counters: Counters::default(),
        rates: Mutex::new((0.0, 0.0)),
        status,
        tracker_list: slot.trackers.clone(),
        cmd_tx,
        hasher,
        registry,
        unverified: AtomicU64::new(0),
        max_unverified,
        epoch: Instant::now(),
        bandwidth: Bandwidth::new(opts.download_limit, opts.upload_limit),
        session_bandwidth,
        verifier: Verifier::new(&info),
        resume,
        file_priorities: Mutex::new(file_priorities),
        dht,
        dialer,
        opts,
        info,
    });
    (shared, cmd_rx)
}
