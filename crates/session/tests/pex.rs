//! Peer exchange (BEP 11, `ut_pex`, issue #7): three sessions of ours
//! where only one knows the seed's address, the third learns it through
//! PeX and downloads from it (from .torrent files and from magnet links);
//! what a session sends (first message soon after the extension
//! handshake, then at most once a minute, with added and dropped peers);
//! learned peers are connected within `max_peers`; nothing of it for
//! private torrents (BEP 27).
//!
//! Only sessions of ours and fake peers written here with the peer-wire
//! codecs: no external tool. Everything is on 127.0.0.1, so IPv6
//! (`added6`, `dropped6`) is not exercised here.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, Magnet, PeerId, Torrent, TorrentBuilder, TorrentVersion};
use seedbed_peer_wire::{
    ExtendedHandshake, Handshake, HandshakeCodec, HandshakeEvent, Limits, Message, MessageCodec,
    PexMessage, Reserved, UT_METADATA, UT_PEX,
};
use seedbed_session::{AddTorrentOptions, Event, Session, SessionConfig, Status, TorrentHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_util::codec::Framed;

const TEST_TIME: Duration = Duration::from_secs(120);

/// The ids the fake peers give `ut_pex` and `ut_metadata` in their
/// extension handshakes.
const FAKE_UT_PEX: u8 = 7;
const FAKE_UT_METADATA: u8 = 3;

type Wire = Framed<TcpStream, MessageCodec>;

fn fake_reserved() -> Reserved {
    Reserved::ZERO
        .with(Reserved::FAST)
        .with(Reserved::EXTENSION_PROTOCOL)
}

fn fake_ext_handshake() -> ExtendedHandshake {
    ExtendedHandshake {
        m: BTreeMap::from([
            (UT_PEX.to_string(), FAKE_UT_PEX),
            (UT_METADATA.to_string(), FAKE_UT_METADATA),
        ]),
        v: Some("pex-fake".into()),
        reqq: Some(250),
        ..ExtendedHandshake::default()
    }
}

/// A seed of `torrent` from `dir` with no regular upload slot: it unchokes
/// only its optimistic peer, chosen at its first choker round (about 10 s
/// after it starts) and rotated every 30 s. Its leechers stay incomplete,
/// and connected to it, long enough to tell others about it with PeX.
async fn stingy_seed(torrent: &Torrent, dir: &Path) -> (Session, TorrentHandle) {
    let config = SessionConfig {
        unchoke_slots: 0,
        ..common::config()
    };
    common::our_seeder_with(config, torrent, dir).await
}

/// A session that accepts no connections: every peer it talks to, it
/// dialled, so a `PeerConnected` with an address is a dial to that address.
fn dial_only_config() -> SessionConfig {
    SessionConfig {
        listen: None,
        ..common::config()
    }
}

/// Adds `torrent` to `session` with `opts`, with `peer` as its only peer:
/// from a magnet link naming `peer` if `magnet`, else from the .torrent.
async fn add_given_one_peer(
    session: &Session,
    torrent: &Torrent,
    magnet: bool,
    opts: AddTorrentOptions,
    peer: SocketAddr,
) -> TorrentHandle {
    if magnet {
        let m = Magnet::from(torrent).with_peer(peer);
        session.add_magnet(&m, opts).await.unwrap()
    } else {
        session
            .add_torrent(torrent, opts.peers([peer]))
            .await
            .unwrap()
    }
}

/// A seed A, a leecher B given A, a leecher C given only B (from .torrent
/// files, or from magnet links when `magnets`): C must learn A from B's
/// `ut_pex` and connect to it; both complete with the right data.
async fn three_sessions(magnets: bool) {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let c_dir = tempfile::tempdir().unwrap();
    let content = common::make_content(a_dir.path());
    let torrent = common::build_torrent(
        &content,
        TorrentVersion::V1,
        None,
        &a_dir.path().join("t.torrent"),
    );
    let (a, _a_handle) = stingy_seed(&torrent, a_dir.path()).await;
    let a_addr = a.listen_addr().unwrap();

    let b = Session::new(common::config()).await.unwrap();
    let b_addr = b.listen_addr().unwrap();
    let b_opts = AddTorrentOptions::new(b_dir.path()).trackers(false);
    let b_handle = add_given_one_peer(&b, &torrent, magnets, b_opts, a_addr).await;
    let b_events = common::Recorder::new(&b_handle);
    // Once B is connected to A as a torrent peer (for a magnet, after
    // the metadata exchange), C comes.
    assert!(
        b_events
            .wait_for(Duration::from_secs(20), |e| *e
                == Event::PeerConnected { addr: a_addr })
            .await,
        "B connects to A: {:?}",
        b_events.events()
    );

    let started = Instant::now();
    let c = Session::new(dial_only_config()).await.unwrap();
    let c_opts = AddTorrentOptions::new(c_dir.path())
        .trackers(false)
        .seed(false);
    let c_handle = add_given_one_peer(&c, &torrent, magnets, c_opts, b_addr).await;
    let c_events = common::Recorder::new(&c_handle);
    // B's first PeX comes about 2 s after C's extension handshake.
    let learned = c_events
        .wait_for(Duration::from_secs(20), |e| {
            *e == Event::PeerConnected { addr: a_addr }
        })
        .await;
    assert!(
        learned,
        "C connects to A's address, which only B's PeX could tell it; C: {:?}\nB: {:?}",
        c_events.events(),
        b_events.events()
    );
    println!(
        "C connected to A {:.1} s after it started",
        started.elapsed().as_secs_f64()
    );
    assert!(c_events.any(|e| *e == Event::PeerConnected { addr: b_addr }));

    common::wait_complete(&c_handle, TEST_TIME).await;
    common::wait_complete(&b_handle, TEST_TIME).await;
    let stats = c_handle.stats();
    println!("{}", common::describe("C (via PeX)", started, &stats));
    assert_eq!(stats.pieces_have, stats.num_pieces);
    common::assert_same_tree(&content, &b_dir.path().join("content"));
    common::assert_same_tree(&content, &c_dir.path().join("content"));
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_session_learns_the_seed_through_pex() {
    common::serially_within(TEST_TIME, three_sessions(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_session_learns_the_seed_through_pex_from_magnets() {
    common::serially_within(TEST_TIME, three_sessions(true)).await;
}

/// A fake peer on 127.0.0.1 that accepts connections for `info_hash`,
/// handshakes (fast and extension bits, the extension handshake of
/// [`fake_ext_handshake`], `have none`), then only reads, until the test
/// closes it.
struct FakeListener {
    addr: SocketAddr,
    /// Completed handshakes.
    handshakes: Arc<AtomicU64>,
    close: watch::Sender<bool>,
}

impl FakeListener {
    async fn start(info_hash: InfoHash) -> FakeListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicU64::new(0));
        let (close, closed) = watch::channel(false);
        let n = Arc::clone(&handshakes);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = Arc::clone(&n);
                let mut closed = closed.clone();
                tokio::spawn(async move {
                    let Ok(mut wire) = accept_handshake(stream, info_hash).await else {
                        return;
                    };
                    n.fetch_add(1, Ordering::Relaxed);
                    loop {
                        tokio::select! {
                            _ = closed.wait_for(|c| *c) => return,
                            msg = wire.next() => match msg {
                                Some(Ok(_)) => {}
                                _ => return,
                            },
                        }
                    }
                });
            }
        });
        FakeListener {
            addr,
            handshakes,
            close,
        }
    }

    fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// Closes every connection (they become "dropped" for PeX).
    fn close_all(&self) {
        let _ = self.close.send(true);
    }
}

