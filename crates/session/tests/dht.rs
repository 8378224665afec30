//! The session's DHT (BEP 5), on loopback only:
//!
//! - the `port` message both ways (sent to a peer that sets the DHT bit, a
//!   received one makes the DHT ping that node), and nothing of the kind
//!   for a private torrent (BEP 27);
//! - a private torrent never reaches the DHT (counted at a loopback DHT
//!   node that records every query), while a public one of the same
//!   session announces there, from the session's listen address and port
//!   (127.0.0.2, so the UDP socket is seen to follow the TCP listener);
//! - two of our sessions find each other through a loopback node: a
//!   .torrent and a bare magnet link download with no tracker and no peer
//!   given;
//! - the routing table's state file: saved while running, and a restart
//!   with no bootstrap node joins through the nodes it saved;
//! - a python3-libtorrent DHT node finds the peer our session announced,
//!   and another one downloads a bare magnet link from it through the DHT.
//!
//! Every session here sets loopback bootstrap nodes (or none).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_dht::krpc::{Body, Message as Krpc, Query};
use seedbed_dht::{Config, Dht, InfoHash, NodeId, RoutingState};
use seedbed_metainfo::{Magnet, PeerId, Torrent, TorrentBuilder, TorrentVersion};
use seedbed_peer_wire::{
    Handshake, HandshakeCodec, HandshakeEvent, Limits, Message, MessageCodec, Reserved,
};
use seedbed_session::{AddTorrentOptions, DhtConfig, Session, SessionConfig, Status};
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::codec::Framed;

/// A query a [`Spy`] received.
#[derive(Clone, Debug)]
struct Seen {
    from: SocketAddr,
    method: String,
    info_hash: Option<InfoHash>,
}

