//! The session's DHT (BEP 5): one `seedbed_dht` node on the session's UDP
//! socket (shared with uTP, see `udp.rs`), the bootstrap, the routing
//! table's state file, and the lookups and announces of each torrent.
//!
//! - At start the bootstrap nodes are resolved (names are looked up here,
//!   not in the sans-IO crate) and joined, together with the nodes of the
//!   state file if one is configured.
//! - Each public torrent announces itself (our TCP listen port) once it
//!   downloads or seeds, which also returns the peers the DHT knows, then
//!   looks for peers every [`DhtConfig::lookup_interval`] while
//!   downloading and every [`DhtConfig::seeding_lookup_interval`] while
//!   seeding; the node re-announces every 30 minutes by itself. A paused
//!   torrent stops announcing; a stopped one leaves the DHT.
//! - A magnet link looks its peers up every
//!   [`DhtConfig::metadata_lookup_interval`] while its metadata is fetched.
//! - Private torrents (BEP 27) never reach the DHT: no lookup, no
//!   announce, no DHT bit and no `port` message on their connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seedbed_dht::driver::DhtNode;
use seedbed_dht::{InfoHash, RoutingState};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::Error;
use crate::handle::Status;
use crate::torrent::{DriverCmd, TorrentShared};
use crate::udp::{self, UdpCounters};

/// The well-known routers of the public DHT, the default
/// [`DhtConfig::bootstrap`]. For users on the real network: tests and
/// demos set loopback nodes or turn the DHT off.
pub const DEFAULT_DHT_BOOTSTRAP: &[&str] = &[
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
];

/// KRPC datagrams queued from the socket's reader to the DHT node; past
/// it they are dropped (UDP may lose them anyway).
const DHT_QUEUE: usize = 1024;
/// Peers forwarded to a torrent in one batch.
const PEER_BATCH: usize = 50;
/// After a lookup that could not start (the node's lookup limit), try
/// again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// DHT settings of a [`Session`](crate::Session)
/// ([`SessionConfig::dht`](crate::SessionConfig::dht)).
///
/// ```
/// use seedbed_session::{DhtConfig, SessionConfig};
///
/// // The default: on, joining through the public routers.
/// assert!(SessionConfig::default().dht.enabled);
/// // Tests: a loopback node, or no DHT at all.
/// let local = DhtConfig::with_bootstrap(["127.0.0.1:6881"]);
/// let off = DhtConfig::disabled();
/// assert!(local.enabled && !off.enabled);
/// ```
#[derive(Clone, Debug)]
pub struct DhtConfig {
    /// Run a DHT node on the session's UDP socket (bound to the TCP
    /// listen address and port). Default `true`. Private torrents
    /// (BEP 27) never use it.
    pub enabled: bool,
    /// Nodes to join through, as `host:port` (names are resolved at
    /// start; those that do not resolve are skipped). Default
    /// [`DEFAULT_DHT_BOOTSTRAP`].
    pub bootstrap: Vec<String>,
    /// A file keeping the routing table (BEP 5: "saved between
    /// invocations"): read at start, so a restart bootstraps at once from
    /// the nodes it knew, written every `save_interval` and at
    /// [`Session::shutdown`](crate::Session::shutdown). Default `None`. A
    /// file that does not decode is ignored (with a warning).
    pub state_file: Option<PathBuf>,
    /// How often the routing table is written to `state_file` while the
    /// session runs. Default 10 minutes.
    pub save_interval: Duration,
    /// Time between peer lookups of a torrent while it downloads. Default
    /// 5 minutes.
    pub lookup_interval: Duration,
    /// Time between peer lookups of a torrent while it seeds (the node
    /// re-announces it every 30 minutes regardless). Default 30 minutes.
    pub seeding_lookup_interval: Duration,
    /// Time between peer lookups of a magnet link while its metadata is
    /// fetched. Default 30 seconds.
    pub metadata_lookup_interval: Duration,
    /// The node's own settings (limits, timeouts, BEP 42, read-only mode).
    /// `ipv4`/`ipv6` follow the socket's address.
    pub node: seedbed_dht::Config,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            enabled: true,
            bootstrap: DEFAULT_DHT_BOOTSTRAP
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            state_file: None,
            save_interval: Duration::from_secs(10 * 60),
            lookup_interval: Duration::from_secs(5 * 60),
            seeding_lookup_interval: Duration::from_secs(30 * 60),
            metadata_lookup_interval: Duration::from_secs(30),
            node: seedbed_dht::Config::default(),
        }
    }
}

