//! BEP 52 hash exchange and handshakes with peers written here (on the
//! peer-wire codecs), so each rule can be broken on purpose:
//!
//! - a peer that sends a wrong piece layer (wrong base hashes), wrong proof
//!   hashes, or the wrong number of hashes in `hashes` is caught before any
//!   of it is trusted: it is banned, no piece fails, and the download
//!   completes from an honest seeder of ours, which answers the leecher's
//!   hash requests;
//! - our seeder answers hash requests at the piece layer and at the leaves
//!   (for a peer it unchokes) with hashes that prove to the root, and
//!   rejects the others;
//! - a hybrid torrent's handshakes: an incoming v1 hash with the upgrade
//!   bit is answered with the v2 hash, the truncated v2 hash routes to the
//!   torrent, and our dial (v1 hash, upgrade bit) accepts a v2 answer and
//!   then speaks v2.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Fixture, Recorder};
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::create::merkle::{self, Hash256, PieceTree};
use seedbed_metainfo::{InfoHash, PeerId, Torrent, TorrentBuilder, TorrentVersion};
use seedbed_peer_wire::{
    Block, Bytes, Handshake, HandshakeCodec, HandshakeEvent, HashRequest, Hashes, Limits, Message,
    MessageCodec, Reserved,
};
use seedbed_session::{AddTorrentOptions, Event, Session};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

const TEST_TIME: Duration = Duration::from_secs(120);
const LIAR_ID: PeerId = PeerId(*b"-XX0002-liarliarliar");

/// A big file of 600 pieces of 16 KiB (two layer chunks: the first answer
/// carries a proof hash) beside small files.
fn make_v2_content(root: &Path) -> PathBuf {
    let base = root.join("content");
    std::fs::create_dir_all(base.join("d")).unwrap();
    std::fs::write(base.join("big.bin"), common::data(7, 600 * 16_384 + 1000)).unwrap();
    std::fs::write(base.join("d/small.txt"), common::data(8, 5000)).unwrap();
    std::fs::write(base.join("d/two.bin"), common::data(9, 20_000)).unwrap();
    base
}

fn build(content: &Path, out: &Path, version: TorrentVersion, piece: u32) -> Torrent {
    let created = TorrentBuilder::new(version)
        .piece_length(piece)
        .build_from_path(content, |_, _| {})
        .unwrap();
    std::fs::write(out, created.as_bytes()).unwrap();
    Torrent::from_bytes(created.into_bytes()).unwrap()
}

/// The same torrent with its `info` dictionary only: no piece layers, as a
/// magnet link gives it.
fn without_layers(t: &Torrent) -> Torrent {
    let bytes = [&b"d4:info"[..], t.info().raw(), b"e"].concat();
    let bare = Torrent::from_bytes(bytes).unwrap();
    assert!((0..t.info().files().len()).all(|i| bare.piece_layer(i).is_none()));
    bare
}

