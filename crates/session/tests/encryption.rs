//! Message Stream Encryption (MSE/PE) with real clients on loopback (issue
//! 13): python3-libtorrent with encryption forced both ways and RC4, then
//! plaintext, as the only allowed payload: we download from it (we dial:
//! MSE initiator) and seed to it (it dials: MSE responder); transmission
//! requiring encryption, which we dial both as seeder and as leecher (it
//! never dials loopback peers). Data is compared byte for byte; a forced
//! peer refuses plain connections, so a finished transfer proves the
//! handshake, and an RC4-only peer refuses a plaintext payload.
//!
//! Then the policy at our listening socket, with our own MSE client: a
//! forced session drops plain handshakes, a disabled one drops MSE, and an
//! MSE handshake must name the same torrent in SKEY and in IA.
//!
//! Without python3-libtorrent or transmission-cli the tests print
//! `SKIPPED: <tool> not installed` and return, unless `CI=true`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ChildGuard, Fixture};
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId, TorrentVersion};
use seedbed_peer_wire::mse::{self, Config, PrivateKey, Secrets};
use seedbed_peer_wire::{Handshake, HandshakeCodec, HandshakeEvent};
use seedbed_session::{
    AddTorrentOptions, EncryptionConfig, EncryptionLevel, EncryptionPolicy, Session, SessionConfig,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const TEST_TIME: Duration = Duration::from_secs(120);
const START_TIME: Duration = Duration::from_secs(60);
/// libtorrent's `allowed_enc_level` values.
const LT_PLAINTEXT: u8 = 1;
const LT_RC4: u8 = 2;

fn session_config(policy: EncryptionPolicy, level: EncryptionLevel) -> SessionConfig {
    SessionConfig {
        encryption: EncryptionConfig {
            level,
            ..EncryptionConfig::with_policy(policy)
        },
        ..common::config()
    }
}

fn ready_port(line: &str) -> Option<u16> {
    line.strip_prefix("READY ")?.trim().parse().ok()
}

/// A python3-libtorrent peer (`lt_peer.py seed|leech`) with MSE forced
/// both ways and `level` as its `allowed_enc_level`.
async fn lt_encrypted(
    cmd: &str,
    torrent: &Path,
    dir: &Path,
    connect: Option<SocketAddr>,
    level: u8,
) -> (ChildGuard, SocketAddr) {
    let mut c = Command::new(common::PYTHON);
    c.arg(common::lt_script())
        .args([cmd, torrent.to_str().unwrap(), dir.to_str().unwrap()])
        .args(["--encryption", &level.to_string()]);
    if let Some(a) = connect {
        c.args(["--connect", &a.to_string()]);
    }
    let mut g = ChildGuard::spawn(&format!("libtorrent {cmd}er, encryption {level}"), c);
    let port = g.wait_line(START_TIME, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Downloads `f`'s torrent from `peers` with a session of `config`.
async fn download_with(config: SessionConfig, f: &Fixture, peers: &[SocketAddr], what: &str) {
    let started = Instant::now();
    let session = Session::new(config).await.unwrap();
    let handle = session
        .add_torrent(
            &f.torrent,
            AddTorrentOptions::new(f.dst())
                .trackers(false)
                .seed(false)
                .peers(peers.iter().copied()),
        )
        .await
        .unwrap();
    common::wait_complete(&handle, TEST_TIME).await;
    println!("{}", common::describe(what, started, &handle.stats()));
    session.shutdown().await;
}

async fn download_from_forced_libtorrent(level: u8, ours: SessionConfig, what: &str) {
    let f = Fixture::v1();
    let (_lt, addr) = lt_encrypted("seed", &f.file, f.src(), None, level).await;
    download_with(ours, &f, &[addr], what).await;
    f.assert_downloaded();
}

async fn seed_to_forced_libtorrent(level: u8, what: &str) {
    let f = Fixture::v1();
    let config = session_config(EncryptionPolicy::Forced, EncryptionLevel::Both);
    let (session, handle) = common::our_seeder_with(config, &f.torrent, f.src()).await;
    let ours = session.listen_addr().unwrap();
    let started = Instant::now();
    let (mut lt, _) = lt_encrypted("leech", &f.file, f.dst(), Some(ours), level).await;
    lt.wait_lt_complete(TEST_TIME).await;
    let stats = handle.stats();
    println!("{}", common::describe(what, started, &stats));
    assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
    f.assert_downloaded();
    session.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_forced_rc4() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        // We offer both; an RC4-only responder selects RC4.
        let ours = session_config(EncryptionPolicy::Forced, EncryptionLevel::Both);
        download_from_forced_libtorrent(LT_RC4, ours, "from libtorrent, MSE forced, RC4").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_libtorrent_forced_plaintext() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let ours = session_config(EncryptionPolicy::Forced, EncryptionLevel::Plaintext);
        download_from_forced_libtorrent(
            LT_PLAINTEXT,
            ours,
            "from libtorrent, MSE forced, plaintext",
        )
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_libtorrent_forced_rc4() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(
        TEST_TIME,
        seed_to_forced_libtorrent(LT_RC4, "to libtorrent, MSE forced, RC4"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_libtorrent_forced_plaintext() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(
        TEST_TIME,
        seed_to_forced_libtorrent(LT_PLAINTEXT, "to libtorrent, MSE forced, plaintext"),
    )
    .await;
}

/// The default policy (enabled, plain first) meets a peer that requires
/// encryption: the plain handshake is dropped and the retry uses MSE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_retries_with_mse_when_the_peer_requires_it() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        download_from_forced_libtorrent(
            LT_RC4,
            common::config(),
            "from libtorrent, enabled -> MSE retry",
        )
        .await;
    })
    .await;
}

/// Transmission's `encryption` setting: required.
const TR_REQUIRED: u8 = 2;
/// Transmission's `encryption` setting: tolerated (prefers plain).
const TR_TOLERATED: u8 = 0;

/// A transmission peer with `encryption` (0 tolerated, 2 required) on a
/// free port.
async fn transmission_encrypted(
    torrent: &Path,
    dir: &Path,
    seed: bool,
    encryption: u8,
) -> (ChildGuard, SocketAddr) {
    let port = common::free_port();
    let mut tr = common::transmission_with(torrent, dir, port, seed, encryption);
    if seed {
        tr.wait_line(START_TIME, |l| l.starts_with("Seeding").then_some(()))
            .await;
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    common::wait_listening(addr, START_TIME).await;
    (tr, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_from_transmission_requiring_encryption() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::v1();
        let (_tr, addr) = transmission_encrypted(&f.file, f.src(), true, TR_REQUIRED).await;
        // RC4 only: our handshake rides in the initial payload.
        let ours = session_config(EncryptionPolicy::Forced, EncryptionLevel::Rc4);
        download_with(ours, &f, &[addr], "from transmission, encryption required").await;
        f.assert_downloaded();
    })
    .await;
}

/// Our seeder (MSE forced, either payload: our handshake follows step 4)
/// dials a transmission leecher with `encryption`, which must get
/// everything and verify it.
async fn seed_to_transmission(encryption: u8, what: &str) {
    let f = Fixture::v1();
    let config = session_config(EncryptionPolicy::Forced, EncryptionLevel::Both);
    let (session, handle) = common::our_seeder_with(config, &f.torrent, f.src()).await;
    let started = Instant::now();
    let (mut tr, addr) = transmission_encrypted(&f.file, f.dst(), false, encryption).await;
    // Transmission does not dial loopback peers: we dial it.
    handle.add_peers([addr]);
    common::transmission_leecher_completes(&mut tr, TEST_TIME).await;
    let stats = handle.stats();
    println!("{}", common::describe(what, started, &stats));
    assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
    f.assert_downloaded_but_empty_files();
    session.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_transmission_requiring_encryption() {
    if !common::have_transmission() {
        return;
    }
    let what = "to transmission, encryption required";
    common::serially_within(TEST_TIME, seed_to_transmission(TR_REQUIRED, what)).await;
}

/// A transmission that prefers plain selects a plaintext payload when we
/// offer both. Transmission 3.00 then reads a non-empty initial payload as
/// plaintext and drops the connection; our handshake therefore follows
/// step 4 whenever the payload may be plaintext (`encryption::dial`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_to_transmission_selecting_plaintext_payload() {
    if !common::have_transmission() {
        return;
    }
    let what = "to transmission, MSE with plaintext payload";
    common::serially_within(TEST_TIME, seed_to_transmission(TR_TOLERATED, what)).await;
}

fn our_secrets() -> Secrets {
    Secrets::new(
        PrivateKey::from_bytes(&[0x5e; 20]).unwrap(),
        vec![1; 33],
        vec![],
    )
}

/// Opens an MSE connection to `addr` for `skey`, sending a BitTorrent
/// handshake for `named` as IA; returns the peer's handshake, if it
/// answers one within 5 s.
async fn mse_client(addr: SocketAddr, skey: InfoHash, named: InfoHash) -> Option<Handshake> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake::new(named, PeerId(*b"-XX0000-mse-test-000"));
    let limit = Duration::from_secs(5);
    let s = mse::connect(
        tcp,
        skey,
        &hs.to_bytes(),
        &Config::default(),
        our_secrets(),
        limit,
    )
    .await
    .ok()?;
    let mut f = Framed::new(s, HandshakeCodec::new());
    match tokio::time::timeout(limit, f.next()).await {
        Ok(Some(Ok(HandshakeEvent::Complete(theirs)))) => Some(theirs),
        _ => None,
    }
}

