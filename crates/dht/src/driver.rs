//! A tokio driver for the sans-IO [`Dht`] (feature `tokio`): one task owns
//! the state machine and its UDP socket(s); [`DhtNode`] is a cheap,
//! cloneable handle with an async API.
//!
//! Two ways to run it:
//! - [`DhtNode::bind`]: the node binds its own sockets (one per address
//!   family).
//! - [`DhtNode::with_socket`]: the node sends on a socket it does not own
//!   and receives its datagrams from a channel. A BitTorrent session that
//!   shares one UDP port between the DHT and uTP reads the socket itself and
//!   forwards the datagrams whose first byte is `d` (a bencoded KRPC
//!   dictionary) to the DHT, as libtorrent does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), seedbed_dht::Error> {
//! use seedbed_dht::driver::{DhtNode, DriverConfig};
//!
//! let node = DhtNode::bind(DriverConfig::default()).await?;
//! node.bootstrap(vec!["127.0.0.1:6881".parse().unwrap()]).await?;
//! let info_hash = "d2474e86c95b19b8bcfdb92bc12c9d44667cfa36".parse().unwrap();
//! let peers = node.get_peers(info_hash).await?;
//! node.announce(info_hash, 6881, false).await?;
//! println!("{} peers; {:?}", peers.peers.len(), node.stats().await?.table_v4);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use seedbed_metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::compact::{Family, NodeInfo};
use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, LookupId, LookupStats, RequestId, Stats};
use crate::id::NodeId;
use crate::node::Dht;
use crate::state::RoutingState;

/// Largest datagram read from a socket (UDP's maximum payload); the node
/// drops those over [`Config::max_datagram_len`].
const RECV_BUFFER: usize = 65_536;
/// Commands queued to the node's task.
const COMMAND_QUEUE: usize = 256;
/// Events buffered per [`DhtNode::subscribe`] receiver.
const EVENT_QUEUE: usize = 1024;

/// Settings of a [`DhtNode`] that binds its own sockets.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The state machine's settings. `ipv4` / `ipv6` are set from the
    /// sockets bound.
    pub dht: Config,
    /// The IPv4 address to bind, or `None` for no IPv4 DHT. Default
    /// `0.0.0.0:0`.
    pub bind_v4: Option<SocketAddr>,
    /// The IPv6 address to bind, or `None` for no IPv6 DHT. Default `None`
    /// (BEP 32 asks for a global unicast address, not `[::]`).
    pub bind_v6: Option<SocketAddr>,
    /// Our node id; `None` for a random one (or the id of `state`).
    pub id: Option<NodeId>,
    /// A saved routing table: its id (unless `id` is set) and its nodes to
    /// bootstrap from.
    pub state: Option<RoutingState>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            dht: Config::default(),
            bind_v4: Some(SocketAddr::from(([0, 0, 0, 0], 0))),
            bind_v6: None,
            id: None,
            state: None,
        }
    }
}

/// The answer to [`DhtNode::sample_infohashes`] (BEP 51).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The node that answered.
    pub node: NodeInfo,
    /// The info hashes it sampled.
    pub samples: Vec<InfoHash>,
    /// How many info hashes it stores.
    pub num: Option<i64>,
    /// Seconds to wait before sampling it again.
    pub interval: Option<i64>,
    /// Nodes near the target.
    pub nodes: Vec<NodeInfo>,
}

/// The result of a `get_peers` lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeersFound {
    /// Every distinct peer found.
    pub peers: Vec<SocketAddr>,
    /// The lookup's counters.
    pub stats: LookupStats,
}

enum Command {
    Bootstrap(Vec<SocketAddr>, oneshot::Sender<Result<LookupStats, Error>>),
    FindNode(NodeId, oneshot::Sender<Result<LookupStats, Error>>),
    GetPeers(
        InfoHash,
        Option<mpsc::Sender<SocketAddr>>,
        oneshot::Sender<Result<PeersFound, Error>>,
    ),
    Announce(
        InfoHash,
        u16,
        bool,
        oneshot::Sender<Result<PeersFound, Error>>,
    ),
    StopAnnounce(InfoHash, oneshot::Sender<bool>),
    Ping(SocketAddr, oneshot::Sender<Result<NodeInfo, Error>>),
    Sample(SocketAddr, NodeId, oneshot::Sender<Result<Sample, Error>>),
    AddNode(SocketAddr),
    State(oneshot::Sender<RoutingState>),
    Stats(oneshot::Sender<Stats>),
    Shutdown,
}

