//! The tokio driver on loopback: nodes with their own sockets, and a node
//! on a socket it shares with another protocol (datagrams routed by their
//! first byte, as the session will do for the DHT and uTP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use seedbed_dht::driver::{DhtNode, DriverConfig};
use seedbed_dht::{Config, InfoHash, NodeId, RoutingState};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

fn loopback() -> DriverConfig {
    DriverConfig {
        bind_v4: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ..DriverConfig::default()
    }
}

async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("test took too long")
}

/// Eight nodes; each bootstraps from the first.
async fn swarm(n: usize) -> Vec<DhtNode> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(DhtNode::bind(loopback()).await.unwrap());
    }
    let first = nodes[0].local_addrs()[0];
    for node in &nodes[1..] {
        node.bootstrap(vec![first]).await.unwrap();
    }
    nodes
}

#[tokio::test]
async fn own_sockets_announce_get_peers_ping_sample() {
    within(Duration::from_secs(30), async {
        let nodes = swarm(8).await;
        let info_hash: InfoHash = "0102030405060708090a0b0c0d0e0f1011121314".parse().unwrap();
        let announced = nodes[3].announce(info_hash, 51413, false).await.unwrap();
        assert!(
            announced.stats.announces_acked >= 4,
            "{:?}",
            announced.stats
        );
        let found = nodes[6].get_peers(info_hash).await.unwrap();
        assert_eq!(found.peers, vec![SocketAddr::from(([127, 0, 0, 1], 51413))]);
        // The same as a stream.
        let mut stream = nodes[5].get_peers_stream(info_hash).await.unwrap();
        let mut streamed = Vec::new();
        while let Some(p) = stream.recv().await {
            streamed.push(p);
        }
        assert_eq!(streamed, found.peers);

        let pong = nodes[1].ping(nodes[2].local_addrs()[0]).await.unwrap();
        assert_eq!(pong.addr, nodes[2].local_addrs()[0]);
        // A closed port: the ping times out (2 s).
        let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(nodes[1].ping(closed_addr).await.is_err());

        // Some node stores the peer: its sample has the info hash.
        let mut sampled = false;
        for n in &nodes {
            let s = nodes[0]
                .sample_infohashes(n.local_addrs()[0], NodeId([0; 20]))
                .await
                .unwrap();
            sampled |= s.samples.contains(&info_hash);
        }
        assert!(sampled);

        // Save and restore: a new node with the saved state bootstraps
        // without bootstrap nodes.
        let state = nodes[7].routing_state().await.unwrap();
        assert!(state.nodes.len() >= 4);
        let bytes = state.encode();
        nodes[7].shutdown().await;
        let restored = DhtNode::bind(DriverConfig {
            state: Some(RoutingState::decode(&bytes).unwrap()),
            ..loopback()
        })
        .await
        .unwrap();
        assert_eq!(restored.initial_id(), state.id);
        let stats = restored.bootstrap(Vec::new()).await.unwrap();
        assert!(stats.responses >= 4, "{stats:?}");
        assert!(restored.stats().await.unwrap().table_v4.nodes >= 4);
        assert!(nodes[3].stop_announce(info_hash).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn shared_socket_routes_by_first_byte() {
    within(Duration::from_secs(30), async {
        let nodes = swarm(5).await;
        // The "session": one socket, a reader that gives `d...` datagrams to
        // the DHT and keeps the rest (uTP would get them).
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (tx, rx) = mpsc::channel(64);
        let (other_tx, mut other_rx) = mpsc::channel::<Bytes>(8);
        let reader = {
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                        break;
                    };
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    if data.first() == Some(&b'd') {
                        if tx.send((from, data)).await.is_err() {
                            break;
                        }
                    } else if other_tx.send(data).await.is_err() {
                        break;
                    }
                }
            })
        };
        let shared =
            DhtNode::with_socket(Config::default(), None, None, Arc::clone(&socket), rx).unwrap();
        assert_eq!(shared.local_addrs(), &[socket.local_addr().unwrap()]);
        let stats = shared
            .bootstrap(vec![nodes[0].local_addrs()[0]])
            .await
            .unwrap();
        assert!(stats.responses >= 3, "{stats:?}");

        // A non-KRPC datagram on the shared port goes to the other protocol.
        let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        probe
            .send_to(&[0x41, 0, 0, 0], socket.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(&other_rx.recv().await.unwrap()[..], &[0x41, 0, 0, 0]);

        // The shared node announces (implied port: the shared UDP port) and
        // serves: others find it and ping it.
        let info_hash = InfoHash([0x5a; 20]);
        shared.announce(info_hash, 0, true).await.unwrap();
        let found = nodes[4].get_peers(info_hash).await.unwrap();
        assert_eq!(found.peers, vec![socket.local_addr().unwrap()]);
        let pong = nodes[2].ping(socket.local_addr().unwrap()).await.unwrap();
        assert_eq!(pong.addr, socket.local_addr().unwrap());
        assert!(shared.stats().await.unwrap().queries_received > 0);
        shared.shutdown().await;
        reader.abort();
    })
    .await;
}

#[tokio::test]
async fn ipv6_nodes_on_loopback() {
    within(Duration::from_secs(30), async {
        // Dual-stack nodes: an IPv4 and an IPv6 socket each (BEP 32).
        let mut nodes = Vec::new();
        for _ in 0..5 {
            let node = DhtNode::bind(DriverConfig {
                bind_v4: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                bind_v6: Some("[::1]:0".parse().unwrap()),
                ..DriverConfig::default()
            })
            .await
            .unwrap();
            assert_eq!(node.local_addrs().len(), 2);
            nodes.push(node);
        }
        let first_v6 = nodes[0].local_addrs()[1];
        assert!(first_v6.is_ipv6());
        for node in &nodes[1..] {
            // Bootstrapping over IPv6 only also fills the IPv4 table
            // (`want` n4 and n6 during bootstrap).
            node.bootstrap(vec![first_v6]).await.unwrap();
        }
        let stats = nodes[4].stats().await.unwrap();
        assert!(stats.table_v6.nodes >= 1, "{:?}", stats.table_v6);
        // An announce over both families; an IPv6-only lookup view: the
        // peers found include the IPv6 address.
        let info_hash = InfoHash([0x66; 20]);
        let done = nodes[1].announce(info_hash, 7777, false).await.unwrap();
        assert!(done.stats.announces_acked >= 1, "{:?}", done.stats);
        let found = nodes[3].get_peers(info_hash).await.unwrap();
        assert!(
            found.peers.contains(&"[::1]:7777".parse().unwrap()),
            "{found:?}"
        );
    })
    .await;
}
