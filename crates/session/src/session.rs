//! The session: a listening socket, a hashing pool, and the torrents.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use rand::Rng;
use seedbed_metainfo::{Info, InfoHash, Magnet, PeerId, Torrent};
use seedbed_peer_wire::{HandshakeCodec, HandshakeEvent};
use seedbed_utp::UtpSocket;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

use crate::config::{AddTorrentOptions, SessionConfig};
use crate::dht::SessionDht;
use crate::encryption::{same_torrent, Acceptor};
use crate::error::Error;
use crate::handle::{Event, Slot, Status, TorrentHandle};
use crate::metadata;
use crate::peer;
use crate::rate_limit::Bandwidth;
use crate::storage::Storage;
use crate::torrent::{new_shared, run_driver, Registry};
use crate::transport::{Dialer, TransportStream};
use crate::verify::HashPool;

/// A BitTorrent session: accepts peer connections on one port and runs any
/// number of torrents. Needs a multi-threaded tokio runtime.
///
/// ```no_run
/// # async fn f() -> Result<(), seedbed_session::Error> {
/// use seedbed_session::{AddTorrentOptions, Session, SessionConfig};
/// let torrent = seedbed_metainfo::Torrent::from_bytes(std::fs::read("a.torrent").unwrap())?;
/// let session = Session::new(SessionConfig::default()).await?;
/// let handle = session
///     .add_torrent(&torrent, AddTorrentOptions::new("downloads").seed(false))
///     .await?;
/// handle.wait_for_completion().await?;
/// session.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<SessionConfig>,
    registry: Arc<Registry>,
    peer_id: PeerId,
    listen_addr: Option<SocketAddr>,
    hasher: HashPool,
    /// The accept loops (TCP, uTP) and, without a DHT, the UDP socket's
    /// reader.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Speed limits of all torrents together.
    bandwidth: Arc<Bandwidth>,
    /// The DHT node, unless [`DhtConfig::enabled`](crate::DhtConfig) is off.
    dht: Option<SessionDht>,
    /// Opens peer connections over uTP and TCP.
    dialer: Dialer,
}

/// uTP datagrams queued from the socket's reader to the uTP driver; past
/// it they are dropped (as a full socket buffer would).
const UTP_QUEUE: usize = 4096;

/// A random peer id with `prefix` (cut to 20 bytes) in front.
fn make_peer_id(prefix: &[u8]) -> PeerId {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = [0u8; 20];
    let n = prefix.len().min(20);
    id[..n].copy_from_slice(&prefix[..n]);
    for b in &mut id[n..] {
        *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
    }
    PeerId(id)
}