/// The honest answer to `r` from the torrent's piece layers: base hashes
/// and proof hashes.
fn honest(t: &Torrent, r: &HashRequest) -> (Vec<Hash256>, Vec<Hash256>) {
    let info = t.info();
    let file = info
        .files()
        .iter()
        .position(|f| f.pieces_root() == Some(&r.pieces_root))
        .unwrap();
    let layer: Vec<Hash256> = t
        .piece_layer(file)
        .unwrap()
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    let tree = PieceTree::new(&layer, info.piece_length()).unwrap();
    let base = (r.index..r.index + r.length)
        .map(|i| tree.node(r.base_layer, u64::from(i)).unwrap())
        .collect();
    let proof = merkle::uncle_positions(
        r.base_layer,
        u64::from(r.index),
        u64::from(r.length),
        r.proof_layers,
    )
    .map(|(l, p)| tree.node(l, p).unwrap())
    .collect();
    (base, proof)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lie {
    /// One base hash (the piece layer itself) is wrong.
    Layer,
    /// One proof hash is wrong.
    Proof,
    /// One hash too few.
    Count,
}

/// A peer that has everything, unchokes, and answers hash requests with
/// `lie`; it never sends data.
async fn liar(t: Torrent, lie: Lie) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hash = t.info().info_hash();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let t = t.clone();
            tokio::spawn(async move {
                let Ok(Some((framed, _))) = common::answer_handshake(
                    stream,
                    hash,
                    LIAR_ID,
                    Reserved::ZERO.with(Reserved::FAST),
                    |theirs| assert_eq!(theirs.info_hash, hash, "the truncated v2 hash"),
                )
                .await
                else {
                    return;
                };
                let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new()));
                let _ = framed.feed(Message::HaveAll).await;
                let _ = framed.send(Message::Unchoke).await;
                while let Some(Ok(m)) = framed.next().await {
                    let Message::HashRequest(r) = m else { continue };
                    let (mut base, mut proof) = honest(&t, &r);
                    match lie {
                        Lie::Layer => base[r.length as usize / 2][5] ^= 0x20,
                        Lie::Proof if !proof.is_empty() => proof[0][9] ^= 0x01,
                        Lie::Proof => base[0][0] ^= 1,
                        Lie::Count => {
                            base.pop();
                        }
                    }
                    let answer = Message::Hashes(Hashes::new(r, &base, &proof));
                    if framed.send(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A leecher of `f`'s torrent without piece layers meets the liar first:
/// the liar is caught by its hashes and banned; then an honest seeder of
/// ours (which has the layers) is added and the download completes. No
/// piece ever fails: nothing the liar said was used.
async fn caught_then_completed(lie: Lie) {
    let f = Fixture::new(make_v2_content, "v2.torrent", |c, out| {
        build(c, out, TorrentVersion::V2, 16_384)
    });
    let big = f
        .torrent
        .info()
        .files()
        .iter()
        .position(|x| x.length() > 9_000_000);
    let layer = f.torrent.piece_layer(big.unwrap()).unwrap();
    assert_eq!(layer.len() / 32, 601, "two chunks of the layer");
    let liar = liar(f.torrent.clone(), lie).await;
    let (seed_session, _seed) = common::our_seeder(&f.torrent, f.src()).await;
    let seeder = seed_session.listen_addr().unwrap();

    let bare = without_layers(&f.torrent);
    let (session, handle) = common::our_leecher(&bare, f.dst(), &[liar], false).await;
    let events = Recorder::new(&handle);
    assert!(
        events
            .wait_for(Duration::from_secs(30), |e| *e
                == Event::HashesRejected { addr: liar })
            .await,
        "{lie:?}: the liar's hashes were not rejected: {:?}",
        events.events()
    );
    assert!(events.any(|e| *e == Event::PeerBanned { addr: liar }));
    assert_eq!(handle.stats().pieces_have, 0, "nothing without hashes");

    handle.add_peers([seeder]);
    common::wait_complete(&handle, TEST_TIME).await;
    f.assert_downloaded();
    assert!(
        !events.any(|e| matches!(e, Event::PieceFailed { .. })),
        "{lie:?}: {:?}",
        events.events()
    );
    let rejected = events
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::HashesRejected { .. }))
        .count();
    assert_eq!(rejected, 1, "only the liar");
    common::shut_down([session, seed_session]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_piece_layer_is_caught_and_the_download_completes() {
    common::within(TEST_TIME, caught_then_completed(Lie::Layer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_proof_hashes_are_caught_and_the_download_completes() {
    common::within(TEST_TIME, caught_then_completed(Lie::Proof)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_hash_count_is_caught_and_the_download_completes() {
    common::within(TEST_TIME, caught_then_completed(Lie::Count)).await;
}

type Wire = Framed<TcpStream, MessageCodec>;

/// Dials `addr` with `hash` and `reserved`; returns the stream (message
/// codec) and the answer's handshake.
async fn dial(addr: SocketAddr, hash: InfoHash, reserved: Reserved) -> (Wire, Handshake) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    framed
        .send(Handshake::new(hash, PeerId(*b"-XX0003-askaskaskask")).with_reserved(reserved))
        .await
        .unwrap();
    let Some(Ok(HandshakeEvent::Complete(theirs))) = framed.next().await else {
        panic!("no handshake back");
    };
    (
        framed.map_codec(|_| MessageCodec::new(Limits::new())),
        theirs,
    )
}

/// Sends `r` and returns the answer (`hashes` or `hash reject`), skipping
/// other messages.
async fn ask(wire: &mut Wire, r: HashRequest) -> Message {
    wire.send(Message::HashRequest(r)).await.unwrap();
    loop {
        match wire.next().await.unwrap().unwrap() {
            m @ (Message::Hashes(_) | Message::HashReject(_)) => return m,
            _ => continue,
        }
    }
}

/// Waits for `unchoke`.
async fn unchoked(wire: &mut Wire) {
    while !matches!(wire.next().await.unwrap().unwrap(), Message::Unchoke) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_seeder_answers_hash_requests_and_rejects_the_rest() {
    common::within(TEST_TIME, async {
        // 64 KiB pieces: the piece layer is 2 layers above the leaves.
        let f = Fixture::new(common::make_content, "v2.torrent", |c, out| {
            build(c, out, TorrentVersion::V2, 65_536)
        });
        let info = f.torrent.info();
        let (session, _h) = common::our_seeder(&f.torrent, f.src()).await;
        let (mut wire, theirs) = dial(
            session.listen_addr().unwrap(),
            info.info_hash(),
            Reserved::ZERO.with(Reserved::FAST),
        )
        .await;
        assert_eq!(theirs.info_hash, info.info_hash());
        let (i, big) = info
            .files()
            .iter()
            .enumerate()
            .find(|(_, x)| x.length() == 2_500_000)
            .unwrap();
        let root = *big.pieces_root().unwrap();
        let height = merkle::tree_height(big.length());
        let pieces = big.length().div_ceil(65_536) as u32; // 39
        let req = |base_layer, index, length, proof_layers| HashRequest {
            pieces_root: root,
            base_layer,
            index,
            length,
            proof_layers,
        };
        let proves = |m: &Message| -> bool {
            let Message::Hashes(h) = m else { return false };
            let (base, proof) = h.split().unwrap();
            merkle::root_from_proof(&base, u64::from(h.request.index), &proof) == Some(root)
        };

        // Below the piece layer while choked: rejected.
        let leaves = req(0, 20, 4, height - 1);
        assert_eq!(ask(&mut wire, leaves).await, Message::HashReject(leaves));

        // The piece layer, whole (64 with the pads) and in halves.
        let whole = req(2, 0, 64, height - 3);
        let m = ask(&mut wire, whole).await;
        assert!(proves(&m), "{m:?}");
        let Message::Hashes(h) = &m else {
            unreachable!()
        };
        let (base, _) = h.split().unwrap();
        let layer = f.torrent.piece_layer(i).unwrap();
        assert_eq!(base[..pieces as usize].concat(), layer);
        assert!(proves(&ask(&mut wire, req(2, 32, 32, height - 3)).await));
        assert!(proves(&ask(&mut wire, req(3, 16, 16, height - 4)).await));

        // Leaves of piece 5, once unchoked: the SHA-256 of its blocks.
        wire.send(Message::Interested).await.unwrap();
        unchoked(&mut wire).await;
        let m = ask(&mut wire, leaves).await;
        assert!(proves(&m), "{m:?}");
        let Message::Hashes(h) = &m else {
            unreachable!()
        };
        let data = std::fs::read(f.content.join("a/b/big.bin")).unwrap();
        let want: Vec<Hash256> = data[5 * 65_536..6 * 65_536]
            .chunks(16_384)
            .map(|b| Sha256::digest(b).into())
            .collect();
        assert_eq!(h.split().unwrap().0, want);
        // Two leaves of the last piece: its last block ends the file, the
        // rest of its leaves are zero.
        let tail = req(0, 38 * 4 + 2, 2, height - 1);
        assert!(proves(&ask(&mut wire, tail).await));

        // Everything else is rejected, and the connection stays up.
        for bad in [
            req(2, 0, 3, 0),          // length not a power of two
            req(2, 0, 1024, 0),       // over 512
            req(2, 2, 4, 0),          // index not a multiple of length
            req(2, 64, 2, 0),         // past the layer
            req(2, 0, 2, height - 2), // proof past the root
            req(height, 0, 2, 0),     // no such layer
            req(0, 0, 8, 0),          // leaves of two pieces
            HashRequest {
                pieces_root: [7; 32],
                ..whole
            }, // no such file
        ] {
            assert_eq!(
                ask(&mut wire, bad).await,
                Message::HashReject(bad),
                "{bad:?}"
            );
        }
        assert!(proves(&ask(&mut wire, whole).await));
        // Blocks are still served.
        wire.send(Message::Request(seedbed_peer_wire::BlockRequest {
            piece: 0,
            begin: 0,
            length: 16_384,
        }))
        .await
        .unwrap();
        loop {
            if let Message::Piece(Block { data, .. }) = wire.next().await.unwrap().unwrap() {
                assert_eq!(data, Bytes::copy_from_slice(&data_of(&f)[..16_384]));
                break;
            }
        }
        session.shutdown().await;
    })
    .await;
}

/// The first file's first bytes (the torrent's first piece).
fn data_of(f: &Fixture) -> Vec<u8> {
    let info = f.torrent.info();
    let first = &info.files()[0];
    std::fs::read(first.path().to_path_buf_under(f.src())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_handshakes_upgrade_to_v2() {
    common::within(TEST_TIME, async {
        let f = Fixture::new(common::make_content, "hybrid.torrent", |c, out| {
            build(c, out, TorrentVersion::Hybrid, 65_536)
        });
        let info = f.torrent.info();
        let v1 = info.info_hash_v1().unwrap();
        let v2 = info.info_hash_v2().unwrap().truncated();
        let (session, _h) = common::our_seeder(&f.torrent, f.src()).await;
        let ours = session.listen_addr().unwrap();
        let root = *info.files()[0].pieces_root().unwrap();
        let plain = Reserved::ZERO.with(Reserved::FAST);
        let upgrade = plain.with(Reserved::V2_UPGRADE);
        let layer_req = HashRequest {
            pieces_root: root,
            base_layer: 2,
            index: 0,
            length: 64,
            proof_layers: merkle::tree_height(info.files()[0].length()) - 3,
        };

        // v1 without the bit: a v1 connection.
        let (_w, theirs) = dial(ours, v1, plain).await;
        assert_eq!(theirs.info_hash, v1);
        // v1 with the upgrade bit: answered with the v2 hash.
        let (mut w, theirs) = dial(ours, v1, upgrade).await;
        assert_eq!(theirs.info_hash, v2);
        assert!(matches!(ask(&mut w, layer_req).await, Message::Hashes(_)));
        // The truncated v2 hash routes to the hybrid too.
        let (mut w, theirs) = dial(ours, v2, plain).await;
        assert_eq!(theirs.info_hash, v2);
        assert!(matches!(ask(&mut w, layer_req).await, Message::Hashes(_)));

        // Our dial: v1 hash and the upgrade bit; a v2 answer is taken, and
        // the connection then speaks v2 (a leecher without the layers asks
        // for them).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = listener.local_addr().unwrap();
        let bare = without_layers(&f.torrent);
        let leecher = Session::new(common::config()).await.unwrap();
        let handle = leecher
            .add_torrent(
                &bare,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .peers([fake]),
            )
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (framed, ours_hs) = common::answer_handshake(stream, v2, LIAR_ID, plain, |theirs| {
            assert_eq!(theirs.info_hash, v1);
            assert!(theirs.reserved.v2_upgrade(), "we offer the upgrade");
        })
        .await
        .unwrap()
        .unwrap();
        assert!(ours_hs.reserved.fast());
        let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new()));
        framed.send(Message::HaveAll).await.unwrap();
        let asked = loop {
            match framed.next().await.unwrap().unwrap() {
                Message::HashRequest(r) => break r,
                _ => continue,
            }
        };
        assert!(info
            .files()
            .iter()
            .any(|x| x.pieces_root() == Some(&asked.pieces_root)));
        assert!(asked.validate(HashRequest::MAX_LENGTH).is_ok());
        common::shut_down([leecher, session]).await;
        drop(handle);
    })
    .await;
}