async fn accept_handshake(
    stream: TcpStream,
    info_hash: InfoHash,
) -> Result<Wire, seedbed_peer_wire::Error> {
    let Some((framed, _)) = common::answer_handshake(
        stream,
        info_hash,
        PeerId(*b"-XX0001-listenlisten"),
        fake_reserved(),
        |theirs| assert_eq!(theirs.info_hash, info_hash),
    )
    .await?
    else {
        return Err(std::io::Error::other("no handshake").into());
    };
    let mut wire = framed.map_codec(|_| MessageCodec::new(Limits::new()));
    wire.feed(fake_ext_handshake().to_message()).await?;
    wire.send(Message::HaveNone).await?;
    Ok(wire)
}

/// Dials a session at `addr` for `info_hash` as a fake peer: handshake,
/// our extension handshake, `have none`. Returns the wire and the
/// session's extension handshake.
async fn dial(addr: SocketAddr, info_hash: InfoHash) -> (Wire, ExtendedHandshake) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    framed
        .send(
            Handshake::new(info_hash, PeerId(*b"-XX0001-pexpexpexpex"))
                .with_reserved(fake_reserved()),
        )
        .await
        .unwrap();
    let Some(Ok(HandshakeEvent::Complete(theirs))) = framed.next().await else {
        panic!("the session answers the handshake");
    };
    assert_eq!(theirs.info_hash, info_hash);
    assert!(theirs.reserved.extension_protocol());
    let mut wire = framed.map_codec(|_| MessageCodec::new(Limits::new()));
    wire.feed(fake_ext_handshake().to_message()).await.unwrap();
    wire.send(Message::HaveNone).await.unwrap();
    let hs = loop {
        match timeout(Duration::from_secs(10), wire.next()).await {
            Ok(Some(Ok(Message::Extended { id: 0, payload }))) => {
                break ExtendedHandshake::decode(&payload, &Limits::new()).unwrap()
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no extension handshake from the session: {other:?}"),
        }
    };
    (wire, hs)
}

