//! Binding to an address (issue 15): a session listening on 127.0.0.2
//! announces from 127.0.0.2 over HTTP and UDP (opentracker hands out
//! 127.0.0.2 and a leecher that only knows the tracker downloads from it),
//! and dials peers from 127.0.0.2; a session never dials its own listen
//! address, whether given it or handed it by a tracker.
//!
//! Without opentracker the tracker tests print `SKIPPED: ...` and return,
//! unless `CI=true`, when they fail.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use seedbed_session::{AddTorrentOptions, Session, SessionConfig, Transports};
use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
use seedbed_tracker_proto::{AnnounceRequest, PeerId};

const TEST_TIME: Duration = Duration::from_secs(90);
const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A session listening on `ip`, TCP only: these tests read the system's
/// TCP tables (uTP leaves from the UDP socket bound to the listen address,
/// so it cannot leave from another one).
fn config_on(ip: IpAddr) -> SessionConfig {
    SessionConfig {
        listen: Some(SocketAddr::new(ip, 0)),
        transports: Transports::TcpOnly,
        tracker_timeout: Duration::from_secs(5),
        ..common::config()
    }
}

/// A seed listening on 127.0.0.2 announces to opentracker (on 127.0.0.1);
/// the tracker hands out 127.0.0.2 and the seed's port, and a leecher
/// given no peer downloads from there.
async fn seed_on_127_0_0_2_through_opentracker(udp: bool) {
    let (f, tracker) = common::fixture_on_opentracker(common::make_content, udp).await;
    let seeder = Session::new(config_on(TWO)).await.unwrap();
    assert_eq!(seeder.bind_ip(), Some(TWO));
    let listen = seeder.listen_addr().unwrap();
    assert_eq!(listen.ip(), TWO);
    let seed = seeder
        .add_torrent(&f.torrent, AddTorrentOptions::new(f.src()))
        .await
        .unwrap();
    common::wait_complete(&seed, Duration::from_secs(30)).await;
    let hash = f.torrent.info_hash();
    common::wait_tracker_peer(&tracker.http, hash, true, Duration::from_secs(20)).await;

    // What the tracker hands out for the torrent.
    let probe = TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    })
    .unwrap();
    let mut req = AnnounceRequest::new(hash, PeerId(*b"-XX0000-probeprobe00"), 1);
    req.left = 1;
    let resp = probe.announce(&tracker.announce, &req).await.unwrap();
    let handed: Vec<SocketAddr> = resp.peers.iter().map(|p| p.addr).collect();
    assert!(
        handed.contains(&listen),
        "the tracker hands out {handed:?}, not the seed's {listen}"
    );
    assert!(
        handed
            .iter()
            .all(|a| a.ip() != IpAddr::from([127, 0, 0, 1]) || a.port() == 1),
        "the seed announced from 127.0.0.1 too: {handed:?}"
    );

    let started = Instant::now();
    let (leecher, leech) = common::our_leecher(&f.torrent, f.dst(), &[], true).await;
    common::wait_complete(&leech, Duration::from_secs(60)).await;
    println!(
        "{}",
        common::describe("from 127.0.0.2 via the tracker", started, &leech.stats())
    );
    f.assert_downloaded();
    common::shut_down([leecher, seeder]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_bound_to_127_0_0_2_is_announced_as_127_0_0_2_http() {
    if !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, seed_on_127_0_0_2_through_opentracker(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_bound_to_127_0_0_2_is_announced_as_127_0_0_2_udp() {
    if !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, seed_on_127_0_0_2_through_opentracker(true)).await;
}

/// A leecher listening on 127.0.0.2 dials its peers from 127.0.0.2: a
/// listener on 127.0.0.1 sees it arrive from there, and a seed of ours on
/// 127.0.0.1 lists it under 127.0.0.2 while it downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_connections_leave_from_the_bound_address() {
    common::serially_within(TEST_TIME, async {
        let f = common::Fixture::v1();
        let (seeder, seed) = common::our_seeder(&f.torrent, f.src()).await;
        let watch = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let leecher = Session::new(config_on(TWO)).await.unwrap();
        let leech = leecher
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .seed(false)
                    // About 3 s: time to look at the seed's peers.
                    .download_limit(1 << 20)
                    .peers([watch.local_addr().unwrap(), seeder.listen_addr().unwrap()]),
            )
            .await
            .unwrap();
        let (_stream, from) = watch.accept().await.unwrap();
        assert_eq!(from.ip(), TWO);
        let deadline = Instant::now() + Duration::from_secs(10);
        let seen = loop {
            let seen: Vec<SocketAddr> = seed.peers().iter().map(|p| p.addr).collect();
            if !seen.is_empty() || Instant::now() > deadline {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            !seen.is_empty() && seen.iter().all(|a| a.ip() == TWO),
            "the seed sees {seen:?}"
        );
        common::wait_complete(&leech, Duration::from_secs(60)).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// The TCP connections in the system's tables (`/proc/net/tcp`, `tcp6`,
/// any state but LISTEN) with `port` at either end, as (local, remote)
/// addresses: a dial leaves an entry (established, then TIME_WAIT for a
/// minute) on at least one side. Entries left by earlier tests are
/// removed by subtracting a snapshot taken before the dials.
fn connections_on_port(port: u16) -> HashSet<(SocketAddr, SocketAddr)> {
    let mut out = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state)) = (cols.get(1), cols.get(2), cols.get(3))
            else {
                continue;
            };
            let (Some(l), Some(r)) = (proc_addr(local), proc_addr(remote)) else {
                continue;
            };
            if *state != "0A" && (l.port() == port || r.port() == port) {
                out.insert((l, r));
            }
        }
    }
    out
}

