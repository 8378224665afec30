//! Magnet links end to end (issue #7): our session starts from a magnet
//! link, fetches the info dict with `ut_metadata` (BEP 9) and downloads
//! from python3-libtorrent and transmission seeders (peers from `x.pe`, or
//! from opentracker through `tr`); a libtorrent leecher starts from our
//! magnet link and gets the info dict and the data from our seed; a peer
//! that serves another info dict does not poison the torrent; a peer that
//! claims a metadata size above `SessionConfig::max_metadata_size` is
//! never asked for it. Data is compared byte for byte.
//!
//! The content has 400 small files besides the usual ones, so its info
//! dict spans two 16 KiB metadata pieces.
//!
//! Without python3-libtorrent, transmission-cli or opentracker the tests
//! that need them print `SKIPPED: <tool> not installed` and return, unless
//! `CI=true`, when they fail. The fake peers are written here with the
//! peer-wire codecs and need no tool.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Fixture, Recorder};
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, Magnet, PeerId, Torrent, TorrentVersion};
use seedbed_peer_wire::{
    Bytes, ExtendedHandshake, Limits, Message, MessageCodec, MetadataMessage, Reserved,
    METADATA_PIECE_LEN, UT_METADATA,
};
use seedbed_session::{
    AddTorrentOptions, Event, Session, SessionConfig, Stats, Status, TorrentHandle,
};
use tokio::net::{TcpListener, TcpStream};

const TEST_TIME: Duration = Duration::from_secs(180);
const START_TIME: Duration = Duration::from_secs(60);

/// Our `ut_metadata` id in the fake peers' extension handshakes.
const FAKE_UT_METADATA: u8 = 3;

/// The magnet test content ([`common::make_magnet_content`], seed 1) and
/// its v1 torrent, in `src/t.torrent`.
fn magnet_fixture() -> Fixture {
    Fixture::new(
        |root| common::make_magnet_content(root, 1),
        "t.torrent",
        |content, file| {
            let torrent = common::build_torrent(content, TorrentVersion::V1, None, file);
            assert!(
                torrent.info().raw().len() > METADATA_PIECE_LEN as usize,
                "the info dict spans several metadata pieces: {} bytes",
                torrent.info().raw().len()
            );
            torrent
        },
    )
}

/// A torrent of other content (`make` in `other`): a decoy whose info dict
/// a liar serves.
fn decoy(other: &Path, make: impl FnOnce(&Path) -> PathBuf) -> Torrent {
    common::build_torrent(
        &make(other),
        TorrentVersion::V1,
        None,
        &other.join("decoy.torrent"),
    )
}

/// Options to download into `dst` from the peers of the link alone: no
/// trackers, no seeding afterwards.
fn leech_opts(dst: &Path) -> AddTorrentOptions {
    AddTorrentOptions::new(dst).trackers(false).seed(false)
}

/// Adds `magnet` to `session` and checks that the handle exists at once,
/// fetching metadata. Returns the handle and a recorder of its events.
async fn add_magnet(
    session: &Session,
    magnet: &Magnet,
    opts: AddTorrentOptions,
) -> (TorrentHandle, Recorder) {
    let handle = session.add_magnet(magnet, opts).await.unwrap();
    let events = Recorder::new(&handle);
    assert_eq!(
        handle.status(),
        Status::FetchingMetadata,
        "a magnet torrent starts by fetching its info dict"
    );
    assert_eq!(handle.info_hash(), magnet.info_hash());
    (handle, events)
}

/// A fresh session of ours with `config`, and `magnet` added to it with
/// `opts` (see [`add_magnet`]).
async fn magnet_leecher(
    config: SessionConfig,
    magnet: &Magnet,
    opts: AddTorrentOptions,
) -> (Session, TorrentHandle, Recorder) {
    let session = Session::new(config).await.unwrap();
    let (handle, events) = add_magnet(&session, magnet, opts).await;
    (session, handle, events)
}

/// The events so far, once the `Finished` status event has come (it
/// follows the watch value closely; waits up to 5 s for it).
async fn events_once_finished(events: &Recorder) -> Vec<Event> {
    events
        .wait_for(Duration::from_secs(5), |e| {
            *e == Event::StatusChanged(Status::Finished)
        })
        .await;
    events.events()
}