/// Sends a plain handshake for `ih`; returns the answer, if any within 5 s.
async fn plain_client(addr: SocketAddr, ih: InfoHash) -> Option<Handshake> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut f = Framed::new(tcp, HandshakeCodec::new());
    f.send(Handshake::new(ih, PeerId(*b"-XX0000-plain-test-0")))
        .await
        .ok()?;
    match tokio::time::timeout(Duration::from_secs(5), f.next()).await {
        Ok(Some(Ok(HandshakeEvent::Complete(theirs)))) => Some(theirs),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_policy_with_our_own_client() {
    common::within(TEST_TIME, async {
        let f = Fixture::v1();
        let g = Fixture::new(
            |root| common::make_magnet_content(root, 7),
            "g.torrent",
            |content, file| common::build_torrent(content, TorrentVersion::V1, None, file),
        );
        let ih = f.torrent.info_hash();
        let other = g.torrent.info_hash();
        for (policy, plain_ok, mse_ok) in [
            (EncryptionPolicy::Enabled, true, true),
            (EncryptionPolicy::Forced, false, true),
            (EncryptionPolicy::Disabled, true, false),
        ] {
            let config = session_config(policy, EncryptionLevel::Both);
            let (session, _h) = common::our_seeder_with(config, &f.torrent, f.src()).await;
            session
                .add_torrent(&g.torrent, AddTorrentOptions::new(g.src()).trackers(false))
                .await
                .unwrap();
            let addr = session.listen_addr().unwrap();
            let plain = plain_client(addr, ih).await;
            assert_eq!(plain.is_some(), plain_ok, "{policy:?}: plain");
            let enc = mse_client(addr, ih, ih).await;
            assert_eq!(enc.is_some(), mse_ok, "{policy:?}: MSE");
            if let Some(hs) = enc {
                assert_eq!(hs.info_hash, ih);
                assert_eq!(hs.peer_id, session.peer_id());
                // The other torrent is found by its own SKEY.
                assert_eq!(
                    mse_client(addr, other, other).await.map(|h| h.info_hash),
                    Some(other)
                );
                // SKEY names one torrent, the handshake another: dropped.
                assert!(mse_client(addr, ih, other).await.is_none());
                // An unknown SKEY: dropped.
                assert!(mse_client(addr, InfoHash([9; 20]), ih).await.is_none());
            }
            session.shutdown().await;
        }
    })
    .await;
}

/// A peer that connects and sends padding forever, or nothing, is dropped
/// by our listener within the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalling_peers_are_dropped_within_the_timeout() {
    common::within(TEST_TIME, async {
        let f = Fixture::v1();
        let config = SessionConfig {
            connect_timeout: Duration::from_secs(1),
            ..common::config()
        };
        let (session, _h) = common::our_seeder_with(config, &f.torrent, f.src()).await;
        let addr = session.listen_addr().unwrap();
        let key = PrivateKey::from_bytes(&[3; 20]).unwrap().public_key();
        for what in ["silent", "trickle"] {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let started = Instant::now();
            if what == "trickle" {
                use tokio::io::AsyncWriteExt;
                tcp.write_all(&key.0).await.unwrap();
            }
            let (mut rd, mut wr) = tcp.into_split();
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                if what == "trickle" {
                    // One byte of padding every 5 ms: under the 512-byte
                    // bound for longer than the timeout.
                    while wr.write_all(&[0xee]).await.is_ok() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(wr);
                }
            });
            // Read (and discard our listener's public key) until it closes.
            let mut buf = [0u8; 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let took = started.elapsed();
            writer.abort();
            assert!(
                took < Duration::from_secs(3),
                "{what}: dropped after {took:?}"
            );
        }
        session.shutdown().await;
    })
    .await;
}
