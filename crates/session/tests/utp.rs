//! Peer connections over uTP (BEP 29), issue 12: our session against
//! python3-libtorrent set to uTP only (TCP off both ways), downloading a
//! multi-file torrent from it and seeding one to it, the data compared
//! byte for byte; the same both ways with transmission (libutp, uTP on
//! beside its TCP; our session uTP only); and between two sessions of
//! ours, which transport each setting picks (uTP first, TCP as the
//! fallback, or one only), as the stats show.
//!
//! Without python3-libtorrent or transmission-cli the tests that need them
//! print `SKIPPED: <tool> not installed` and return, unless `CI=true`,
//! when they fail.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Fixture;
use seedbed_session::{SessionConfig, Stats, TorrentHandle, Transport, Transports};

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

/// Transports of the peers `handle` has had, sampled every 20 ms until
/// the returned guard is dropped.
struct Watch {
    seen: Arc<Mutex<HashSet<Transport>>>,
    max_utp: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn new(handle: &TorrentHandle) -> Watch {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let max_utp = Arc::new(Mutex::new(0));
        let (h, s, m) = (handle.clone(), Arc::clone(&seen), Arc::clone(&max_utp));
        let task = tokio::spawn(async move {
            loop {
                for p in h.peers() {
                    s.lock().unwrap().insert(p.transport);
                }
                let utp = h.stats().peers_utp;
                {
                    let mut m = m.lock().unwrap();
                    *m = (*m).max(utp);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Watch {
            seen,
            max_utp,
            task,
        }
    }

    fn seen(&self) -> HashSet<Transport> {
        self.seen.lock().unwrap().clone()
    }

    fn max_utp(&self) -> usize {
        *self.max_utp.lock().unwrap()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config(transports: Transports) -> SessionConfig {
    SessionConfig {
        transports,
        utp_connect_timeout: Duration::from_millis(700),
        ..common::config()
    }
}

/// Downloads `f` from `peer` with a session of `transports`; returns the
/// stats and the transports its peers used.
async fn download(
    f: &Fixture,
    transports: Transports,
    peer: std::net::SocketAddr,
    what: &str,
) -> (Stats, HashSet<Transport>, usize) {
    let (session, handle) =
        common::our_leecher_with(config(transports), &f.torrent, f.dst(), &[peer], false).await;
    let watch = Watch::new(&handle);
    let started = Instant::now();
    common::wait_complete(&handle, TEST_TIME).await;
    let stats = handle.stats();
    println!("{}", common::describe(what, started, &stats));
    assert_eq!(stats.pieces_have, stats.num_pieces);
    f.assert_downloaded();
    session.shutdown().await;
    (stats, watch.seen(), watch.max_utp())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_multi_file_from_libtorrent_over_utp_only() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        assert!(f.torrent.info().files().len() > 1, "a multi-file torrent");
        let (_lt, addr) = common::lt_seed_utp(&f.file, f.src(), START_TIME).await;
        // Both transports on our side: uTP is dialled first, and it is the
        // only one libtorrent answers.
        let (stats, seen, max_utp) =
            download(&f, Transports::Both, addr, "from libtorrent over uTP").await;
        assert_eq!(seen, HashSet::from([Transport::Utp]), "{stats:?}");
        assert_eq!(max_utp, 1, "the stats count the uTP peer");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utp_only_session_downloads_from_libtorrent_over_utp() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_lt, addr) = common::lt_seed_utp(&f.file, f.src(), START_TIME).await;
        let (_, seen, _) =
            download(&f, Transports::UtpOnly, addr, "uTP only from libtorrent").await;
        assert_eq!(seen, HashSet::from([Transport::Utp]));
    })
    .await;
}

/// Our session seeds `f` on both transports; a uTP-only libtorrent leecher
/// dials our listen port over uTP, gets everything and rechecks it from
/// disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_multi_file_to_libtorrent_over_utp_only() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (session, handle) =
            common::our_seeder_with(config(Transports::Both), &f.torrent, f.src()).await;
        let ours = session.listen_addr().unwrap();
        let watch = Watch::new(&handle);
        let started = Instant::now();
        let (mut lt, _) = common::lt_leech_utp(&f.file, f.dst(), ours, START_TIME).await;
        lt.wait_lt_complete(TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("to libtorrent over uTP", started, &stats)
        );
        f.assert_downloaded();
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        assert_eq!(watch.seen(), HashSet::from([Transport::Utp]));
        let peers = handle.peers();
        assert!(
            peers
                .iter()
                .all(|p| p.transport == Transport::Utp && !p.outgoing),
            "{peers:?}"
        );
        session.shutdown().await;
    })
    .await;
}