/// What every magnet download must show: one `MetadataReceived`, before
/// any piece was verified and before the status left `FetchingMetadata`.
fn assert_metadata_first(events: &[Event]) {
    let received: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Event::MetadataReceived { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        received.len(),
        1,
        "the info dict is accepted once: {events:?}"
    );
    let first_piece = events
        .iter()
        .position(|e| matches!(e, Event::PieceVerified { .. }));
    assert!(
        first_piece.is_some_and(|p| p > received[0]),
        "pieces come after the metadata: {events:?}"
    );
    let first_download = events
        .iter()
        .position(|e| *e == Event::StatusChanged(Status::Downloading));
    assert!(
        first_download.is_some_and(|p| p > received[0]),
        "the status goes from FetchingMetadata to Downloading after the metadata: {events:?}"
    );
}

/// Downloads `magnet` into `f`'s `dst` with a fresh session of ours (peers
/// from the link's `x.pe`, trackers from its `tr` if `trackers`), without
/// seeding afterwards, and prints how it went (as `what`). Returns the
/// stats and the events.
async fn download_magnet(
    f: &Fixture,
    magnet: &Magnet,
    trackers: bool,
    what: &str,
) -> (Stats, Vec<Event>) {
    let started = Instant::now();
    let (session, handle, events) = magnet_leecher(
        common::config(),
        magnet,
        AddTorrentOptions::new(f.dst())
            .trackers(trackers)
            .seed(false),
    )
    .await;
    common::wait_complete(&handle, TEST_TIME).await;
    assert_eq!(handle.status(), Status::Finished);
    let stats = handle.stats();
    assert_eq!(stats.pieces_have, stats.num_pieces);
    assert!(stats.num_pieces > 0, "{stats:?}");
    assert!(stats.downloaded >= stats.total_bytes / 2, "{stats:?}");
    let events = events_once_finished(&events).await;
    assert_metadata_first(&events);
    session.shutdown().await;
    println!("{}", common::describe(what, started, &stats));
    (stats, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_from_libtorrent_by_x_pe() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = magnet_fixture();
        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;

        // The link alone: info hash, name, and the seeder as x.pe.
        let magnet = Magnet::from(&f.torrent).with_peer(addr);
        download_magnet(&f, &magnet, false, "magnet from libtorrent (x.pe)").await;
        f.assert_downloaded();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_from_libtorrent_through_opentracker() {
    if !common::have_libtorrent() || !common::have_opentracker() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let (f, tracker) =
            common::fixture_on_opentracker(|root| common::make_magnet_content(root, 1), false)
                .await;
        let url = &tracker.announce;
        let (_lt, _) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;
        common::wait_tracker_peer(&tracker.http, f.torrent.info_hash(), true, START_TIME).await;

        // No x.pe: the only way to the seeder is the link's `tr`.
        let magnet = Magnet::from(&f.torrent);
        assert_eq!(magnet.trackers(), [url.as_str()]);
        assert!(magnet.peers().is_empty());
        let (_, events) =
            download_magnet(&f, &magnet, true, "magnet from libtorrent via opentracker").await;
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::TrackerAnswered { url: u, .. } if u == url)),
            "the tracker from the link was asked: {events:?}"
        );
        f.assert_downloaded();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_from_transmission_by_x_pe() {
    if !common::have_transmission() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = magnet_fixture();
        let (_tr, addr) = common::transmission_seed(&f.file, f.src(), START_TIME).await;

        // Transmission never dials loopback peers: we dial it, from x.pe.
        let magnet = Magnet::from(&f.torrent).with_peer(addr);
        download_magnet(&f, &magnet, false, "magnet from transmission (x.pe)").await;
        f.assert_downloaded();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_starts_from_our_magnet_link() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = magnet_fixture();
        let torrent = &f.torrent;
        let (session, handle) = common::our_seeder(torrent, f.src()).await;
        let ours = session.listen_addr().unwrap();

        // libtorrent gets nothing but the link: the info dict can only
        // come from our seed's ut_metadata.
        let magnet = Magnet::from(torrent).with_peer(ours);
        let uri = magnet.to_string();
        assert!(uri.contains("x.pe="), "{uri}");
        let started = Instant::now();
        let (mut lt, _) = common::lt_leech_magnet(&uri, f.dst(), &[], START_TIME).await;
        let (hash, name) = lt
            .wait_line(TEST_TIME, |l| {
                let rest = l.strip_prefix("METADATA ")?;
                let (hash, name) = rest.split_once(' ')?;
                Some((hash.to_string(), name.to_string()))
            })
            .await;
        assert_eq!(hash, torrent.info_hash().to_string());
        assert_eq!(name, torrent.name());
        lt.wait_lt_complete(TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("to libtorrent from our magnet", started, &stats)
        );
        assert!(stats.uploaded >= stats.total_bytes, "{stats:?}");
        f.assert_downloaded();
        session.shutdown().await;
    })
    .await;
}