impl Session {
    /// Starts a session: binds the listening socket (if configured), the
    /// UDP socket on the same address and port with the DHT node (unless
    /// [`SessionConfig::dht`] is disabled; the bootstrap runs in the
    /// background) and uTP on it (unless [`SessionConfig::transports`] is
    /// TCP only; with uTP only there is no TCP listener), and the hashing
    /// threads.
    ///
    /// # Errors
    /// [`Error::Io`] if the listen address cannot be bound (for TCP, or
    /// for UDP when the DHT or uTP runs).
    pub async fn new(mut config: SessionConfig) -> Result<Session, Error> {
        let registry: Arc<Registry> = Arc::new(Mutex::new(HashMap::new()));
        let transports = config.transports;
        let need_udp = config.dht.enabled || transports.utp();
        let (listen_addr, listener, udp) = match config.listen {
            Some(addr) if transports.tcp() && need_udp => {
                let (l, udp) = crate::udp::bind_pair(addr).await?;
                let local = l
                    .local_addr()
                    .map_err(|e| Error::io("listening address", e))?;
                (Some(local), Some(l), Some(udp))
            }
            Some(addr) if transports.tcp() => {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
                let local = l
                    .local_addr()
                    .map_err(|e| Error::io("listening address", e))?;
                (Some(local), Some(l), None)
            }
            Some(addr) => {
                // uTP only: no TCP listener, UDP alone on the address.
                let udp = UdpSocket::bind(addr)
                    .await
                    .map_err(|e| Error::io(format!("UDP on {addr}"), e))?;
                let local = udp
                    .local_addr()
                    .map_err(|e| Error::io("listening address", e))?;
                (Some(local), None, Some(udp))
            }
            None if need_udp => {
                let any = SocketAddr::from(([0, 0, 0, 0], 0));
                let udp = UdpSocket::bind(any)
                    .await
                    .map_err(|e| Error::io("bind a UDP socket", e))?;
                (None, None, Some(udp))
            }
            None => (None, None, None),
        };
        // The torrents' copy holds the bound port: they never dial it.
        if let Some(local) = listen_addr {
            config.listen = Some(local);
        }
        let udp = udp.map(Arc::new);
        // uTP (BEP 29) on the UDP socket; the socket's reader (the DHT's,
        // or ours without a DHT) passes it every datagram not KRPC.
        let (utp, utp_tx) = match (&udp, transports.utp()) {
            (Some(socket), true) => {
                let (tx, rx) = mpsc::channel(UTP_QUEUE);
                let utp_config = seedbed_utp::EndpointConfig {
                    accept_incoming: config.utp.accept_incoming && config.listen.is_some(),
                    ..config.utp
                };
                let utp = UtpSocket::with_socket(Arc::clone(socket), rx, utp_config)
                    .map_err(|e| Error::io("start uTP", e))?;
                (Some(utp), Some(tx))
            }
            _ => (None, None),
        };
        let mut tasks = Vec::new();
        let dht = if config.dht.enabled {
            Some(SessionDht::start(&config.dht, udp, utp_tx, listen_addr).await?)
        } else {
            if let Some(socket) = udp {
                let counters = Arc::new(crate::udp::UdpCounters::default());
                tasks.push(crate::udp::spawn_reader(socket, None, utp_tx, counters));
            }
            None
        };
        // Accepting starts once nothing can fail any more.
        let acceptor = Arc::new(Acceptor::new(&config, Arc::clone(&registry)));
        if let Some(l) = listener {
            tasks.push(tokio::spawn(accept_loop(
                l,
                Arc::clone(&registry),
                Arc::clone(&acceptor),
            )));
        }
        if let (Some(utp), Some(_)) = (&utp, listen_addr) {
            tasks.push(tokio::spawn(utp_accept_loop(
                utp.clone(),
                Arc::clone(&registry),
                acceptor,
            )));
        }
        let hasher = HashPool::new(config.hashing_threads);
        let peer_id = make_peer_id(&config.peer_id_prefix);
        let dialer = Dialer {
            transports,
            utp,
            connect_timeout: config.connect_timeout,
            utp_connect_timeout: config.utp_connect_timeout,
            bind_ip: config.bind_ip(),
        };
        let bandwidth = Arc::new(Bandwidth::new(
            config.download_rate_limit,
            config.upload_rate_limit,
        ));
        Ok(Session {
            inner: Arc::new(Inner {
                bandwidth,
                config: Arc::new(config),
                registry,
                peer_id,
                listen_addr,
                hasher,
                tasks: Mutex::new(tasks),
                dht,
                dialer,
            }),
        })
    }

