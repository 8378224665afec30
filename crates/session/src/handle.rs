//! What a user holds for one torrent: [`TorrentHandle`], its [`Stats`],
//! [`Status`] and the [`Event`]s it reports.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use seedbed_metainfo::InfoHash;
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::Error;
use crate::storage::DiskStats;
use crate::torrent::{DriverCmd, TorrentShared};

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
                downloaded: 0,
                uploaded: 0,
                wasted: 0,
                download_rate: 0.0,
                upload_rate: 0.0,
                peers: 0,
            };
        };
        let (pieces_have, bytes_have, peers) = {
            let st = s.lock();
            let have = st.picker.have();
            let g = s.info.geometry();
            let bytes: u64 = have
                .iter_set()
                .filter_map(|i| g.piece(i))
                .map(|p| u64::from(g.piece_len(p)))
                .sum();
            (have.count_ones(), bytes, st.peers.len())
        };
        let rates = *s.rates.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            status: self.status(),
            pieces_have,
            num_pieces: s.info.geometry().num_pieces(),
            bytes_have,
            total_bytes: s.info.geometry().total_length(),
            downloaded: s.counters.downloaded.load(Ordering::Relaxed),
            uploaded: s.counters.uploaded.load(Ordering::Relaxed),
            wasted: s.counters.wasted.load(Ordering::Relaxed),
            download_rate: rates.0,
            upload_rate: rates.1,
            peers,
        }
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