/// 32 MiB seeded to a uTP-only libtorrent leecher with the default 4 MiB
/// send window: enough data for losses in libtorrent's socket buffer, after
/// which its acks carry selective acks of `(span + 7) / 8` bytes. When our
/// parser refused lengths that are not a multiple of 4, this upload stalled
/// after 0.4 to 70 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_32_mib_to_libtorrent_over_utp() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::new(
            |root| common::make_content_with_big(root, 32 << 20),
            "big.torrent",
            |content, file| {
                common::build_torrent(content, seedbed_metainfo::TorrentVersion::V1, None, file)
            },
        );
        let (session, handle) =
            common::our_seeder_with(config(Transports::UtpOnly), &f.torrent, f.src()).await;
        let ours = session.listen_addr().unwrap();
        let started = Instant::now();
        let (mut lt, _) = common::lt_leech_utp(&f.file, f.dst(), ours, START_TIME).await;
        lt.wait_lt_complete(Duration::from_secs(90)).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("32 MiB to libtorrent over uTP", started, &stats)
        );
        f.assert_downloaded();
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        session.shutdown().await;
    })
    .await;
}

/// Two sessions of ours: which transport each pair of settings ends up
/// on, and that every byte arrives either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_between_our_sessions() {
    common::serially_within(TEST_TIME, async {
        for (seeder, leecher, expected) in [
            (Transports::Both, Transports::Both, Transport::Utp),
            (Transports::Both, Transports::UtpOnly, Transport::Utp),
            (Transports::UtpOnly, Transports::Both, Transport::Utp),
            (Transports::Both, Transports::TcpOnly, Transport::Tcp),
            // The seeder has no uTP (and, without a DHT, no UDP socket):
            // the uTP attempt fails and TCP follows.
            (Transports::TcpOnly, Transports::Both, Transport::Tcp),
        ] {
            let f = Fixture::v1();
            let (seed_session, _seed) =
                common::our_seeder_with(config(seeder), &f.torrent, f.src()).await;
            let addr = seed_session.listen_addr().unwrap();
            let what = format!("{seeder:?} seeder to {leecher:?} leecher");
            let (_, seen, _) = download(&f, leecher, addr, &what).await;
            assert_eq!(seen, HashSet::from([expected]), "{what}");
            seed_session.shutdown().await;
        }
    })
    .await;
}

/// A uTP-only session cannot reach a TCP-only one, and says so by never
/// connecting (no transport in common); the seeder's TCP port stays
/// unused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utp_only_does_not_fall_back_to_tcp() {
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (seed_session, _seed) =
            common::our_seeder_with(config(Transports::TcpOnly), &f.torrent, f.src()).await;
        let addr = seed_session.listen_addr().unwrap();
        let (session, handle) = common::our_leecher_with(
            SessionConfig {
                connect_timeout: Duration::from_millis(800),
                ..config(Transports::UtpOnly)
            },
            &f.torrent,
            f.dst(),
            &[addr],
            false,
        )
        .await;
        let watch = Watch::new(&handle);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(watch.seen().is_empty(), "{:?}", watch.seen());
        assert_eq!(handle.stats().downloaded, 0);
        session.shutdown().await;
        seed_session.shutdown().await;
    })
    .await;
}