    /// The address incoming peers connect to, if listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr
    }

    /// The local IP every outgoing connection (peers, HTTP and UDP
    /// trackers) leaves from: the listen IP when the session listens on a
    /// specific one (see [`SessionConfig::bind_ip`]), else `None` (the
    /// system chooses). The DHT and uTP are to bind to it too.
    pub fn bind_ip(&self) -> Option<std::net::IpAddr> {
        self.inner.config.bind_ip()
    }

    /// Our 20-byte peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Sets the download limit of all torrents together, in bytes of
    /// piece payload per second (0: none); takes effect within a second.
    pub fn set_download_limit(&self, bytes_per_second: u64) {
        self.inner.bandwidth.download.set_rate(bytes_per_second);
    }

    /// Sets the upload limit of all torrents together, in bytes of piece
    /// payload per second (0: none); takes effect within a second.
    pub fn set_upload_limit(&self, bytes_per_second: u64) {
        self.inner.bandwidth.upload.set_rate(bytes_per_second);
    }

    /// The session's download limit in bytes per second (0: none).
    pub fn download_limit(&self) -> u64 {
        self.inner.bandwidth.download.rate()
    }

    /// The session's upload limit in bytes per second (0: none).
    pub fn upload_limit(&self) -> u64 {
        self.inner.bandwidth.upload.rate()
    }

    /// The session's DHT node (BEP 5), unless the DHT is disabled: its
    /// UDP address ([`DhtNode::local_addrs`](seedbed_dht::driver::DhtNode::local_addrs),
    /// the listen address and port), [`stats`](seedbed_dht::driver::DhtNode::stats),
    /// and lookups of its own.
    pub fn dht(&self) -> Option<&seedbed_dht::driver::DhtNode> {
        self.inner.dht.as_ref().map(SessionDht::node)
    }

    /// Adds a torrent: opens (creating) its files under
    /// `opts.output_dir`, checks the data already there, then downloads
    /// what is missing and seeds.
    ///
    /// v1, v2 and hybrid torrents are verified with every hash they carry
    /// (SHA-1 pieces, SHA-256 merkle trees per file; both on hybrids). A v2
    /// torrent's piece layers come from the file; those it lacks are
    /// fetched from peers (BEP 52 `hash request`).
    ///
    /// # Errors
    /// [`Error::Metainfo`] when a piece layer in the file does not match its
    /// file's `pieces root`; [`Error::DuplicateTorrent`]; [`Error::Io`] when
    /// the files cannot be created.
    pub async fn add_torrent(
        &self,
        torrent: &Torrent,
        opts: AddTorrentOptions,
    ) -> Result<TorrentHandle, Error> {
        let info = Arc::new(torrent.info().clone());
        let info_hash = info.info_hash();
        let slot = Arc::new(Slot::new(
            info_hash,
            Status::Checking,
            info.name().to_string(),
        ));
        self.inner.reserve(&slot)?;
        let trackers = torrent.trackers().to_vec();
        slot.trackers.set(&trackers);
        if let Err(e) = start_torrent(&self.inner, &slot, info, trackers, opts, Some(torrent)).await
        {
            self.inner.lock_registry().remove(&info_hash);
            return Err(e);
        }
        Ok(TorrentHandle { slot })
    }

    /// Adds a torrent from a magnet link (BEP 9). The handle exists at once
    /// with status [`Status::FetchingMetadata`]; the info dictionary is
    /// fetched with `ut_metadata` from the link's `x.pe` peers, the peers
    /// its `tr` trackers return, and `opts.peers` (several at once, at most
    /// [`SessionConfig::max_metadata_size`] bytes), checked against the
    /// link's info hashes, and then the download proceeds as for a .torrent.
    ///
    /// A v2-only link (`btmh` without `btih`) is fetched and announced
    /// under its v2 hash truncated to 20 bytes, and checked against the
    /// full SHA-256 hash; a hybrid's link (both) is checked against both.
    /// Its piece layers are then fetched from peers (BEP 52 `hash
    /// request`).
    ///
    /// # Errors
    /// [`Error::DuplicateTorrent`].
    pub async fn add_magnet(
        &self,
        magnet: &Magnet,
        opts: AddTorrentOptions,
    ) -> Result<TorrentHandle, Error> {
        let info_hash = magnet.info_hash();
        let name = magnet
            .name()
            .map_or_else(|| info_hash.to_string(), str::to_string);
        let slot = Arc::new(Slot::new(info_hash, Status::FetchingMetadata, name));
        slot.trackers.set(&[magnet.trackers().to_vec()]);
        self.inner.reserve(&slot)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        *slot.stop_fetch.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop_tx);
        let inner = Arc::clone(&self.inner);
        let magnet = magnet.clone();
        let task_slot = Arc::clone(&slot);
        tokio::spawn(async move {
            let ctx = metadata::FetchContext {
                config: Arc::clone(&inner.config),
                peer_id: inner.peer_id,
                listen_port: inner.listen_addr.map(|a| a.port()),
                slot: Arc::clone(&task_slot),
                dht: inner.dht.clone(),
                dialer: inner.dialer.clone(),
            };
            let fetched = tokio::select! {
                r = metadata::fetch(&ctx, &magnet, &opts) => r,
                _ = stop_rx => None,
            };
            let Some((info, peers)) = fetched else {
                inner.lock_registry().remove(&task_slot.info_hash);
                task_slot.set_status(Status::Stopped);
                return;
            };
            let _ = task_slot.events.send(Event::MetadataReceived {
                size: info.raw().len(),
            });
            let trackers = if magnet.trackers().is_empty() {
                Vec::new()
            } else {
                vec![magnet.trackers().to_vec()]
            };
            let mut opts = opts;
            for p in peers.into_iter().chain(task_slot.take_pending_peers()) {
                if !opts.peers.contains(&p) {
                    opts.peers.push(p);
                }
            }
            let info = Arc::new(info);
            if let Err(e) = start_torrent(&inner, &task_slot, info, trackers, opts, None).await {
                task_slot.set_status(Status::Failed(e.to_string()));
            }
        });
        Ok(TorrentHandle { slot })
    }

    /// The torrent with this info hash, if it is in the session.
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        self.inner
            .lock_registry()
            .get(info_hash)
            .map(|slot| TorrentHandle {
                slot: Arc::clone(slot),
            })
    }

    /// Every torrent in the session.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        self.inner
            .lock_registry()
            .values()
            .map(|slot| TorrentHandle {
                slot: Arc::clone(slot),
            })
            .collect()
    }

    /// Stops every torrent gracefully (each sends `stopped` to its
    /// trackers, bounded by the tracker timeout), saves the DHT's routing
    /// table (when a state file is set), stops the DHT and closes the
    /// listening socket.
    pub async fn shutdown(&self) {
        let handles = self.torrents();
        futures_util::future::join_all(handles.iter().map(|h| h.remove())).await;
        if let Some(dht) = &self.inner.dht {
            dht.shutdown().await;
        }
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Inner {
    fn lock_registry(&self) -> MutexGuard<'_, HashMap<InfoHash, Arc<Slot>>> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the slot's info hash in the registry.
    fn reserve(&self, slot: &Arc<Slot>) -> Result<(), Error> {
        let mut reg = self.lock_registry();
        if reg.contains_key(&slot.info_hash) {
            return Err(Error::DuplicateTorrent(slot.info_hash));
        }
        reg.insert(slot.info_hash, Arc::clone(slot));
        Ok(())
    }
}

/// Opens the files, builds the torrent's shared state into `slot` and
/// starts its driver. The piece layers of `torrent` (a .torrent file; none
/// for a magnet link) are checked and loaded first.
async fn start_torrent(
    inner: &Arc<Inner>,
    slot: &Arc<Slot>,
    info: Arc<Info>,
    trackers: Vec<Vec<String>>,
    opts: AddTorrentOptions,
    torrent: Option<&Torrent>,
) -> Result<(), Error> {
    let file_priorities =
        crate::file_selection::resolve(&info, &opts.file_priorities, opts.default_file_priority)?;
    let dir = opts.output_dir.clone();
    let for_storage = Arc::clone(&info);
    let allocation = opts.allocation;
    let storage =
        tokio::task::spawn_blocking(move || Storage::open_with(for_storage, &dir, allocation))
            .await
            .map_err(|e| Error::io("open files", std::io::Error::other(e)))??;
    // Private torrents (BEP 27) never use the DHT.
    let dht = inner.dht.clone().filter(|_| !info.is_private());
    let (shared, cmd_rx) = new_shared(
        info,
        trackers,
        Arc::new(storage),
        Arc::clone(&inner.config),
        opts,
        inner.peer_id,
        inner.listen_addr.map(|a| a.port()),
        inner.hasher.clone(),
        Arc::downgrade(&inner.registry),
        slot,
        Arc::clone(&inner.bandwidth),
        file_priorities,
        dht,
        inner.dialer.clone(),
    );
    if let (Some(v2), Some(t)) = (&shared.verifier.v2, torrent) {
        for (i, _) in shared.info.files().iter().enumerate() {
            if let Some(layer) = t.piece_layer(i) {
                if !v2.load_layer(i, layer) {
                    return Err(seedbed_metainfo::Error::InvalidPieceLayer {
                        file: Some(i),
                        reason: "hashes do not match the pieces root",
                    }
                    .into());
                }
            }
        }
    }
    let _ = slot.shared.set(Arc::clone(&shared));
    // Peers added through the handle just before the torrent existed.
    let late = slot.take_pending_peers();
    if !late.is_empty() {
        let _ = shared
            .cmd_tx
            .send(crate::torrent::DriverCmd::AddPeers(late));
    }
    if let Some(dht) = &shared.dht {
        dht.spawn_torrent(Arc::clone(&shared));
    }
    tokio::spawn(run_driver(shared, cmd_rx));
    Ok(())
}

async fn accept_loop(listener: TcpListener, registry: Arc<Registry>, acceptor: Arc<Acceptor>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%e, "accept");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(incoming(
            TransportStream::Tcp(stream),
            addr,
            Arc::clone(&registry),
            Arc::clone(&acceptor),
        ));
    }
}