/// A handle to a DHT node running on tokio. Clones share the node; it
/// stops when [`shutdown`](Self::shutdown) is called or every handle is
/// dropped.
#[derive(Clone, Debug)]
pub struct DhtNode {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    local: Vec<SocketAddr>,
    id: NodeId,
}

enum Transport {
    Own {
        v4: Option<Arc<UdpSocket>>,
        v6: Option<Arc<UdpSocket>>,
    },
    Shared {
        socket: Arc<UdpSocket>,
        /// The socket is IPv6: IPv4 destinations are sent as mapped
        /// addresses.
        ipv6: bool,
        incoming: mpsc::Receiver<(SocketAddr, Bytes)>,
    },
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl DhtNode {
    /// Binds the configured sockets and starts the node's task (on the
    /// current tokio runtime). Call [`bootstrap`](Self::bootstrap) next.
    ///
    /// # Errors
    /// [`Error::Io`] when a socket cannot be bound; [`Error::NoSocket`]
    /// when neither family is configured.
    pub async fn bind(config: DriverConfig) -> Result<DhtNode, Error> {
        let v4 = match config.bind_v4 {
            Some(a) => Some(Arc::new(UdpSocket::bind(a).await?)),
            None => None,
        };
        let v6 = match config.bind_v6 {
            Some(a) => Some(Arc::new(UdpSocket::bind(a).await?)),
            None => None,
        };
        if v4.is_none() && v6.is_none() {
            return Err(Error::NoSocket {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            });
        }
        let mut local = Vec::new();
        for s in v4.iter().chain(v6.iter()) {
            local.push(s.local_addr()?);
        }
        let mut dht = config.dht;
        dht.ipv4 = v4.is_some();
        dht.ipv6 = v6.is_some();
        Ok(Self::start(
            dht,
            config.id,
            config.state,
            Transport::Own { v4, v6 },
            local,
        ))
    }

    /// Starts a node that sends on `socket` (owned by someone else) and
    /// receives the datagrams its owner forwards on `incoming` (sender
    /// address and payload; forward those whose first byte is `d`). The
    /// address families served follow the socket's local address (an IPv6
    /// socket bound to `[::]` serves both). Must be called within a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket's local address cannot be read.
    pub fn with_socket(
        mut config: Config,
        id: Option<NodeId>,
        state: Option<RoutingState>,
        socket: Arc<UdpSocket>,
        incoming: mpsc::Receiver<(SocketAddr, Bytes)>,
    ) -> Result<DhtNode, Error> {
        let local = socket.local_addr()?;
        match local.ip() {
            IpAddr::V4(_) => {
                config.ipv4 = true;
                config.ipv6 = false;
            }
            IpAddr::V6(ip) => {
                config.ipv6 = true;
                // A socket on [::] also carries IPv4 (mapped addresses).
                config.ipv4 = config.ipv4 && ip.is_unspecified();
            }
        }
        Ok(Self::start(
            config,
            id,
            state,
            Transport::Shared {
                socket,
                ipv6: local.is_ipv6(),
                incoming,
            },
            vec![local],
        ))
    }

    fn start(
        config: Config,
        id: Option<NodeId>,
        state: Option<RoutingState>,
        transport: Transport,
        local: Vec<SocketAddr>,
    ) -> DhtNode {
        let seed: [u8; 32] = rand::random();
        let id = id
            .or(state.as_ref().map(|s| s.id))
            .unwrap_or_else(|| NodeId(rand::random()));
        let mut dht = Dht::new(config, id, seed, now());
        if let Some(state) = &state {
            dht.add_saved_nodes(&state.nodes);
        }
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let task = Task {
            dht,
            transport,
            commands: rx,
            events: events.clone(),
            lookups: HashMap::new(),
            requests: HashMap::new(),
        };
        tokio::spawn(task.run());
        DhtNode {
            commands,
            events,
            local,
            id,
        }
    }

    /// The local addresses of the node's sockets.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The node id it started with (it may change once, to a BEP 42 id,
    /// when the external address becomes known: see [`Event::IdChanged`]).
    pub fn initial_id(&self) -> NodeId {
        self.id
    }

    /// Every event of the node from now on (a lagging receiver loses the
    /// oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Joins the DHT from `nodes` (and the saved state's nodes): a
    /// `find_node` lookup for our own id (BEP 5). Returns when it is done.
    ///
    /// # Errors
    /// [`Error::Limit`] when too many lookups run; [`Error::Stopped`].
    pub async fn bootstrap(&self, nodes: Vec<SocketAddr>) -> Result<LookupStats, Error> {
        self.call(|tx| Command::Bootstrap(nodes, tx)).await?
    }

    /// The K closest nodes to `target` (in [`LookupStats::closest`]).
    ///
    /// # Errors
    /// [`Error::Limit`] when too many lookups run; [`Error::Stopped`].
    pub async fn find_node(&self, target: NodeId) -> Result<LookupStats, Error> {
        self.call(|tx| Command::FindNode(target, tx)).await?
    }

    /// Every peer the DHT knows for `info_hash`, once the lookup is done.
    ///
    /// # Errors
    /// [`Error::Limit`] when too many lookups run; [`Error::Stopped`].
    pub async fn get_peers(&self, info_hash: InfoHash) -> Result<PeersFound, Error> {
        self.call(|tx| Command::GetPeers(info_hash, None, tx))
            .await?
    }

    /// The peers of `info_hash` as they are found: the receiver yields each
    /// distinct peer once and closes when the lookup is done.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the node has stopped (a limit error closes
    /// the receiver at once).
    pub async fn get_peers_stream(
        &self,
        info_hash: InfoHash,
    ) -> Result<mpsc::Receiver<SocketAddr>, Error> {
        let (ptx, prx) = mpsc::channel(256);
        let (tx, _rx) = oneshot::channel();
        self.commands
            .send(Command::GetPeers(info_hash, Some(ptx), tx))
            .await
            .map_err(|_| Error::Stopped)?;
        Ok(prx)
    }

    /// Announces that we are a peer of `info_hash` on TCP/uTP `port` (or,
    /// with `implied_port`, on the DHT's UDP port) and keeps re-announcing
    /// it every 30 minutes until [`stop_announce`](Self::stop_announce).
    /// Returns when the first announce is done, with the peers found on
    /// the way ([`LookupStats::announces_acked`] says how many nodes stored
    /// us).
    ///
    /// # Errors
    /// [`Error::Limit`] when too many announces or lookups run;
    /// [`Error::Stopped`].
    pub async fn announce(
        &self,
        info_hash: InfoHash,
        port: u16,
        implied_port: bool,
    ) -> Result<PeersFound, Error> {
        self.call(|tx| Command::Announce(info_hash, port, implied_port, tx))
            .await?
    }

    /// Stops re-announcing `info_hash`; returns whether it was announced.
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn stop_announce(&self, info_hash: InfoHash) -> Result<bool, Error> {
        self.call(|tx| Command::StopAnnounce(info_hash, tx)).await
    }

    /// Pings `addr`; returns its id and address.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Remote`], [`Error::Limit`],
    /// [`Error::Stopped`].
    pub async fn ping(&self, addr: SocketAddr) -> Result<NodeInfo, Error> {
        self.call(|tx| Command::Ping(addr, tx)).await?
    }

    /// Asks `addr` for a sample of its stored info hashes (BEP 51).
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Remote`] (a node without BEP 51 answers
    /// 204), [`Error::Limit`], [`Error::Stopped`].
    pub async fn sample_infohashes(
        &self,
        addr: SocketAddr,
        target: NodeId,
    ) -> Result<Sample, Error> {
        self.call(|tx| Command::Sample(addr, target, tx)).await?
    }

    /// A node to check and add if it answers (BEP 5 PORT message).
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn add_node(&self, addr: SocketAddr) -> Result<(), Error> {
        self.commands
            .send(Command::AddNode(addr))
            .await
            .map_err(|_| Error::Stopped)
    }

    /// The routing table to save ([`RoutingState::encode`]).
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn routing_state(&self) -> Result<RoutingState, Error> {
        self.call(Command::State).await
    }

    /// Counters and sizes of the node.
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.call(Command::Stats).await
    }

    /// Stops the node's task (every handle then gets [`Error::Stopped`]).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

enum LookupWaiter {
    Stats(oneshot::Sender<Result<LookupStats, Error>>),
    Peers {
        peers: Vec<SocketAddr>,
        stream: Option<mpsc::Sender<SocketAddr>>,
        done: oneshot::Sender<Result<PeersFound, Error>>,
    },
}

enum RequestWaiter {
    Ping(oneshot::Sender<Result<NodeInfo, Error>>),
    Sample(oneshot::Sender<Result<Sample, Error>>),
}

struct Task {
    dht: Dht,
    transport: Transport,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    lookups: HashMap<LookupId, LookupWaiter>,
    requests: HashMap<RequestId, RequestWaiter>,
}

/// Receives from an optional socket; never resolves without one.
async fn recv(
    socket: Option<&Arc<UdpSocket>>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self) {
        let mut buf4 = vec![0u8; RECV_BUFFER];
        let mut buf6 = vec![0u8; RECV_BUFFER];
        loop {
            let deadline = self
                .dht
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(60));
            let sleep = tokio::time::sleep_until(deadline);
            let mut stop = false;
            match &mut self.transport {
                Transport::Own { v4, v6 } => {
                    let (v4, v6) = (v4.clone(), v6.clone());
                    tokio::select! {
                        c = self.commands.recv() => stop = self.command(c),
                        r = recv(v4.as_ref(), &mut buf4) => self.received(r, &buf4),
                        r = recv(v6.as_ref(), &mut buf6) => self.received(r, &buf6),
                        () = sleep => self.dht.handle_timeout(now()),
                    }
                }
                Transport::Shared { incoming, .. } => {
                    tokio::select! {
                        c = self.commands.recv() => stop = self.command(c),
                        d = incoming.recv() => match d {
                            Some((from, data)) => self.dht.handle(now(), from, &data),
                            // The owner of the socket is gone.
                            None => stop = true,
                        },
                        () = sleep => self.dht.handle_timeout(now()),
                    }
                }
            }
            self.flush().await;
            if stop {
                break;
            }
        }
        for (_, w) in self.lookups.drain() {
            match w {
                LookupWaiter::Stats(tx) => drop(tx.send(Err(Error::Stopped))),
                LookupWaiter::Peers { done, .. } => drop(done.send(Err(Error::Stopped))),
            }
        }
    }

    fn received(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        match r {
            Ok((n, from)) => self.dht.handle(now(), from, &buf[..n]),
            Err(e) => {
                // ICMP errors (port unreachable) surface here on Linux; the
                // query times out on its own.
                tracing::trace!("dht recv: {e}");
            }
        }
    }

    /// Returns whether to stop.
    fn command(&mut self, c: Option<Command>) -> bool {
        let Some(c) = c else { return true };
        let t = now();
        match c {
            Command::Bootstrap(nodes, tx) => match self.dht.bootstrap(t, &nodes) {
                Ok(id) => drop(self.lookups.insert(id, LookupWaiter::Stats(tx))),
                Err(e) => drop(tx.send(Err(e))),
            },
            Command::FindNode(target, tx) => match self.dht.find_node(t, target) {
                Ok(id) => drop(self.lookups.insert(id, LookupWaiter::Stats(tx))),
                Err(e) => drop(tx.send(Err(e))),
            },
            Command::GetPeers(h, stream, tx) => match self.dht.get_peers(t, h) {
                Ok(id) => drop(self.lookups.insert(
                    id,
                    LookupWaiter::Peers {
                        peers: Vec::new(),
                        stream,
                        done: tx,
                    },
                )),
                Err(e) => drop(tx.send(Err(e))),
            },
            Command::Announce(h, port, implied, tx) => match self.dht.announce(t, h, port, implied)
            {
                Ok(id) => drop(self.lookups.insert(
                    id,
                    LookupWaiter::Peers {
                        peers: Vec::new(),
                        stream: None,
                        done: tx,
                    },
                )),
                Err(e) => drop(tx.send(Err(e))),
            },
            Command::StopAnnounce(h, tx) => drop(tx.send(self.dht.stop_announce(&h))),
            Command::Ping(addr, tx) => match self.dht.ping(t, addr) {
                Ok(id) => drop(self.requests.insert(id, RequestWaiter::Ping(tx))),
                Err(e) => drop(tx.send(Err(e))),
            },
            Command::Sample(addr, target, tx) => {
                match self.dht.sample_infohashes(t, addr, target) {
                    Ok(id) => drop(self.requests.insert(id, RequestWaiter::Sample(tx))),
                    Err(e) => drop(tx.send(Err(e))),
                }
            }
            Command::AddNode(addr) => self.dht.add_node(t, addr),
            Command::State(tx) => drop(tx.send(self.dht.routing_state())),
            Command::Stats(tx) => drop(tx.send(self.dht.stats())),
            Command::Shutdown => return true,
        }
        false
    }

    async fn flush(&mut self) {
        while let Some(t) = self.dht.poll_transmit() {
            let (socket, to) = match &self.transport {
                Transport::Own { v4, v6 } => match Family::of(&t.to) {
                    Family::V4 => (v4.as_ref(), t.to),
                    Family::V6 => (v6.as_ref(), t.to),
                },
                Transport::Shared { socket, ipv6, .. } => {
                    let to = match (*ipv6, t.to) {
                        // An IPv6 socket reaches IPv4 nodes through mapped
                        // addresses.
                        (true, SocketAddr::V4(a)) => SocketAddr::V6(SocketAddrV6::new(
                            a.ip().to_ipv6_mapped(),
                            a.port(),
                            0,
                            0,
                        )),
                        (_, to) => to,
                    };
                    (Some(socket), to)
                }
            };
            if let Some(s) = socket {
                if let Err(e) = s.send_to(&t.data, to).await {
                    tracing::debug!("dht send to {to}: {e}");
                }
            }
        }
        while let Some(e) = self.dht.poll_event() {
            self.dispatch(&e);
            let _ = self.events.send(e);
        }
    }

    fn dispatch(&mut self, e: &Event) {
        match e {
            Event::Peers {
                lookup, peers: new, ..
            } => {
                if let Some(LookupWaiter::Peers { peers, stream, .. }) =
                    self.lookups.get_mut(lookup)
                {
                    for p in new {
                        if let Some(s) = stream {
                            // A full or closed stream drops peers rather
                            // than stalling the node.
                            let _ = s.try_send(*p);
                        }
                    }
                    peers.extend_from_slice(new);
                }
            }
            Event::LookupDone { lookup, stats, .. } => match self.lookups.remove(lookup) {
                Some(LookupWaiter::Stats(tx)) => drop(tx.send(Ok(stats.clone()))),
                Some(LookupWaiter::Peers { peers, done, .. }) => drop(done.send(Ok(PeersFound {
                    peers,
                    stats: stats.clone(),
                }))),
                None => {}
            },
            Event::Pong { request, node } => {
                if let Some(RequestWaiter::Ping(tx)) = self.requests.remove(request) {
                    let _ = tx.send(Ok(*node));
                }
            }
            Event::Samples {
                request,
                node,
                samples,
                num,
                interval,
                nodes,
            } => {
                if let Some(RequestWaiter::Sample(tx)) = self.requests.remove(request) {
                    let _ = tx.send(Ok(Sample {
                        node: *node,
                        samples: samples.clone(),
                        num: *num,
                        interval: *interval,
                        nodes: nodes.clone(),
                    }));
                }
            }
            Event::RequestFailed { request, error } => match self.requests.remove(request) {
                Some(RequestWaiter::Ping(tx)) => drop(tx.send(Err(error.clone()))),
                Some(RequestWaiter::Sample(tx)) => drop(tx.send(Err(error.clone()))),
                None => {}
            },
            _ => {}
        }
    }
}
