//! seedbed-dht against python3-libtorrent DHT nodes on loopback: our node
//! joins their swarm, shows up in their routing tables (they check new
//! nodes with `get_peers`, so this proves we answer them), finds a peer a
//! libtorrent node announced, and a libtorrent node finds the peer we
//! announced. Skips with `SKIPPED` without python3-libtorrent (fails with
//! `CI=true`). Every test is bounded in time; the swarm process is killed
//! when its guard drops.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{have_libtorrent, LtSwarm};
use seedbed_dht::driver::{DhtNode, DriverConfig};
use seedbed_dht::{InfoHash, NodeId};

const NODES: usize = 4;

/// The real-client tests run one at a time (two cores).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("test took too long")
}

/// Our node on 127.0.0.1, bootstrapped from the libtorrent nodes.
async fn join(swarm: &LtSwarm) -> DhtNode {
    let node = DhtNode::bind(DriverConfig {
        bind_v4: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..DriverConfig::default()
    })
    .await
    .unwrap();
    let stats = node.bootstrap(swarm.addrs.clone()).await.unwrap();
    assert!(stats.responses >= NODES as u32 - 1, "bootstrap: {stats:?}");
    node
}

/// Polls `f` every 500 ms until it returns `Some`, up to `limit`.
async fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_a_libtorrent_swarm_and_finds_its_peer() {
    if !have_libtorrent() {
        return;
    }
    let _serial = serial().await;
    within(Duration::from_secs(90), async {
        let mut swarm = LtSwarm::start(NODES);
        let node = join(&swarm).await;
        let ours = node.local_addrs()[0];
        let our_id = node.stats().await.unwrap().id.to_hex();
        assert!(node.stats().await.unwrap().table_v4.nodes >= NODES - 1);

        // Every libtorrent node lists us in its routing table: each checked
        // us with get_peers and we answered from the socket it queried.
        for i in 0..NODES {
            eventually(
                Duration::from_secs(30),
                &format!("libtorrent node {i} lists our node"),
                || {
                    swarm
                        .live(i)
                        .iter()
                        .any(|(id, addr)| *id == our_id && *addr == ours)
                        .then_some(())
                },
            )
            .await;
        }
        let stats = node.stats().await.unwrap();
        assert!(stats.queries_received >= NODES as u64, "{stats:?}");
        assert_eq!(stats.malformed, 0, "everything libtorrent sent decoded");

        // A libtorrent node announces (it joins a torrent with its listen
        // port); our get_peers finds it.
        let hash = "0123456789abcdef0123456789abcdef01234567";
        let answer = swarm.command(&format!("ANNOUNCE 0 {hash}"), Duration::from_secs(10));
        let port: u16 = answer.split_whitespace().nth(2).unwrap().parse().unwrap();
        let want = SocketAddr::from(([127, 0, 0, 1], port));
        let info_hash: InfoHash = hash.parse().unwrap();
        let start = Instant::now();
        loop {
            let found = node.get_peers(info_hash).await.unwrap();
            if found.peers.contains(&want) {
                println!(
                    "found libtorrent's peer {want} after {:.1} s: {:?}",
                    start.elapsed().as_secs_f64(),
                    found.stats
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(45),
                "libtorrent's peer not found: {found:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }

        // BEP 51: libtorrent nodes answer sample_infohashes.
        let sample = node
            .sample_infohashes(swarm.addrs[1], NodeId([0; 20]))
            .await
            .unwrap();
        assert!(
            sample.interval.is_some() && sample.num.is_some(),
            "{sample:?}"
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_finds_the_peer_we_announced() {
    if !have_libtorrent() {
        return;
    }
    let _serial = serial().await;
    within(Duration::from_secs(90), async {
        let mut swarm = LtSwarm::start(NODES);
        let node = join(&swarm).await;
        let hash = "fedcba9876543210fedcba9876543210fedcba98";
        let info_hash: InfoHash = hash.parse().unwrap();
        let port = 45_678;
        let start = Instant::now();
        let done = node.announce(info_hash, port, false).await.unwrap();
        assert!(done.stats.announces_acked >= 1, "{:?}", done.stats);
        let want = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            let peers = swarm.get_peers(2, hash, 5);
            if peers.contains(&want) {
                println!(
                    "libtorrent found our peer after {:.1} s",
                    start.elapsed().as_secs_f64()
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(45),
                "libtorrent did not find our peer: {peers:?}"
            );
            // Announce again in case the nodes that stored it were not
            // yet the ones libtorrent asks.
            node.announce(info_hash, port, false).await.unwrap();
        }
        // BEP 51 the other way: libtorrent samples our node.
        let ours = node.local_addrs()[0];
        let answer = swarm.command(
            &format!("SAMPLE 0 127.0.0.1 {} 5", ours.port()),
            Duration::from_secs(15),
        );
        assert!(
            !answer.ends_with("NONE"),
            "libtorrent got no sample from us: {answer}"
        );
        node.shutdown().await;
    })
    .await;
}