/// Accepts uTP connections on the session's UDP socket (the same port
/// number as TCP). Ends when the uTP socket stops.
async fn utp_accept_loop(socket: UtpSocket, registry: Arc<Registry>, acceptor: Arc<Acceptor>) {
    loop {
        match socket.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(incoming(
                    TransportStream::Utp(stream),
                    addr,
                    Arc::clone(&registry),
                    Arc::clone(&acceptor),
                ));
            }
            Err(e) => {
                tracing::debug!(%e, "uTP accept ended");
                return;
            }
        }
    }
}

/// An incoming connection of either transport: plain or MSE as the
/// encryption policy allows, then the first 48 bytes of the handshake
/// find the torrent, and the peer code takes it.
async fn incoming(
    stream: TransportStream,
    addr: SocketAddr,
    registry: Arc<Registry>,
    acceptor: Arc<Acceptor>,
) {
    let Some(stream) = acceptor.accept(stream, addr).await else {
        return;
    };
    let mut framed = Framed::new(stream, HandshakeCodec::early_info_hash());
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), framed.next()).await;
    let Ok(Some(Ok(HandshakeEvent::Prefix(prefix)))) = first else {
        return;
    };
    if !same_torrent(framed.get_ref(), &prefix.info_hash) {
        return;
    }
    let shared = {
        let reg = registry.lock().unwrap_or_else(|e| e.into_inner());
        match reg.get(&prefix.info_hash) {
            Some(slot) => slot.shared.get().cloned(),
            // A hybrid is registered under its v1 hash; it takes its
            // truncated v2 hash too (BEP 52).
            None => reg
                .values()
                .filter_map(|slot| slot.shared.get())
                .find(|s| s.accepts_hash(&prefix.info_hash))
                .cloned(),
        }
    };
    if let Some(shared) = shared {
        peer::accept(shared, framed, addr, prefix).await;
    }
}