impl DhtConfig {
    /// No DHT: no UDP socket, no lookups, no announces.
    pub fn disabled() -> Self {
        DhtConfig {
            enabled: false,
            bootstrap: Vec::new(),
            ..DhtConfig::default()
        }
    }

    /// The DHT on, joining through `nodes` (`host:port`) instead of the
    /// public routers.
    pub fn with_bootstrap<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        DhtConfig {
            bootstrap: nodes.into_iter().map(Into::into).collect(),
            ..DhtConfig::default()
        }
    }
}

/// The running DHT of a session; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct SessionDht {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: DhtNode,
    config: DhtConfig,
    /// The UDP port of the node (sent in `port` messages).
    udp_port: u16,
    /// The TCP listen address (announced), if the session listens.
    listen: Option<SocketAddr>,
    /// True once the first bootstrap finished.
    ready: watch::Receiver<bool>,
    counters: Arc<UdpCounters>,
    /// The socket's reader, the bootstrap and the state saver.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()) {
            t.abort();
        }
    }
}

/// Reads a routing table state file; `None` when it is missing or does
/// not decode (warned).
async fn load_state(path: &Path) -> Option<RoutingState> {
    match tokio::fs::read(path).await {
        Ok(bytes) => match RoutingState::decode(&bytes) {
            Ok(s) => {
                tracing::info!(path = %path.display(), nodes = s.nodes.len(), "DHT state loaded");
                Some(s)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), %e, "DHT state ignored");
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), %e, "DHT state unreadable");
            None
        }
    }
}

/// Writes the node's routing table to `path` (through a temporary file
/// and a rename, so a crash leaves the old or the new file).
async fn save_state(node: &DhtNode, path: &Path) {
    let Ok(state) = node.routing_state().await else {
        return;
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = async {
        tokio::fs::write(&tmp, state.encode()).await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::debug!(path = %path.display(), nodes = state.nodes.len(), "DHT state saved")
        }
        Err(e) => tracing::warn!(path = %path.display(), %e, "DHT state not saved"),
    }
}

/// Resolves `host:port` names; those that do not resolve are skipped.
async fn resolve(names: &[String], ipv6: bool) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for name in names {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(addrs) => {
                // The socket's family only (an IPv6 socket takes both).
                if let Some(a) = addrs.into_iter().find(|a| ipv6 || a.is_ipv4()) {
                    out.push(a);
                }
            }
            Err(e) => tracing::warn!(%name, %e, "DHT bootstrap node does not resolve"),
        }
    }
    out
}