/// A DHT node of our own (the sans-IO `Dht` on a UDP socket on 127.0.0.1)
/// that records every query it receives before answering it.
struct Spy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Spy {
    async fn start() -> Spy {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let config = Config {
                ipv6: false,
                ..Config::default()
            };
            let mut dht = Dht::new(config, NodeId([0x5a; 20]), [7; 32], Instant::now());
            let mut buf = vec![0u8; 65_536];
            loop {
                let deadline = dht.poll_timeout().map_or_else(
                    || tokio::time::Instant::now() + Duration::from_secs(1),
                    tokio::time::Instant::from_std,
                );
                tokio::select! {
                    r = socket.recv_from(&mut buf) => if let Ok((n, from)) = r {
                        let data = &buf[..n];
                        if let Ok(Krpc { body: Body::Query(q), .. }) = Krpc::decode(data) {
                            let info_hash = match q {
                                Query::GetPeers { info_hash, .. }
                                | Query::AnnouncePeer { info_hash, .. } => Some(info_hash),
                                _ => None,
                            };
                            log.lock().unwrap().push(Seen {
                                from,
                                method: String::from_utf8_lossy(q.method()).into_owned(),
                                info_hash,
                            });
                        }
                        dht.handle(Instant::now(), from, data);
                    },
                    () = tokio::time::sleep_until(deadline) => dht.handle_timeout(Instant::now()),
                }
                while let Some(t) = dht.poll_transmit() {
                    let _ = socket.send_to(&t.data, t.to).await;
                }
                while dht.poll_event().is_some() {}
            }
        });
        Spy { addr, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (polling) up to `limit` for a query for which `f` holds.
    async fn wait_for(&self, limit: Duration, f: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.seen().iter().any(&f) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A session on `listen` whose DHT joins through `bootstrap` only.
fn dht_config(listen: SocketAddr, bootstrap: &[SocketAddr]) -> SessionConfig {
    SessionConfig {
        listen: Some(listen),
        dht: DhtConfig {
            metadata_lookup_interval: Duration::from_secs(2),
            ..DhtConfig::with_bootstrap(bootstrap.iter().map(|a| a.to_string()))
        },
        ..common::config()
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A small torrent (`private` or not) of the test content in `dir`.
fn small_torrent(dir: &Path, private: bool) -> Torrent {
    let content = common::make_content(dir);
    let created = TorrentBuilder::new(TorrentVersion::V1)
        .piece_length(common::PIECE)
        .private(private)
        .build_from_path(&content, |_, _| {})
        .unwrap();
    let torrent = Torrent::from_bytes(created.into_bytes()).unwrap();
    assert_eq!(torrent.info().is_private(), private);
    torrent
}

type Wire = Framed<TcpStream, MessageCodec>;

/// Dials `addr` as a fake peer of `info_hash` with `reserved`; returns the
/// connection (message codec) and the session's handshake.
async fn dial(addr: SocketAddr, info_hash: InfoHash, reserved: Reserved) -> (Wire, Handshake) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    framed
        .send(Handshake::new(info_hash, PeerId(*b"-XX0001-fakefakefake")).with_reserved(reserved))
        .await
        .unwrap();
    let theirs = match framed.next().await {
        Some(Ok(HandshakeEvent::Complete(hs))) => hs,
        other => panic!("no handshake: {other:?}"),
    };
    (
        framed.map_codec(|_| MessageCodec::new(Limits::new())),
        theirs,
    )
}

/// The `port` messages the session sends within `limit`.
async fn ports_sent(wire: &mut Wire, limit: Duration) -> Vec<u16> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut ports = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, wire.next()).await {
        if let Message::Port(p) = m {
            ports.push(p);
        }
    }
    ports
}

/// Waits up to `limit` for a KRPC query on `node`; returns its sender and
/// method.
async fn next_query(node: &UdpSocket, limit: Duration) -> Option<(SocketAddr, String)> {
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(limit, node.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    match Krpc::decode(&buf[..n]) {
        Ok(Krpc {
            body: Body::Query(q),
            ..
        }) => Some((from, String::from_utf8_lossy(q.method()).into_owned())),
        other => panic!("not a query: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_messages_both_ways_and_none_for_private_torrents() {
    common::within(Duration::from_secs(60), async {
        let dir = tempfile::tempdir().unwrap();
        let public = small_torrent(&dir.path().join("pub"), false);
        let private = small_torrent(&dir.path().join("priv"), true);
        // A DHT with no node to join: nothing leaves the machine.
        let session = Session::new(dht_config(loopback(), &[])).await.unwrap();
        let listen = session.listen_addr().unwrap();
        let dht_addr = session.dht().expect("the DHT runs").local_addrs()[0];
        assert_eq!(
            dht_addr, listen,
            "UDP on the TCP listener's address and port"
        );
        for (t, d) in [(&public, "pub"), (&private, "priv")] {
            let h = session
                .add_torrent(
                    t,
                    AddTorrentOptions::new(dir.path().join(d)).trackers(false),
                )
                .await
                .unwrap();
            common::wait_complete(&h, Duration::from_secs(20)).await;
        }

        // Public torrent, a peer with the DHT bit: our handshake has it,
        // and a `port` with our UDP port follows.
        let dht_bit = Reserved::ZERO
            .with(Reserved::DHT)
            .with(Reserved::EXTENSION_PROTOCOL);
        let (mut wire, hs) = dial(listen, public.info_hash(), dht_bit).await;
        assert!(hs.reserved.dht(), "DHT bit set: {:?}", hs.reserved);
        assert_eq!(
            ports_sent(&mut wire, Duration::from_secs(2)).await,
            vec![listen.port()]
        );
        // Its `port`: the DHT pings that node, from the listen address.
        let node = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        wire.send(Message::Port(node.local_addr().unwrap().port()))
            .await
            .unwrap();
        let (from, method) = next_query(&node, Duration::from_secs(5))
            .await
            .expect("a ping after the port message");
        assert_eq!((from, method.as_str()), (listen, "ping"));
        // A second `port` on the same connection is ignored.
        let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        wire.send(Message::Port(other.local_addr().unwrap().port()))
            .await
            .unwrap();
        assert_eq!(next_query(&other, Duration::from_secs(2)).await, None);

        // A peer without the DHT bit gets no `port`.
        let no_bit = Reserved::ZERO.with(Reserved::EXTENSION_PROTOCOL);
        let (mut wire, _) = dial(listen, public.info_hash(), no_bit).await;
        assert!(ports_sent(&mut wire, Duration::from_secs(2))
            .await
            .is_empty());

        // Private torrent: no DHT bit, no `port`, and a received `port`
        // is not followed.
        let (mut wire, hs) = dial(listen, private.info_hash(), dht_bit).await;
        assert!(!hs.reserved.dht(), "private: no DHT bit");
        assert!(ports_sent(&mut wire, Duration::from_secs(2))
            .await
            .is_empty());
        let node = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        wire.send(Message::Port(node.local_addr().unwrap().port()))
            .await
            .unwrap();
        assert_eq!(next_query(&node, Duration::from_secs(2)).await, None);
        session.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_torrents_never_reach_the_dht() {
    common::within(Duration::from_secs(60), async {
        let spy = Spy::start().await;
        let dir = tempfile::tempdir().unwrap();
        let public = small_torrent(&dir.path().join("pub"), false);
        let private = small_torrent(&dir.path().join("priv"), true);
        // On 127.0.0.2: the DHT's datagrams come from there too.
        let listen = SocketAddr::from(([127, 0, 0, 2], 0));
        let session = Session::new(dht_config(listen, &[spy.addr])).await.unwrap();
        let listen = session.listen_addr().unwrap();
        // Both downloading (no peer has them), the private one first.
        for t in [&private, &public] {
            session
                .add_torrent(
                    t,
                    AddTorrentOptions::new(dir.path().join("dst"))
                        .trackers(false)
                        .seed(false),
                )
                .await
                .unwrap();
        }
        let public_hash = public.info_hash();
        assert!(
            spy.wait_for(Duration::from_secs(20), |s| s.method == "announce_peer"
                && s.info_hash == Some(public_hash))
                .await,
            "the public torrent is announced: {:?}",
            spy.seen()
        );
        assert!(
            spy.wait_for(Duration::from_secs(1), |s| s.method == "get_peers"
                && s.info_hash == Some(public_hash))
                .await
        );
        // Everything came from the listen address and port.
        let seen = spy.seen();
        assert!(seen.iter().all(|s| s.from == listen), "{seen:?}");
        // A little longer for anything about the private torrent.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let private_hash = private.info_hash();
        let seen = spy.seen();
        assert!(
            !seen.iter().any(|s| s.info_hash == Some(private_hash)),
            "the private torrent reached the DHT: {seen:?}"
        );
        println!(
            "{} queries at the node, {} about the public torrent, none about the private one",
            seen.len(),
            seen.iter()
                .filter(|s| s.info_hash == Some(public_hash))
                .count()
        );
        session.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_sessions_find_each_other_through_the_dht() {
    common::within(Duration::from_secs(120), async {
        let spy = Spy::start().await;
        let f = common::Fixture::v1();
        let hash = f.torrent.info_hash();
        let (seeder, _seed) =
            common::our_seeder_with(dht_config(loopback(), &[spy.addr]), &f.torrent, f.src()).await;
        let seed_addr = seeder.listen_addr().unwrap();
        assert!(
            spy.wait_for(Duration::from_secs(20), |s| s.method == "announce_peer"
                && s.info_hash == Some(hash)
                && s.from == seed_addr)
                .await,
            "the seeder announces: {:?}",
            spy.seen()
        );

        // A .torrent with no tracker and no peer.
        let leecher = Session::new(dht_config(loopback(), &[spy.addr]))
            .await
            .unwrap();
        let h = leecher
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst()).trackers(false).seed(false),
            )
            .await
            .unwrap();
        common::wait_complete(&h, Duration::from_secs(60)).await;
        f.assert_downloaded();
        leecher.shutdown().await;

        // A bare magnet link: the metadata, then the data.
        let dst = tempfile::tempdir().unwrap();
        let magnet: Magnet = format!("magnet:?xt=urn:btih:{hash}").parse().unwrap();
        let leecher = Session::new(dht_config(loopback(), &[spy.addr]))
            .await
            .unwrap();
        let h = leecher
            .add_magnet(&magnet, AddTorrentOptions::new(dst.path()).seed(false))
            .await
            .unwrap();
        common::wait_complete(&h, Duration::from_secs(60)).await;
        assert_eq!(h.status(), Status::Finished);
        common::assert_same_tree(&f.content, &dst.path().join("content"));
        leecher.shutdown().await;
        seeder.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_saved_and_a_restart_joins_through_it() {
    common::within(Duration::from_secs(60), async {
        let spy = Spy::start().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dht.state");
        let config = |bootstrap: &[SocketAddr]| {
            let mut c = dht_config(loopback(), bootstrap);
            c.dht.state_file = Some(path.clone());
            c.dht.save_interval = Duration::from_millis(200);
            c
        };
        let first = Session::new(config(&[spy.addr])).await.unwrap();
        // Saved while running, with the node it joined through.
        let deadline = Instant::now() + Duration::from_secs(10);
        let saved = loop {
            if let Ok(s) = std::fs::read(&path).map(|b| RoutingState::decode(&b).unwrap()) {
                if s.nodes.iter().any(|n| n.addr == spy.addr) {
                    break s;
                }
            }
            assert!(Instant::now() < deadline, "no state with the node saved");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(saved.id, first.dht().unwrap().initial_id());
        first.shutdown().await;
        let at_shutdown = RoutingState::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert!(at_shutdown.nodes.iter().any(|n| n.addr == spy.addr));

        // No bootstrap node: the restart joins through the saved one, with
        // the same id.
        let second = Session::new(config(&[])).await.unwrap();
        let from = second.listen_addr().unwrap();
        assert_eq!(second.dht().unwrap().initial_id(), saved.id);
        assert!(
            spy.wait_for(Duration::from_secs(10), |s| s.from == from
                && s.method == "find_node")
                .await,
            "the restart bootstraps from the saved node: {:?}",
            spy.seen()
        );
        second.shutdown().await;
    })
    .await;
}

/// A swarm of python3-libtorrent DHT nodes on 127.0.0.1, run by the DHT
/// crate's script (`crates/dht/tests/scripts/lt_dht.py`): commands on its
/// stdin, one answer line each on its stdout.
struct LtSwarm {
    guard: common::ChildGuard,
    addrs: Vec<SocketAddr>,
}

impl LtSwarm {
    /// Starts `n` nodes (torrents they join save below `dir`).
    async fn start(n: usize, dir: &Path) -> LtSwarm {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dht/tests/scripts/lt_dht.py");
        let mut cmd = std::process::Command::new(common::PYTHON);
        cmd.arg(script).arg(n.to_string()).arg(dir);
        let mut guard = common::ChildGuard::spawn("lt_dht.py", cmd);
        let ports: String = guard
            .wait_line(Duration::from_secs(30), |l| {
                l.strip_prefix("READY ").map(str::to_owned)
            })
            .await;
        let addrs = ports
            .split_whitespace()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p.parse().unwrap())))
            .collect();
        LtSwarm { guard, addrs }
    }

    /// Sends a command; returns its answer line (waiting up to `limit`).
    async fn command(&mut self, cmd: &str, limit: Duration) -> String {
        let n = self.guard.stdout_lines().len();
        self.guard.send_line(cmd);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.guard.stdout_lines().get(n) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "lt_dht.py: no answer to {cmd}\n{}",
                self.guard.tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The peers node `i` finds for `info_hash` within `seconds`.
    async fn get_peers(&mut self, i: usize, info_hash: InfoHash, seconds: u64) -> Vec<SocketAddr> {
        let l = self
            .command(
                &format!("GET_PEERS {i} {info_hash} {seconds}"),
                Duration::from_secs(seconds + 10),
            )
            .await;
        assert!(l.starts_with("PEERS"), "{l}");
        l.split_whitespace()
            .skip(2)
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// Our session seeds a public torrent, announced to a swarm of
/// python3-libtorrent DHT nodes on loopback (their only nodes are each
/// other and us): a libtorrent node's `get_peers` returns our listen
/// address, and another libtorrent node given only the bare magnet link
/// (no tracker, no peer) finds us through the DHT and downloads the
/// metadata and the data from us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_finds_the_peer_our_session_announced_and_downloads_from_it() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(Duration::from_secs(120), async {
        let saves = tempfile::tempdir().unwrap();
        let mut swarm = LtSwarm::start(3, saves.path()).await;
        let dir = tempfile::tempdir().unwrap();
        let torrent = small_torrent(dir.path(), false);
        let hash = torrent.info_hash();
        let (session, seed) =
            common::our_seeder_with(dht_config(loopback(), &swarm.addrs), &torrent, dir.path())
                .await;
        let listen = session.listen_addr().unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        loop {
            let peers = swarm.get_peers(0, hash, 5).await;
            if peers.contains(&listen) {
                println!(
                    "libtorrent found our session ({listen}) after {:.1} s: {peers:?}",
                    started.elapsed().as_secs_f64()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "libtorrent never found {listen}: {peers:?}"
            );
        }

        // Node 1 downloads the bare magnet link: its only source of peers
        // is the DHT, and we are the only peer there.
        let fetched = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let line = swarm
            .command(
                &format!("FETCH 1 {hash} {} 60", fetched.path().display()),
                Duration::from_secs(70),
            )
            .await;
        let sources: Vec<SocketAddr> = match line.strip_prefix("FETCHED 1") {
            Some(rest) => rest
                .split_whitespace()
                .map(|a| a.parse().unwrap())
                .collect(),
            None => panic!(
                "libtorrent did not download from us: {line}\n{}",
                swarm.guard.tail()
            ),
        };
        println!(
            "libtorrent downloaded the magnet link in {:.3} s from {sources:?}",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(sources, vec![listen], "the data came from our session");
        common::assert_same_tree_but_empty_files(
            &dir.path().join("content"),
            &fetched.path().join("content"),
        );
        let stats = seed.stats();
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        session.shutdown().await;
    })
    .await;
}
