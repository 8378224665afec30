//! What a user holds for one torrent: [`TorrentHandle`], its [`Stats`],
//! [`Status`] and the [`Event`]s it reports.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use seedbed_metainfo::InfoHash;
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::Error;
use crate::peer_info::{client_name, PeerInfo, Transport};
use crate::progress::{self, FileProgress, PieceMap};
use crate::storage::DiskStats;
use crate::torrent::{DriverCmd, TorrentShared};
use crate::tracker_info::{TrackerInfo, TrackerList};

/// Events a receiver may fall behind before it loses the oldest.
const EVENT_BACKLOG: usize = 1024;

/// What a handle points at: the channels that exist from the start, and
/// the torrent once its info dictionary is known (at once for a .torrent,
/// after the metadata exchange for a magnet link).
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) info_hash: InfoHash,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) status: Arc<watch::Sender<Status>>,
    pub(crate) shared: OnceLock<Arc<TorrentShared>>,
    /// The name from the magnet link until the info dictionary arrives.
    pub(crate) name: Mutex<String>,
    /// Stops the metadata exchange of a magnet link.
    pub(crate) stop_fetch: Mutex<Option<oneshot::Sender<()>>>,
    /// Subscribed when the slot was made; handed to the first caller of
    /// [`TorrentHandle::events`], so events sent before it asked are kept.
    first_events: Mutex<Option<broadcast::Receiver<Event>>>,
    /// Peers added while the metadata is being fetched.
    pub(crate) pending_peers: Mutex<Vec<SocketAddr>>,
    /// The trackers and what they last said.
    pub(crate) trackers: TrackerList,
}

impl Slot {
    pub(crate) fn new(info_hash: InfoHash, status: Status, name: String) -> Slot {
        let (events, first_events) = broadcast::channel(EVENT_BACKLOG);
        let (status, _) = watch::channel(status);
        Slot {
            info_hash,
            events,
            status: Arc::new(status),
            shared: OnceLock::new(),
            name: Mutex::new(name),
            stop_fetch: Mutex::new(None),
            first_events: Mutex::new(Some(first_events)),
            pending_peers: Mutex::new(Vec::new()),
            trackers: TrackerList::default(),
        }
    }

    /// Takes the peers added while the metadata was being fetched.
    pub(crate) fn take_pending_peers(&self) -> Vec<SocketAddr> {
        std::mem::take(&mut *self.pending_peers.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set_status(&self, status: Status) {
        let changed = self.status.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status.clone();
                true
            }
        });
        if changed {
            let _ = self.events.send(Event::StatusChanged(status));
        }
    }
}

/// Where a torrent is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Started from a magnet link: fetching the info dictionary from peers
    /// (BEP 9).
    FetchingMetadata,
    /// Hashing the data already on disk (resume).
    Checking,
    /// Downloading missing pieces.
    Downloading,
    /// Every wanted piece verified (every piece, unless files are
    /// skipped); uploading the pieces we have to peers that want them.
    Seeding,
    /// Every wanted piece verified (every piece, unless files are
    /// skipped); not uploading (seeding was not asked for).
    Finished,
    /// Paused by the user: no connections, no announces.
    Paused,
    /// Removed from the session, or the session shut down.
    Stopped,
    /// A fatal error (for example the disk failed); see the message.
    Failed(String),
}