/// The next `ut_pex` message the session sends on `wire` within `limit`,
/// with when it came; `None` if none came.
async fn next_pex(wire: &mut Wire, limit: Duration) -> Option<(PexMessage, Instant)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = match tokio::time::timeout_at(deadline, wire.next()).await {
            Err(_) => return None,
            Ok(None) => panic!("the session closed the connection"),
            Ok(Some(m)) => m.unwrap(),
        };
        if let Message::Extended { id, payload } = msg {
            if id == FAKE_UT_PEX {
                return Some((PexMessage::decode(&payload).unwrap(), Instant::now()));
            }
        }
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("not IPv4: {a}"),
    }
}

/// Our seed of a small torrent (`private` or not) in `dir`, recording its
/// events, and connected to a fake listener L1 (`l1`).
struct SeedWithFake {
    torrent: Torrent,
    session: Session,
    handle: TorrentHandle,
    events: common::Recorder,
    l1: FakeListener,
}

async fn seed_with_fake(dir: &Path, private: bool) -> SeedWithFake {
    let (_, torrent) = small_torrent(dir, private);
    let (session, handle) = common::our_seeder(&torrent, dir).await;
    let events = common::Recorder::new(&handle);
    let l1 = FakeListener::start(torrent.info_hash()).await;
    handle.add_peers([l1.addr]);
    assert!(
        events
            .wait_for(Duration::from_secs(10), |e| *e
                == Event::PeerConnected { addr: l1.addr })
            .await
    );
    SeedWithFake {
        torrent,
        session,
        handle,
        events,
        l1,
    }
}