impl SessionDht {
    /// Starts the node on `socket` (the session's UDP socket, or a fresh
    /// one on `0.0.0.0:0`), its reader (which passes uTP datagrams to
    /// `utp`, the session's uTP socket, when it runs),
    /// the bootstrap (in the background) and the state saver. `listen` is
    /// the TCP listen address (announced to the DHT).
    ///
    /// # Errors
    /// [`Error::Io`] when a socket cannot be bound or read.
    pub(crate) async fn start(
        config: &DhtConfig,
        socket: Option<Arc<UdpSocket>>,
        utp: Option<mpsc::Sender<(SocketAddr, bytes::Bytes)>>,
        listen: Option<SocketAddr>,
    ) -> Result<SessionDht, Error> {
        let socket = match socket {
            Some(s) => s,
            None => Arc::new(
                UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
                    .await
                    .map_err(|e| Error::io("bind the DHT's UDP socket", e))?,
            ),
        };
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("the DHT's UDP address", e))?;
        let state = match &config.state_file {
            Some(p) => load_state(p).await,
            None => None,
        };
        let (tx, rx) = mpsc::channel(DHT_QUEUE);
        let node = DhtNode::with_socket(config.node.clone(), None, state, Arc::clone(&socket), rx)
            .map_err(|e| Error::io("start the DHT", std::io::Error::other(e)))?;
        let counters = Arc::new(UdpCounters::default());
        let mut tasks = vec![udp::spawn_reader(
            socket,
            Some(tx),
            utp,
            Arc::clone(&counters),
        )];
        let (ready_tx, ready) = watch::channel(false);
        let names = config.bootstrap.clone();
        let boot = node.clone();
        tasks.push(tokio::spawn(async move {
            let nodes = resolve(&names, local.is_ipv6()).await;
            match boot.bootstrap(nodes).await {
                Ok(s) => tracing::info!(
                    responses = s.responses,
                    nodes = s.closest.len(),
                    "DHT bootstrapped"
                ),
                Err(e) => tracing::warn!(%e, "DHT bootstrap"),
            }
            let _ = ready_tx.send(true);
        }));
        if let Some(path) = config.state_file.clone() {
            let saver = node.clone();
            let every = config.save_interval;
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    save_state(&saver, &path).await;
                }
            }));
        }
        tracing::info!(addr = %local, id = %node.initial_id(), "DHT node started");
        Ok(SessionDht {
            inner: Arc::new(Inner {
                node,
                config: config.clone(),
                udp_port: local.port(),
                listen,
                ready,
                counters,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    /// The node.
    pub(crate) fn node(&self) -> &DhtNode {
        &self.inner.node
    }

    /// The UDP port of the node (what a `port` message carries).
    pub(crate) fn udp_port(&self) -> u16 {
        self.inner.udp_port
    }

    /// Datagrams routed by the socket's reader.
    #[cfg(test)]
    pub(crate) fn counters(&self) -> &UdpCounters {
        &self.inner.counters
    }

    /// A node a peer told us about in a `port` message (BEP 5): it is
    /// pinged and enters the routing table if it answers.
    pub(crate) async fn add_node(&self, addr: SocketAddr) {
        let _ = self.inner.node.add_node(addr).await;
    }

    /// Waits until the first bootstrap is done (it always ends: a lookup
    /// finishes when its nodes answer or time out).
    async fn wait_ready(&self) {
        let mut ready = self.inner.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Saves the routing table (if a state file is configured) and stops
    /// the node and the socket's reader.
    pub(crate) async fn shutdown(&self) {
        let c = &self.inner.counters;
        tracing::debug!(
            krpc = c.dht.load(std::sync::atomic::Ordering::Relaxed),
            krpc_dropped = c.dht_dropped.load(std::sync::atomic::Ordering::Relaxed),
            other = c.utp.load(std::sync::atomic::Ordering::Relaxed),
            "UDP datagrams received"
        );
        if let Some(path) = &self.inner.config.state_file {
            save_state(&self.inner.node, path).await;
        }
        self.inner.node.shutdown().await;
        for t in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// Whether `peer` is our own listen address (a DHT returns us among
    /// the peers we announced).
    fn is_us(&self, peer: &SocketAddr) -> bool {
        match self.inner.listen {
            Some(l) if l.port() == peer.port() => {
                l.ip() == peer.ip() || (l.ip().is_unspecified() && is_local(peer.ip()))
            }
            _ => false,
        }
    }

    /// Starts the DHT task of a public torrent: announces and looks up
    /// its peers (handed to its driver) while it downloads or seeds,
    /// following its status (see the module docs). Ends when the torrent
    /// stops.
    pub(crate) fn spawn_torrent(&self, shared: Arc<TorrentShared>) -> JoinHandle<()> {
        let dht = self.clone();
        tokio::spawn(async move { dht.torrent_task(shared).await })
    }

    async fn torrent_task(self, shared: Arc<TorrentShared>) {
        // The one place announcers take the hash from (BEP 52: the
        // truncated v2 hash for v2-only torrents).
        let info_hash = shared.announce_hash();
        let mut status = shared.status.subscribe();
        self.wait_ready().await;
        let node = &self.inner.node;
        let config = &self.inner.config;
        let add = |peers: Vec<SocketAddr>| {
            let peers: Vec<SocketAddr> = peers.into_iter().filter(|p| !self.is_us(p)).collect();
            if !peers.is_empty() {
                tracing::debug!(n = peers.len(), %info_hash, "peers from the DHT");
                let _ = shared.cmd_tx.send(DriverCmd::AddPeers(peers));
            }
        };
        let mut announced = false;
        let mut next_lookup = Instant::now();
        loop {
            let current = status.borrow_and_update().clone();
            match current {
                Status::Downloading | Status::Seeding => {
                    if Instant::now() >= next_lookup {
                        let seeding = current == Status::Seeding;
                        let ok = match self.inner.listen {
                            Some(l) if !announced => {
                                match node.announce(info_hash, l.port(), false).await {
                                    Ok(found) => {
                                        announced = true;
                                        tracing::debug!(
                                            %info_hash,
                                            acked = found.stats.announces_acked,
                                            "announced to the DHT"
                                        );
                                        add(found.peers);
                                        true
                                    }
                                    Err(e) => {
                                        tracing::debug!(%info_hash, %e, "DHT announce");
                                        false
                                    }
                                }
                            }
                            _ => self.lookup(info_hash, &add).await,
                        };
                        next_lookup = Instant::now()
                            + if !ok {
                                RETRY_AFTER
                            } else if seeding {
                                config.seeding_lookup_interval
                            } else {
                                config.lookup_interval
                            };
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(next_lookup) => {}
                        r = status.changed() => if r.is_err() { break },
                    }
                }
                Status::Paused => {
                    if announced {
                        let _ = node.stop_announce(info_hash).await;
                        announced = false;
                    }
                    // Look up again at once on resume.
                    next_lookup = Instant::now();
                    if status.changed().await.is_err() {
                        break;
                    }
                }
                Status::FetchingMetadata | Status::Checking => {
                    if status.changed().await.is_err() {
                        break;
                    }
                }
                // Stopped, finished without seeding, failed.
                _ => break,
            }
        }
        if announced {
            let _ = node.stop_announce(info_hash).await;
        }
    }

    /// One `get_peers` lookup, its peers handed to `add` in batches as
    /// they come. Returns whether it could start.
    async fn lookup(&self, info_hash: InfoHash, add: &impl Fn(Vec<SocketAddr>)) -> bool {
        let Ok(mut rx) = self.inner.node.get_peers_stream(info_hash).await else {
            return false;
        };
        let mut batch = Vec::new();
        let mut any = false;
        while let Some(p) = rx.recv().await {
            any = true;
            batch.push(p);
            // Hand over what has come so far without waiting for the rest.
            while batch.len() < PEER_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            add(std::mem::take(&mut batch));
        }
        if !any {
            tracing::debug!(%info_hash, "DHT lookup found no peers");
        }
        true
    }

    /// Looks up the peers of a magnet link every
    /// [`DhtConfig::metadata_lookup_interval`], handing them to `add`,
    /// until the task is aborted.
    pub(crate) fn spawn_metadata_lookups(
        &self,
        info_hash: InfoHash,
        add: impl Fn(Vec<SocketAddr>) + Send + Sync + 'static,
    ) -> JoinHandle<()> {
        let dht = self.clone();
        tokio::spawn(async move {
            dht.wait_ready().await;
            let add = |peers: Vec<SocketAddr>| {
                let peers: Vec<SocketAddr> = peers.into_iter().filter(|p| !dht.is_us(p)).collect();
                if !peers.is_empty() {
                    add(peers);
                }
            };
            loop {
                let ok = dht.lookup(info_hash, &add).await;
                let wait = if ok {
                    dht.inner.config.metadata_lookup_interval
                } else {
                    RETRY_AFTER
                };
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// Loopback or unspecified: an address of this machine when we listen on
/// every address.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_constructors() {
        let d = DhtConfig::default();
        assert!(d.enabled);
        assert_eq!(d.bootstrap.len(), 4);
        assert!(d.bootstrap.iter().any(|b| b == "dht.libtorrent.org:25401"));
        assert_eq!(d.lookup_interval, Duration::from_secs(300));
        assert!(d.seeding_lookup_interval > d.lookup_interval);
        assert!(!DhtConfig::disabled().enabled);
        assert!(DhtConfig::disabled().bootstrap.is_empty());
        let l = DhtConfig::with_bootstrap(["127.0.0.1:1"]);
        assert!(l.enabled);
        assert_eq!(l.bootstrap, vec!["127.0.0.1:1".to_string()]);
    }

    #[tokio::test]
    async fn state_file_round_trip_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dht.state");
        assert!(load_state(&path).await.is_none(), "missing: none");
        std::fs::write(&path, b"not bencode").unwrap();
        assert!(load_state(&path).await.is_none(), "garbage: ignored");
        let config = DhtConfig {
            state_file: Some(path.clone()),
            ..DhtConfig::with_bootstrap(Vec::<String>::new())
        };
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dht = SessionDht::start(&config, Some(Arc::new(socket)), None, None)
            .await
            .unwrap();
        let id = dht.node().initial_id();
        dht.shutdown().await;
        let saved = load_state(&path).await.expect("written at shutdown");
        assert_eq!(saved.id, id, "the node id is kept");
        assert!(!path.with_extension("state.tmp").exists());
    }

    #[tokio::test]
    async fn own_address_is_not_a_peer() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let config = DhtConfig::with_bootstrap(Vec::<String>::new());
        let listen: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let dht = SessionDht::start(&config, Some(Arc::new(socket)), None, Some(listen))
            .await
            .unwrap();
        assert!(dht.is_us(&"127.0.0.1:7000".parse().unwrap()));
        assert!(!dht.is_us(&"127.0.0.1:7001".parse().unwrap()));
        assert!(!dht.is_us(&"10.1.2.3:7000".parse().unwrap()));
        assert_eq!(
            dht.counters()
                .utp
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        dht.shutdown().await;
    }
}