/// Something that happened to a torrent. Receive them with
/// [`TorrentHandle::events`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The info dictionary of a magnet link arrived and matched its info
    /// hash (BEP 9).
    MetadataReceived {
        /// Its size in bytes.
        size: usize,
    },
    /// A peer sent metadata that did not match the info hash; it was
    /// discarded and the peer dropped.
    MetadataRejected {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// Checking the existing data finished with this many pieces valid.
    Checked {
        /// Pieces found valid on disk.
        pieces: u32,
    },
    /// A piece passed its hash check and was written.
    PieceVerified {
        /// The piece index.
        piece: u32,
    },
    /// A piece failed its hash check and will be downloaded again.
    PieceFailed {
        /// The piece index.
        piece: u32,
    },
    /// A hybrid torrent's piece matched one of its hashes (v1 SHA-1, v2
    /// SHA-256) and not the other: the torrent is bad (BEP 52, "Upgrade
    /// Path"). The torrent stops with [`Status::Failed`].
    InconsistentHashes {
        /// The piece index.
        piece: u32,
    },
    /// A peer sent BEP 52 hashes that do not lead to the file's `pieces
    /// root`; they were dropped before anything was checked with them, and
    /// the peer was banned.
    HashesRejected {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A peer connection completed its handshake.
    PeerConnected {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A peer connection closed.
    PeerDisconnected {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A peer was banned (it sent data that failed hash checks).
    PeerBanned {
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A tracker answered an announce.
    TrackerAnswered {
        /// The tracker URL.
        url: String,
        /// Peers it returned.
        peers: usize,
        /// Re-announce interval in seconds.
        interval: u32,
    },
    /// A tracker announce failed.
    TrackerFailed {
        /// The tracker URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Every wanted piece is verified: the download is done for the user
    /// (every piece, unless files are skipped; sent again if more files are
    /// wanted later and they finish).
    Completed,
    /// The status changed.
    StatusChanged(Status),
}

/// A snapshot of a torrent's numbers. Sizes are bytes, rates bytes per
/// second (averaged over about 5 s).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Current status.
    pub status: Status,
    /// Pieces verified.
    pub pieces_have: u32,
    /// Pieces in the torrent.
    pub num_pieces: u32,
    /// Bytes of verified pieces (pad bytes included).
    pub bytes_have: u64,
    /// Bytes of the torrent (pad bytes included).
    pub total_bytes: u64,
    /// Bytes of the wanted files: those whose
    /// [`FilePriority`](crate::FilePriority) is not `Skip`, pad files left
    /// out; `total_bytes` less pad bytes when no file is skipped. Follows
    /// [`TorrentHandle::set_file_priority`] at once.
    pub wanted_bytes: u64,
    /// Bytes of the wanted files in verified pieces, `0..=wanted_bytes`: a
    /// verified piece counts only its bytes in wanted files (exactly, where
    /// a file boundary falls inside the piece). Equal to `wanted_bytes`
    /// when the download is done for the user.
    pub wanted_bytes_have: u64,
    /// Piece payload received from peers this session.
    pub downloaded: u64,
    /// Piece payload sent to peers this session.
    pub uploaded: u64,
    /// Payload received that was not needed (duplicates, failed pieces).
    pub wasted: u64,
    /// Download rate.
    pub download_rate: f64,
    /// Upload rate.
    pub upload_rate: f64,
    /// Connected peers.
    pub peers: usize,
    /// Of `peers`, those connected over uTP (BEP 29); the others use TCP.
    /// [`TorrentHandle::peers`] lists each peer's transport.
    pub peers_utp: usize,
}

/// A handle to one torrent in a [`Session`](crate::Session). Cheap to
/// clone. It exists from the moment the torrent is added, also while a
/// magnet link's metadata is being fetched.
#[derive(Clone, Debug)]
pub struct TorrentHandle {
    pub(crate) slot: Arc<Slot>,
}

impl TorrentHandle {
    fn shared(&self) -> Option<&Arc<TorrentShared>> {
        self.slot.shared.get()
    }

    /// The torrent's 20-byte info hash (v1, or truncated v2).
    pub fn info_hash(&self) -> InfoHash {
        self.slot.info_hash
    }

    /// The torrent's name (from the magnet link's `dn` until the info
    /// dictionary is known).
    pub fn name(&self) -> String {
        match self.shared() {
            Some(s) => s.info.name().to_string(),
            None => self
                .slot
                .name
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.slot.status.borrow().clone()
    }

    /// A stream of events. The first call on a torrent gets every event
    /// since it was added (so none sent before the caller had the handle is
    /// missed); later calls get the events from then on. A receiver more
    /// than 1024 events behind loses the oldest and is told how many
    /// (`RecvError::Lagged`, see `tokio::sync::broadcast`).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        let first = self
            .slot
            .first_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        first.unwrap_or_else(|| self.slot.events.subscribe())
    }

    /// A snapshot of the numbers (zeros while metadata is being fetched).
    pub fn stats(&self) -> Stats {
        let Some(s) = self.shared() else {
            return Stats {
                status: self.status(),
                pieces_have: 0,
                num_pieces: 0,
                bytes_have: 0,
                total_bytes: 0,
                wanted_bytes: 0,
                wanted_bytes_have: 0,
                downloaded: 0,
                uploaded: 0,
                wasted: 0,
                download_rate: 0.0,
                upload_rate: 0.0,
                peers: 0,
                peers_utp: 0,
            };
        };
        let prios = s
            .file_priorities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (pieces_have, bytes_have, wanted, peers, peers_utp) = {
            let st = s.lock();
            let have = st.picker.have();
            let g = s.info.geometry();
            let bytes: u64 = have
                .iter_set()
                .filter_map(|i| g.piece(i))
                .map(|p| u64::from(g.piece_len(p)))
                .sum();
            let utp = st
                .peers
                .values()
                .filter(|p| p.live.link.transport == Transport::Utp)
                .count();
            let wanted = progress::wanted_bytes(&s.info, &st.picker, &prios);
            (have.count_ones(), bytes, wanted, st.peers.len(), utp)
        };
        let rates = *s.rates.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            status: self.status(),
            pieces_have,
            num_pieces: s.info.geometry().num_pieces(),
            bytes_have,
            total_bytes: s.info.geometry().total_length(),
            wanted_bytes: wanted.total,
            wanted_bytes_have: wanted.have,
            downloaded: s.counters.downloaded.load(Ordering::Relaxed),
            uploaded: s.counters.uploaded.load(Ordering::Relaxed),
            wasted: s.counters.wasted.load(Ordering::Relaxed),
            download_rate: rates.0,
            upload_rate: rates.1,
            peers,
            peers_utp,
        }
    }

    /// A snapshot of every connected peer (empty while a magnet link's
    /// metadata is being fetched). Costs one pass over the peers under the
    /// torrent's lock; rates are updated once a second.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let Some(s) = self.shared() else {
            return Vec::new();
        };
        let num_pieces = s.info.geometry().num_pieces().max(1) as f32;
        let st = s.lock();
        let mut out: Vec<PeerInfo> = st
            .peers
            .values()
            .map(|p| PeerInfo {
                addr: p.addr,
                peer_id: p.live.peer_id,
                client: client_name(&p.live.peer_id),
                transport: p.live.link.transport,
                encrypted: p.live.link.encrypted,
                outgoing: p.live.link.outgoing,
                am_choking: p.am_choking,
                am_interested: p.live.am_interested,
                peer_choking: p.live.peer_choking,
                peer_interested: p.interested,
                snubbed: p.live.snubbed,
                download_rate: p.live.download_rate,
                upload_rate: p.live.upload_rate,
                downloaded: p.live.downloaded,
                uploaded: p.live.uploaded,
                progress: (p.has.count_ones() as f32 / num_pieces).min(1.0),
                requests_out: p.live.requests_out,
                connected_at: p.live.connected_at,
            })
            .collect();
        drop(st);
        out.sort_by_key(|p| p.connected_at);
        out
    }

    /// Per-file progress: bytes of each file in verified pieces, pad
    /// files left out (empty while a magnet link's metadata is being
    /// fetched). One pass over the verified pieces.
    pub fn file_progress(&self) -> Vec<FileProgress> {
        let Some(s) = self.shared() else {
            return Vec::new();
        };
        let st = s.lock();
        progress::file_progress(&s.info, &st.picker)
    }

    /// The state and availability of every piece (empty while a magnet
    /// link's metadata is being fetched).
    pub fn piece_map(&self) -> PieceMap {
        let Some(s) = self.shared() else {
            return PieceMap {
                states: Vec::new(),
                availability: Vec::new(),
            };
        };
        let st = s.lock();
        progress::piece_map(&st.picker, s.info.geometry().num_pieces())
    }

    /// Every tracker URL of the torrent (of a magnet link: its `tr`
    /// trackers, one tier) in tier order, with its status and what it
    /// last answered.
    pub fn trackers(&self) -> Vec<TrackerInfo> {
        self.slot.trackers.snapshot()
    }

    /// Time the hashing threads spent checking this torrent's pieces
    /// (SHA-1 and SHA-256, at resume and during the download); zero while
    /// a magnet link's metadata is fetched.
    pub fn hashing_time(&self) -> std::time::Duration {
        self.shared()
            .map_or(std::time::Duration::ZERO, |s| s.verifier.hashing_time())
    }

    /// Bytes the torrent's storage read from and wrote to its files since
    /// it was added (zeros while a magnet link's metadata is fetched).
    pub fn disk_stats(&self) -> DiskStats {
        self.shared()
            .map(|s| s.storage.disk_stats())
            .unwrap_or_default()
    }

    /// Waits until every wanted piece (every piece, unless files are
    /// skipped) is verified on disk.
    ///
    /// # Errors
    /// [`Error::Removed`] if the torrent stops first; [`Error::Io`] (as a
    /// message) if it failed.
    pub async fn wait_for_completion(&self) -> Result<(), Error> {
        let mut rx = self.slot.status.subscribe();
        loop {
            {
                let status = rx.borrow_and_update();
                match &*status {
                    Status::Seeding | Status::Finished => return Ok(()),
                    Status::Stopped => return Err(Error::Removed),
                    Status::Failed(msg) => {
                        return Err(Error::io(
                            msg.clone(),
                            std::io::Error::other("torrent failed"),
                        ))
                    }
                    _ => {}
                }
            }
            rx.changed().await.map_err(|_| Error::Shutdown)?;
        }
    }

    /// Adds peers to connect to (while a magnet link's metadata is being
    /// fetched, they are asked for it too).
    pub fn add_peers(&self, peers: impl IntoIterator<Item = SocketAddr>) {
        let peers: Vec<SocketAddr> = peers.into_iter().collect();
        match self.shared() {
            Some(s) => {
                let _ = s.cmd_tx.send(DriverCmd::AddPeers(peers));
            }
            None => {
                self.slot
                    .pending_peers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(peers);
                // The torrent may have started in between.
                if let Some(s) = self.shared() {
                    let _ = s
                        .cmd_tx
                        .send(DriverCmd::AddPeers(self.slot.take_pending_peers()));
                }
            }
        }
    }

    /// Sets this torrent's download limit in bytes of piece payload per
    /// second (0: none); the session's limit applies too. Takes effect
    /// within a second. Ignored while a magnet link's metadata is being
    /// fetched (set it in [`AddTorrentOptions`](crate::AddTorrentOptions)).
    pub fn set_download_limit(&self, bytes_per_second: u64) {
        if let Some(s) = self.shared() {
            s.bandwidth.download.set_rate(bytes_per_second);
        }
    }

    /// Sets this torrent's upload limit in bytes of piece payload per
    /// second (0: none), as [`set_download_limit`](Self::set_download_limit).
    pub fn set_upload_limit(&self, bytes_per_second: u64) {
        if let Some(s) = self.shared() {
            s.bandwidth.upload.set_rate(bytes_per_second);
        }
    }

    /// This torrent's download limit in bytes per second (0: none).
    pub fn download_limit(&self) -> u64 {
        self.shared().map_or(0, |s| s.bandwidth.download.rate())
    }

    /// This torrent's upload limit in bytes per second (0: none).
    pub fn upload_limit(&self) -> u64 {
        self.shared().map_or(0, |s| s.bandwidth.upload.rate())
    }

    /// Pauses: disconnects every peer and stops announcing. Data and
    /// progress are kept.
    pub fn pause(&self) {
        if let Some(s) = self.shared() {
            let _ = s.cmd_tx.send(DriverCmd::Pause);
        }
    }

    /// Resumes after [`pause`](Self::pause).
    pub fn resume(&self) {
        if let Some(s) = self.shared() {
            let _ = s.cmd_tx.send(DriverCmd::Resume);
        }
    }

    /// Stops the torrent gracefully (sends `stopped` to its trackers) and
    /// removes it from the session. Files on disk are kept.
    pub async fn remove(&self) {
        if let Some(stop) = self
            .slot
            .stop_fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = stop.send(());
        }
        match self.shared() {
            Some(s) => {
                let (tx, rx) = oneshot::channel();
                if s.cmd_tx.send(DriverCmd::Stop(tx)).is_ok() {
                    let _ = rx.await;
                }
            }
            None => self.slot.set_status(Status::Stopped),
        }
    }
}