/// An address as `/proc/net/tcp` prints it: the IP in hex as 32-bit words
/// in host order (little-endian here), a colon, the port in hex.
fn proc_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..ip.len()).step_by(8) {
        let word = u32::from_str_radix(ip.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => {
            let v6 = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Given its own listen address (exactly, and as 127.0.0.1 or 127.0.0.2
/// while listening on every address), a session makes no connection to
/// itself, though it dials the other address given in the same batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_dials_its_own_listen_address() {
    common::serially_within(TEST_TIME, async {
        let f = common::Fixture::v1();
        for listen in [TWO, IpAddr::from([0, 0, 0, 0])] {
            let session = Session::new(config_on(listen)).await.unwrap();
            let own = session.listen_addr().unwrap();
            let port = own.port();
            let handle = session
                .add_torrent(&f.torrent, AddTorrentOptions::new(f.dst()).trackers(false))
                .await
                .unwrap();
            let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut given = vec![own, SocketAddr::new(listen, port)];
            if listen.is_unspecified() {
                given.push(SocketAddr::new([127, 0, 0, 1].into(), port));
                given.push(SocketAddr::new(TWO, port));
            }
            given.push(other.local_addr().unwrap());
            let before = connections_on_port(port);
            handle.add_peers(given);
            let (_stream, _) = tokio::time::timeout(Duration::from_secs(10), other.accept())
                .await
                .expect("the other address was not dialled")
                .unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let made: HashSet<_> = connections_on_port(port)
                .difference(&before)
                .copied()
                .collect();
            assert!(
                made.is_empty(),
                "listening on {own}: dialled itself: {made:?}"
            );
            // The check sees a real connection.
            let s = tokio::net::TcpStream::connect(own).await.unwrap();
            assert!(!connections_on_port(port).is_subset(&before));
            drop(s);
            session.shutdown().await;
        }
    })
    .await;
}

/// An address of ours the session cannot know as its own (here a second
/// session with the same peer id, standing for another interface) is
/// dialled once, recognised by the peer id in the handshake, and never
/// again (a failed peer would be retried after 2 s, 4 s...).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_answering_with_our_peer_id_is_dialled_once() {
    common::serially_within(TEST_TIME, async {
        let f = common::Fixture::v1();
        let same_id = SessionConfig {
            peer_id_prefix: b"-SB0100-samesameid12".to_vec(),
            ..config_on(TWO)
        };
        let (twin, _seed) = common::our_seeder_with(same_id.clone(), &f.torrent, f.src()).await;
        let twin_addr = twin.listen_addr().unwrap();
        let session = Session::new(SessionConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..same_id
        })
        .await
        .unwrap();
        assert_eq!(session.peer_id(), twin.peer_id());
        let before = connections_on_port(twin_addr.port());
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .peers([twin_addr]),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(7)).await;
        let made: HashSet<_> = connections_on_port(twin_addr.port())
            .difference(&before)
            .copied()
            .collect();
        // Each dial is one connection to the twin's address, seen from
        // either end.
        let dials: HashSet<SocketAddr> = made
            .iter()
            .filter_map(|&(l, r)| match (l == twin_addr, r == twin_addr) {
                (true, _) => Some(r),
                (_, true) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(dials.len(), 1, "dialled {twin_addr}: {made:?}");
        assert!(handle.peers().is_empty());
        assert_eq!(handle.stats().pieces_have, 0);
        common::shut_down([session, twin]).await;
    })
    .await;
}