/// Message Stream Encryption over uTP: libtorrent on uTP only with MSE
/// forced both ways (RC4 payload) seeds to our session with encryption
/// forced; every byte arrives, over uTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_over_utp_with_rc4_forced() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let mut c = std::process::Command::new(common::PYTHON);
        c.arg(common::lt_script())
            .args(["seed", f.file.to_str().unwrap(), f.src().to_str().unwrap()])
            .args(["--utp-only", "--encryption", "2"]);
        let mut lt = common::ChildGuard::spawn("libtorrent uTP seeder, RC4 forced", c);
        let port: u16 = lt
            .wait_line(START_TIME, |l| {
                l.strip_prefix("READY ")?.trim().parse().ok()
            })
            .await;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let (session, handle) = common::our_leecher_with(
            SessionConfig {
                encryption: seedbed_session::EncryptionConfig {
                    level: seedbed_session::EncryptionLevel::Rc4,
                    ..seedbed_session::EncryptionConfig::with_policy(
                        seedbed_session::EncryptionPolicy::Forced,
                    )
                },
                ..config(Transports::Both)
            },
            &f.torrent,
            f.dst(),
            &[addr],
            false,
        )
        .await;
        let watch = Watch::new(&handle);
        let started = Instant::now();
        common::wait_complete(&handle, TEST_TIME).await;
        println!(
            "{}",
            common::describe("from libtorrent over uTP, RC4", started, &handle.stats())
        );
        f.assert_downloaded();
        assert_eq!(watch.seen(), HashSet::from([Transport::Utp]));
        session.shutdown().await;
    })
    .await;
}

/// MSE over uTP between our sessions, both forcing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_over_utp_between_our_sessions() {
    common::serially_within(TEST_TIME, async {
        let forced = SessionConfig {
            encryption: seedbed_session::EncryptionConfig::with_policy(
                seedbed_session::EncryptionPolicy::Forced,
            ),
            ..config(Transports::UtpOnly)
        };
        let f = Fixture::v1();
        let (seed_session, _seed) =
            common::our_seeder_with(forced.clone(), &f.torrent, f.src()).await;
        let addr = seed_session.listen_addr().unwrap();
        let (session, handle) =
            common::our_leecher_with(forced, &f.torrent, f.dst(), &[addr], false).await;
        let watch = Watch::new(&handle);
        common::wait_complete(&handle, TEST_TIME).await;
        f.assert_downloaded();
        assert_eq!(watch.seen(), HashSet::from([Transport::Utp]));
        common::shut_down([session, seed_session]).await;
    })
    .await;
}

/// libutp (transmission's uTP) as the sender: our uTP-only session
/// downloads a multi-file torrent from a transmission seeder with uTP on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_over_utp() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_tr, addr) = common::transmission_seed_with(&f.file, f.src(), START_TIME, true).await;
        let (stats, seen, _) =
            download(&f, Transports::UtpOnly, addr, "uTP only from transmission").await;
        assert_eq!(seen, HashSet::from([Transport::Utp]), "{stats:?}");
    })
    .await;
}

/// libutp as the receiver: our uTP-only seed dials a transmission
/// leecher (transmission never dials loopback peers), which verifies every
/// piece and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_transmission_over_utp() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (session, handle) =
            common::our_seeder_with(config(Transports::UtpOnly), &f.torrent, f.src()).await;
        let watch = Watch::new(&handle);
        let port = common::free_port();
        let started = Instant::now();
        let mut tr = common::transmission_utp(&f.file, f.dst(), port, false);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        common::wait_listening(addr, START_TIME).await;
        handle.add_peers([addr]);
        common::transmission_leecher_completes(&mut tr, TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("to transmission over uTP", started, &stats)
        );
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        assert_eq!(watch.seen(), HashSet::from([Transport::Utp]), "{stats:?}");
        f.assert_downloaded_but_empty_files();
        session.shutdown().await;
    })
    .await;
}