/// What one fake metadata peer saw and did.
#[derive(Debug, Default)]
struct FakeCounts {
    /// Connections whose BitTorrent handshake completed.
    connections: AtomicU64,
    /// `ut_metadata` requests received.
    requests: AtomicU64,
    /// `ut_metadata` data messages sent.
    served: AtomicU64,
}

/// A fake peer on 127.0.0.1 that speaks just enough: handshake (fast and
/// extension protocol bits), an extension handshake `handshake` (raw
/// bencode, so that it can claim any size), then answers each
/// `ut_metadata` request with the piece of `serve` (as `total_size`
/// `serve.len()`) or a reject past its end. It never has any piece of the
/// torrent.
async fn metadata_fake(
    info_hash: InfoHash,
    handshake: Bytes,
    serve: Bytes,
) -> (SocketAddr, Arc<FakeCounts>) {
    metadata_fake_with(info_hash, handshake, serve, Behaviour::default()).await
}

/// How a fake metadata peer departs from an honest one.
#[derive(Clone, Copy, Debug, Default)]
struct Behaviour {
    /// Wait this long before sending the extension handshake.
    ext_delay: Duration,
    /// Never answer requests; close the connection this long after the
    /// first one.
    hog_for: Option<Duration>,
}

/// [`metadata_fake`] with a [`Behaviour`].
async fn metadata_fake_with(
    info_hash: InfoHash,
    handshake: Bytes,
    serve: Bytes,
    behaviour: Behaviour,
) -> (SocketAddr, Arc<FakeCounts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(FakeCounts::default());
    let c = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (c, hs, serve) = (Arc::clone(&c), handshake.clone(), serve.clone());
            tokio::spawn(async move {
                let _ = serve_metadata(stream, info_hash, hs, serve, behaviour, &c).await;
            });
        }
    });
    (addr, counts)
}

async fn serve_metadata(
    stream: TcpStream,
    info_hash: InfoHash,
    handshake: Bytes,
    serve: Bytes,
    behaviour: Behaviour,
    counts: &FakeCounts,
) -> Result<(), seedbed_peer_wire::Error> {
    let Some((framed, _)) = common::answer_handshake(
        stream,
        info_hash,
        PeerId(*b"-XX0001-metametameta"),
        Reserved::ZERO
            .with(Reserved::FAST)
            .with(Reserved::EXTENSION_PROTOCOL),
        |theirs| {
            assert_eq!(
                theirs.info_hash, info_hash,
                "asked for the magnet's torrent"
            );
            assert!(
                theirs.reserved.extension_protocol(),
                "a magnet download needs the extension protocol"
            );
        },
    )
    .await?
    else {
        return Ok(());
    };
    counts.connections.fetch_add(1, Ordering::Relaxed);
    let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new()));
    tokio::time::sleep(behaviour.ext_delay).await;
    framed
        .send(Message::Extended {
            id: 0,
            payload: handshake,
        })
        .await?;
    let mut their_id = None;
    let hog_until = behaviour.hog_for.map(|d| tokio::time::Instant::now() + d);
    loop {
        let next = match hog_until {
            Some(t) => match tokio::time::timeout_at(t, framed.next()).await {
                Ok(m) => m,
                // The hog hangs up with the requests unanswered.
                Err(_) => return Ok(()),
            },
            None => framed.next().await,
        };
        let Some(msg) = next else {
            break;
        };
        let Message::Extended { id, payload } = msg? else {
            continue;
        };
        if id == 0 {
            let hs = ExtendedHandshake::decode(&payload, &Limits::new())?;
            their_id = hs.m.get(UT_METADATA).copied();
            continue;
        }
        if id != FAKE_UT_METADATA {
            continue;
        }
        let MetadataMessage::Request { piece } = MetadataMessage::decode(&payload, &Limits::new())?
        else {
            continue;
        };
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if hog_until.is_some() {
            continue;
        }
        let their_id = their_id.expect("a ut_metadata request comes after the ut_metadata id");
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        let reply = if start < serve.len() {
            let end = (start + METADATA_PIECE_LEN as usize).min(serve.len());
            counts.served.fetch_add(1, Ordering::Relaxed);
            MetadataMessage::Data {
                piece,
                total_size: serve.len() as u32,
                data: serve.slice(start..end),
            }
        } else {
            MetadataMessage::Reject { piece }
        };
        framed
            .send(Message::Extended {
                id: their_id,
                payload: reply.to_bytes(),
            })
            .await?;
    }
    Ok(())
}