/// A torrent of small content (no data needed for the fakes' tests).
fn small_torrent(dir: &Path, private: bool) -> (std::path::PathBuf, Torrent) {
    let content = common::make_content(dir);
    let created = TorrentBuilder::new(TorrentVersion::V1)
        .piece_length(common::PIECE)
        .private(private)
        .build_from_path(&content, |_, _| {})
        .unwrap();
    let torrent = Torrent::from_bytes(created.into_bytes()).unwrap();
    assert_eq!(torrent.info().is_private(), private);
    (content, torrent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pex_first_soon_then_at_most_once_a_minute() {
    common::within(Duration::from_secs(150), async {
        let dir = tempfile::tempdir().unwrap();
        let SeedWithFake {
            torrent,
            session,
            handle,
            events,
            l1,
        } = seed_with_fake(dir.path(), false).await;
        let hash = torrent.info_hash();
        let l2 = FakeListener::start(hash).await;

        let (mut wire, hs) = dial(session.listen_addr().unwrap(), hash).await;
        let connected = Instant::now();
        assert!(hs.m.contains_key(UT_PEX), "ut_pex offered: {hs:?}");
        assert!(
            hs.m.contains_key(UT_METADATA),
            "ut_metadata offered: {hs:?}"
        );
        assert_eq!(
            hs.metadata_size,
            Some(torrent.info().raw().len() as u32),
            "metadata_size is the info dict's size"
        );

        let (first, at) = next_pex(&mut wire, Duration::from_secs(10))
            .await
            .expect("a first PeX message soon after the extension handshake");
        println!(
            "first PeX {:.1} s after the handshake: {first:?}",
            (at - connected).as_secs_f64()
        );
        assert!(first.added.contains(&v4(l1.addr)), "{first:?}");
        assert_eq!(first.added_flags.len(), first.added.len(), "{first:?}");
        assert!(first.dropped.is_empty(), "{first:?}");

        // Changes: L1 goes away, L2 comes.
        l1.close_all();
        handle.add_peers([l2.addr]);
        assert!(
            events
                .wait_for(Duration::from_secs(10), |e| *e
                    == Event::PeerConnected { addr: l2.addr })
                .await
        );
        assert!(
            events
                .wait_for(Duration::from_secs(10), |e| *e
                    == Event::PeerDisconnected { addr: l1.addr })
                .await
        );
        let (second, at2) = next_pex(&mut wire, Duration::from_secs(75))
            .await
            .expect("a second PeX message about a minute later");
        let gap = at2 - at;
        println!(
            "second PeX {:.1} s after the first: {second:?}",
            gap.as_secs_f64()
        );
        assert!(
            gap >= Duration::from_secs(58),
            "PeX at most once a minute: {gap:?}"
        );
        assert!(second.added.contains(&v4(l2.addr)), "{second:?}");
        assert!(second.dropped.contains(&v4(l1.addr)), "{second:?}");
        assert!(!second.added.contains(&v4(l1.addr)), "{second:?}");
        assert_eq!(l2.handshakes(), 1);
        session.shutdown().await;
    })
    .await;
}

/// A leecher of ours (torrent `private` or not, `max_peers` 2) dialled by
/// a fake peer that sends it a PeX message with three more fake peers.
/// Returns how many of those three it connected to within 6 s.
async fn learned_from_fake_pex(private: bool) -> (u64, ExtendedHandshake, bool) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let (_, torrent) = small_torrent(src.path(), private);
    let hash = torrent.info_hash();
    let leecher = Session::new(common::config()).await.unwrap();
    let handle = leecher
        .add_torrent(
            &torrent,
            AddTorrentOptions::new(dst.path())
                .trackers(false)
                .max_peers(2),
        )
        .await
        .unwrap();
    // Incoming connections are refused while the data is checked.
    let deadline = Instant::now() + Duration::from_secs(20);
    while handle.status() != Status::Downloading {
        assert!(Instant::now() < deadline, "{:?}", handle.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut xs = Vec::new();
    for _ in 0..3 {
        xs.push(FakeListener::start(hash).await);
    }
    let (mut wire, hs) = dial(leecher.listen_addr().unwrap(), hash).await;
    // Their id for ut_pex if they offer it; else the id a session of ours
    // gives it for public torrents (so that a private torrent that still
    // decoded it would be caught).
    let id = hs.m.get(UT_PEX).copied().unwrap_or(2);
    let pex = PexMessage {
        added: xs.iter().map(|x| v4(x.addr)).collect(),
        added_flags: vec![Default::default(); xs.len()],
        ..PexMessage::default()
    };
    wire.send(Message::Extended {
        id,
        payload: pex.to_bytes(),
    })
    .await
    .unwrap();
    // Keep reading (and so the connection open) for 6 s; note whether a
    // PeX message comes from the session.
    let got_pex = next_pex(&mut wire, Duration::from_secs(6)).await.is_some();
    let n = xs.iter().map(FakeListener::handshakes).sum();
    leecher.shutdown().await;
    (n, hs, got_pex)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_peers_are_connected_within_max_peers() {
    common::within(TEST_TIME, async {
        let (n, hs, _) = learned_from_fake_pex(false).await;
        assert!(hs.m.contains_key(UT_PEX), "{hs:?}");
        assert_eq!(
            n, 1,
            "with max_peers 2 and one peer connected, one learned peer is dialled"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pex_for_private_torrents() {
    common::within(TEST_TIME, async {
        let (n, hs, got_pex) = learned_from_fake_pex(true).await;
        assert!(
            !hs.m.contains_key(UT_PEX),
            "a private torrent does not offer ut_pex: {hs:?}"
        );
        assert!(!got_pex, "no PeX message for a private torrent");
        assert_eq!(n, 0, "peers from PeX are not used for a private torrent");

        // Nor does a private seed with a peer to tell about send PeX.
        let dir = tempfile::tempdir().unwrap();
        let SeedWithFake {
            torrent,
            session,
            handle: _handle,
            events: _events,
            l1: _l1,
        } = seed_with_fake(dir.path(), true).await;
        let (mut wire, hs) = dial(session.listen_addr().unwrap(), torrent.info_hash()).await;
        assert!(!hs.m.contains_key(UT_PEX), "{hs:?}");
        assert!(
            next_pex(&mut wire, Duration::from_secs(5)).await.is_none(),
            "a private seed sends no PeX"
        );
        session.shutdown().await;
    })
    .await;
}