/// An extension handshake offering `ut_metadata` with `metadata_size`
/// (any integer: past `u32` too), as raw bencode.
fn metadata_handshake(metadata_size: i64) -> Bytes {
    Bytes::from(format!(
        "d1:md11:ut_metadatai{FAKE_UT_METADATA}ee13:metadata_sizei{metadata_size}e4:reqqi250ee"
    ))
}

/// A TCP gate on 127.0.0.1 for a peer that is not there yet: it closes
/// every connection at once (as a peer that is down) until
/// [`Gate::open`], then forwards each new connection to the target. Its
/// address is taken at once, so it can go into a magnet link without
/// racing other sockets for the port.
struct Gate {
    addr: SocketAddr,
    target: tokio::sync::watch::Sender<Option<SocketAddr>>,
}

impl Gate {
    async fn new() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (target, rx) = tokio::sync::watch::channel(None::<SocketAddr>);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(to) = *rx.borrow() else {
                    continue;
                };
                tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        });
        Gate { addr, target }
    }

    fn open(&self, to: SocketAddr) {
        let _ = self.target.send(Some(to));
    }
}

/// Waits until `counts.served` reaches `n`.
async fn wait_served(counts: &FakeCounts, n: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while counts.served.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "the fake was not asked for {n} metadata pieces: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The start of the wrong-metadata tests: a fake peer, the liar, that
/// claims `claimed` bytes of metadata for `f`'s torrent and serves
/// `wrong`; a closed [`Gate`] where the honest seeder will be; a leecher of
/// ours started from a link that names the liar, then the gate.
struct BesideALiar {
    liar: SocketAddr,
    lies: Arc<FakeCounts>,
    gate: Gate,
    leecher: Session,
    handle: TorrentHandle,
    events: Recorder,
}

async fn beside_a_liar(f: &Fixture, claimed: usize, wrong: Bytes) -> BesideALiar {
    let (liar, lies) = metadata_fake(
        f.torrent.info_hash(),
        metadata_handshake(claimed as i64),
        wrong,
    )
    .await;
    let gate = Gate::new().await;
    let magnet = Magnet::from(&f.torrent)
        .with_peer(liar)
        .with_peer(gate.addr);
    let (leecher, handle, events) =
        magnet_leecher(common::config(), &magnet, leech_opts(f.dst())).await;
    BesideALiar {
        liar,
        lies,
        gate,
        leecher,
        handle,
        events,
    }
}

/// Starts our seeder of `f`'s torrent and opens `gate` to it.
async fn open_gate_to_our_seed(gate: &Gate, f: &Fixture) -> (Session, TorrentHandle) {
    let (seeder, seed) = common::our_seeder(&f.torrent, f.src()).await;
    gate.open(seeder.listen_addr().unwrap());
    (seeder, seed)
}

/// A liar serves another info dict of the same size; the honest seeder
/// (in the link's x.pe too, behind a gate that opens only once the liar
/// has served a whole dict) then serves the real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_metadata_does_not_poison_the_torrent() {
    common::serially_within(TEST_TIME, async {
        let f = magnet_fixture();
        let torrent = &f.torrent;
        let other = tempfile::tempdir().unwrap();
        // Another torrent with the same names and lengths but other bytes:
        // an info dict of exactly the same size, with another hash.
        let decoy = decoy(other.path(), |root| common::make_magnet_content(root, 2));
        let real = torrent.info().raw().clone();
        let wrong = decoy.info().raw().clone();
        assert_eq!(real.len(), wrong.len());
        assert_ne!(decoy.info_hash(), torrent.info_hash());
        let pieces = real.len().div_ceil(METADATA_PIECE_LEN as usize) as u64;

        let BesideALiar {
            liar,
            lies,
            gate,
            leecher,
            handle,
            events,
        } = beside_a_liar(&f, real.len(), wrong).await;
        let honest = gate.addr;
        wait_served(&lies, pieces, Duration::from_secs(30)).await;
        assert!(
            events
                .wait_for(Duration::from_secs(10), |e| *e
                    == Event::MetadataRejected { addr: liar })
                .await,
            "the wrong dict is rejected and its sender named: {lies:?} {:?} {:?}",
            handle.status(),
            events.events()
        );
        assert_eq!(
            handle.status(),
            Status::FetchingMetadata,
            "a dict with the wrong hash is not accepted"
        );
        assert!(
            !events.any(|e| matches!(e, Event::MetadataReceived { .. })),
            "{:?}",
            events.events()
        );
        let asked = lies.requests.load(Ordering::Relaxed);

        let (seeder, _seed) = open_gate_to_our_seed(&gate, &f).await;
        let started = Instant::now();
        common::wait_complete(&handle, TEST_TIME).await;
        let stats = handle.stats();
        println!(
            "{}",
            common::describe("magnet beside a liar", started, &stats)
        );
        let events = events_once_finished(&events).await;
        assert_metadata_first(&events);
        assert!(events.contains(&Event::MetadataReceived { size: real.len() }));
        assert_eq!(handle.name(), torrent.name());
        assert_eq!(stats.num_pieces, torrent.info().geometry().num_pieces());
        assert_eq!(stats.total_bytes, torrent.info().geometry().total_length());
        assert!(
            !events.contains(&Event::MetadataRejected { addr: honest }),
            "the honest seeder is not blamed: {events:?}"
        );
        assert_eq!(
            lies.requests.load(Ordering::Relaxed),
            asked,
            "the liar is not asked for metadata again: {lies:?}"
        );
        println!("liar: {lies:?}");
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// As above, but the liar claims the size of its own (other) dict, which
/// differs from the real one, and speaks first: the size it claims must
/// not lock out peers that claim another (the first engine of issue #7
/// kept the first peer's `metadata_size` for good and refused every
/// honest peer after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_metadata_size_does_not_poison_the_torrent() {
    common::serially_within(Duration::from_secs(60), async {
        let f = magnet_fixture();
        let other = tempfile::tempdir().unwrap();
        let decoy = decoy(other.path(), common::make_content);
        let wrong = decoy.info().raw().clone();
        assert_ne!(wrong.len(), f.torrent.info().raw().len());
        let BesideALiar {
            liar: _,
            lies,
            gate,
            leecher,
            handle,
            events: _events,
        } = beside_a_liar(&f, wrong.len(), wrong).await;
        wait_served(&lies, 1, Duration::from_secs(30)).await;
        let (seeder, _seed) = open_gate_to_our_seed(&gate, &f).await;
        common::wait_complete(&handle, Duration::from_secs(40)).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// Peers added to the handle while the metadata is being fetched are used
/// for it (the first engine of issue #7 dropped them: the handle had no
/// torrent yet to pass them to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_peers_while_fetching_metadata() {
    common::serially_within(Duration::from_secs(60), async {
        let f = magnet_fixture();
        let (seeder, _seed) = common::our_seeder(&f.torrent, f.src()).await;
        let (leecher, handle, _events) = magnet_leecher(
            common::config(),
            &Magnet::from(&f.torrent),
            leech_opts(f.dst()),
        )
        .await;
        handle.add_peers([seeder.listen_addr().unwrap()]);
        common::wait_complete(&handle, Duration::from_secs(40)).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_size_ceiling_is_enforced() {
    common::serially_within(TEST_TIME, async {
        let f = magnet_fixture();
        let torrent = &f.torrent;
        let hash = torrent.info_hash();
        let real = torrent.info().raw().clone();
        let size = real.len() as i64;

        // Ceiling: exactly this torrent's info dict.
        let config = SessionConfig {
            max_metadata_size: real.len().try_into().unwrap(),
            ..common::config()
        };
        // One byte past it; far past it (4 GB: a buffer of that size
        // would show in VmPeak); past u32, and equal to the real size
        // modulo 2^32 (a truncating cast would take it for the real one).
        let (over, over_n) = metadata_fake(hash, metadata_handshake(size + 1), real.clone()).await;
        let (huge, huge_n) =
            metadata_fake(hash, metadata_handshake(4_000_000_000), real.clone()).await;
        let (wrap, wrap_n) =
            metadata_fake(hash, metadata_handshake((1i64 << 32) + size), real.clone()).await;
        // At the ceiling, with the real dict: it must be the one used.
        let (at, at_n) = metadata_fake(hash, metadata_handshake(size), real.clone()).await;
        let liars = [("over", &over_n), ("huge", &huge_n), ("wrap", &wrap_n)];

        let magnet = Magnet::from(torrent)
            .with_peer(over)
            .with_peer(huge)
            .with_peer(wrap)
            .with_peer(at);
        let peak_before = common::vm_peak();
        let (leecher, handle, events) = magnet_leecher(config, &magnet, leech_opts(f.dst())).await;
        assert!(
            events
                .wait_for(Duration::from_secs(30), |e| matches!(
                    e,
                    Event::MetadataReceived { .. }
                ))
                .await,
            "metadata of exactly max_metadata_size is fetched: {at_n:?} {:?}",
            events.events()
        );
        assert!(events.any(|e| *e == Event::MetadataReceived { size: real.len() }));
        assert_eq!(handle.name(), torrent.name());
        assert!(at_n.requests.load(Ordering::Relaxed) > 0, "{at_n:?}");
        // Give the liars time to be asked, had they been believed.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (name, n) in liars {
            assert!(
                n.connections.load(Ordering::Relaxed) > 0,
                "{name}: it was dialled: {n:?}"
            );
            assert_eq!(
                n.requests.load(Ordering::Relaxed),
                0,
                "{name}: a peer claiming more than max_metadata_size was asked: {n:?}"
            );
        }
        let grown = common::vm_peak().saturating_sub(peak_before);
        println!(
            "VmPeak grew by {} MiB; fakes: over {over_n:?} huge {huge_n:?} wrap {wrap_n:?} at {at_n:?}",
            grown >> 20
        );
        assert!(
            grown < 2 << 30,
            "nothing of the claimed 4 GB was allocated: VmPeak grew by {grown} bytes"
        );
        leecher.shutdown().await;
    })
    .await;
}

/// libtorrent's hybrid (v1 + v2) torrent with pad files: its link has both
/// `btih` and `btmh`; the info dict fetched with `ut_metadata` is the
/// hybrid one, checked against the v1 hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_download_hybrid_from_libtorrent() {
    if !common::have_libtorrent() {
        return;
    }
    common::serially_within(TEST_TIME, async {
        let f = Fixture::new(
            |root| common::make_magnet_content(root, 1),
            "hybrid.torrent",
            |content, file| common::lt_create(content, file, true, None),
        );
        let torrent = &f.torrent;
        assert!(torrent.info_hash_v1().is_some() && torrent.info_hash_v2().is_some());
        let (_lt, addr) = common::lt_seed(&f.file, f.src(), 0, START_TIME).await;

        let magnet = Magnet::from(torrent).with_peer(addr);
        assert!(magnet.info_hash_v1().is_some() && magnet.info_hash_v2().is_some());
        let (_, events) =
            download_magnet(&f, &magnet, false, "hybrid magnet from libtorrent").await;
        assert!(events.contains(&Event::MetadataReceived {
            size: torrent.info().raw().len()
        }));
        // Pad files are never written: the trees hold the same real files.
        f.assert_downloaded();
    })
    .await;
}

/// A v2-only link (`btmh` only) is taken, under its v2 hash truncated to
/// 20 bytes (fetching it is tested against libtorrent in `v2.rs`), and the
/// same torrent cannot be added twice, from a link or a .torrent file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_links_taken_and_duplicates_refused() {
    common::within(Duration::from_secs(30), async {
        let f = magnet_fixture();
        let torrent = &f.torrent;
        let session = Session::new(common::config()).await.unwrap();
        let opts = || AddTorrentOptions::new(f.src().join("out")).trackers(false);

        let v2_hash = seedbed_metainfo::InfoHashV2([7; 32]);
        let v2 = Magnet::new_v2(v2_hash);
        let v2_handle = session.add_magnet(&v2, opts()).await.unwrap();
        assert_eq!(v2_handle.info_hash(), v2_hash.truncated());
        assert_eq!(v2_handle.status(), Status::FetchingMetadata);
        assert!(matches!(
            session.add_magnet(&v2, opts()).await,
            Err(seedbed_session::Error::DuplicateTorrent(h)) if h == v2_hash.truncated()
        ));
        v2_handle.remove().await;
        assert_eq!(v2_handle.status(), Status::Stopped);

        let magnet = Magnet::from(torrent);
        let (handle, _events) = add_magnet(&session, &magnet, opts()).await;
        assert_eq!(handle.name(), torrent.name(), "the name comes from dn");
        assert!(matches!(
            session.add_magnet(&magnet, opts()).await,
            Err(seedbed_session::Error::DuplicateTorrent(h)) if h == torrent.info_hash()
        ));
        assert!(matches!(
            session.add_torrent(torrent, opts()).await,
            Err(seedbed_session::Error::DuplicateTorrent(_))
        ));
        // Removing it while it fetches metadata stops it.
        handle.remove().await;
        assert_eq!(handle.status(), Status::Stopped);
        session.shutdown().await;
    })
    .await;
}

/// A link that names our own session among its peers (as one we made and
/// got back would): the session must not take itself for a metadata
/// source, nor blame itself, and completes from the real seeder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_naming_ourselves_in_x_pe() {
    common::serially_within(Duration::from_secs(60), async {
        let f = magnet_fixture();
        let (seeder, _seed) = common::our_seeder(&f.torrent, f.src()).await;
        let leecher = Session::new(common::config()).await.unwrap();
        let ourselves = leecher.listen_addr().unwrap();
        let magnet = Magnet::from(&f.torrent)
            .with_peer(ourselves)
            .with_peer(seeder.listen_addr().unwrap());
        let (handle, events) = add_magnet(&leecher, &magnet, leech_opts(f.dst())).await;
        common::wait_complete(&handle, Duration::from_secs(40)).await;
        let events = events.events();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::MetadataRejected { .. })),
            "{events:?}"
        );
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// A peer that takes every metadata piece request and then hangs up
/// without answering, beside an honest one that connected a moment later
/// (so that it found nothing left to ask): the pieces the hog held go to
/// the honest peer as soon as the hog is gone, not after a silence
/// timeout.
///
/// (Before 3921530 an idle metadata peer was asked again only after a
/// 20 s silence; it now wakes every second.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_held_by_a_departed_peer_are_asked_again_at_once() {
    common::serially_within(Duration::from_secs(60), async {
        let f = magnet_fixture();
        let torrent = &f.torrent;
        let hash = torrent.info_hash();
        let real = torrent.info().raw().clone();
        let hs = metadata_handshake(real.len() as i64);
        let (hog, hog_n) = metadata_fake_with(
            hash,
            hs.clone(),
            real.clone(),
            Behaviour {
                hog_for: Some(Duration::from_secs(2)),
                ..Behaviour::default()
            },
        )
        .await;
        let (late, late_n) = metadata_fake_with(
            hash,
            hs,
            real.clone(),
            Behaviour {
                ext_delay: Duration::from_millis(500),
                ..Behaviour::default()
            },
        )
        .await;
        let magnet = Magnet::from(torrent).with_peer(hog).with_peer(late);
        let started = Instant::now();
        let (leecher, _handle, events) = magnet_leecher(
            common::config(),
            &magnet,
            AddTorrentOptions::new(f.dst()).trackers(false),
        )
        .await;
        let got = events
            .wait_for(Duration::from_secs(10), |e| {
                matches!(e, Event::MetadataReceived { .. })
            })
            .await;
        println!(
            "metadata after {:.1} s; hog {hog_n:?} late {late_n:?}",
            started.elapsed().as_secs_f64()
        );
        assert!(
            hog_n.requests.load(Ordering::Relaxed) > 0,
            "the hog was asked first: {hog_n:?}"
        );
        assert!(
            got,
            "the metadata came within 10 s (the hog left after 2 s): hog {hog_n:?} late {late_n:?}"
        );
        leecher.shutdown().await;
    })
    .await;
}
