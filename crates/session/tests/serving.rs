//! How our seed serves a peer's requests, seen from a peer written here
//! with the peer-wire codecs: each request is answered once and in order,
//! with the right bytes (runs of blocks read together from the page
//! cache, across piece and file boundaries, the torrent's short last
//! block), a duplicate request is served once, and a cancelled request is
//! answered with `reject request` (BEP 6: with the fast extension every
//! request gets exactly one answer); when the peer is choked, its queued
//! requests are rejected but those in its allowed fast set are still
//! served, and blocks being read from disk at the choke are rejected
//! too.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{Info, PeerId, BLOCK_SIZE};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, Limits, Message, MessageCodec,
    Reserved,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Encoder, Framed};

/// The torrent's bytes in order: its files back to back (a v1 torrent
/// has no pad files), read from the seed's folder.
fn torrent_bytes(info: &Info, root: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in info.files() {
        all.extend(std::fs::read(f.path().to_path_buf_under(root)).unwrap());
    }
    assert_eq!(all.len() as u64, info.total_size());
    all
}

/// Every block of piece `i`, in order.
fn blocks_of(info: &Info, i: u32) -> Vec<BlockRequest> {
    let g = info.geometry();
    let len = g.piece_len(g.piece(i).unwrap());
    (0..len)
        .step_by(BLOCK_SIZE as usize)
        .map(|begin| BlockRequest {
            piece: i,
            begin,
            length: BLOCK_SIZE.min(len - begin),
        })
        .collect()
}

/// A v1 torrent of the test content with a first file (`big.bin`) of
/// `big_len` bytes.
fn big_v1(big_len: usize) -> common::Fixture {
    common::Fixture::new(
        |root| common::make_content_with_big(root, big_len),
        "t.torrent",
        |content, file| {
            common::build_torrent(content, seedbed_metainfo::TorrentVersion::V1, None, file)
        },
    )
}

type Wire = Framed<TcpStream, MessageCodec>;

/// Dials the seed with the fast extension, says it is interested, and
/// waits for the unchoke.
async fn unchoked_peer(
    addr: SocketAddr,
    info: &Info,
    info_hash: seedbed_metainfo::InfoHash,
) -> Wire {
    unchoked_peer_with_allowed(addr, info, info_hash).await.0
}

/// As [`unchoked_peer`]; also returns the allowed fast set the seed sent
/// before the unchoke.
async fn unchoked_peer_with_allowed(
    addr: SocketAddr,
    info: &Info,
    info_hash: seedbed_metainfo::InfoHash,
) -> (Wire, HashSet<u32>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut hs = Framed::new(stream, HandshakeCodec::new());
    hs.send(
        Handshake::new(info_hash, PeerId(*b"-XX0001-servingtest0"))
            .with_reserved(Reserved::ZERO.with(Reserved::FAST)),
    )
    .await
    .unwrap();
    match hs.next().await {
        Some(Ok(HandshakeEvent::Complete(theirs))) => assert!(theirs.reserved.fast()),
        other => panic!("no handshake: {other:?}"),
    }
    let limits = Limits::new().num_pieces(info.geometry().num_pieces());
    let mut wire = hs.map_codec(|_| MessageCodec::new(limits));
    wire.send(Message::Interested).await.unwrap();
    let mut allowed = HashSet::new();
    loop {
        match wire.next().await.unwrap().unwrap() {
            Message::Unchoke => return (wire, allowed),
            Message::Choke => panic!("choked"),
            Message::AllowedFast { piece } => {
                allowed.insert(piece);
            }
            _ => {}
        }
    }
}

/// Sends `msgs` in one write, so the seed reads them together.
async fn send_together(wire: &mut Wire, msgs: &[Message]) {
    let mut buf = BytesMut::new();
    let mut codec = MessageCodec::new(Limits::new());
    for m in msgs {
        codec.encode(m.clone(), &mut buf).unwrap();
    }
    wire.get_mut().write_all(&buf).await.unwrap();
}

/// The next answer to a request (`piece` or `reject request`), skipping
/// anything else.
async fn next_answer(wire: &mut Wire) -> Message {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), wire.next())
            .await
            .expect("an answer within 10 s")
            .unwrap()
            .unwrap();
        if matches!(m, Message::Piece(_) | Message::RejectRequest(_)) {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_once_in_order_with_the_right_bytes() {
    common::within(Duration::from_secs(60), async {
        let f = common::Fixture::v1();
        let info = f.torrent.info().clone();
        let g = *info.geometry();
        let want = torrent_bytes(&info, f.src());
        let (seeder, _seed) = common::our_seeder(&f.torrent, f.src()).await;
        let addr = seeder.listen_addr().unwrap();
        let mut wire = unchoked_peer(addr, &info, f.torrent.info_hash()).await;

        // The piece where the first file ends and the next begins, and
        // the last (short) piece.
        let first = info.files()[0].path().to_path_buf_under(f.src());
        let first_len = std::fs::metadata(first).unwrap().len();
        assert_ne!(first_len % u64::from(g.piece_length()), 0);
        let crossing = (first_len / u64::from(g.piece_length())) as u32;
        let last = g.num_pieces() - 1;
        let a = blocks_of(&info, 0)[0];
        let b = blocks_of(&info, 0)[1];
        let mut msgs = vec![
            Message::Request(a),
            Message::Request(a),
            Message::Request(b),
            Message::Cancel(b),
        ];
        let expect = [Message::RejectRequest(b)];
        let mut pieces = vec![a];
        // Two whole pieces back to back (one run crosses their boundary),
        // the crossing piece, the last piece.
        for i in [1, 2, crossing, last] {
            pieces.extend(blocks_of(&info, i));
        }
        msgs.extend(pieces[1..].iter().map(|r| Message::Request(*r)));
        send_together(&mut wire, &msgs).await;

        // The reject of the cancelled request may come before or after
        // the pieces queued ahead of it; the pieces come in order.
        let mut got_pieces = Vec::new();
        let mut got_other = Vec::new();
        while got_pieces.len() < pieces.len() || got_other.len() < expect.len() {
            match next_answer(&mut wire).await {
                Message::Piece(block) => got_pieces.push(block),
                other => got_other.push(other),
            }
        }
        assert_eq!(got_other, expect);
        for (block, r) in got_pieces.iter().zip(&pieces) {
            assert_eq!(block.request(), *r, "answered in the order asked");
            let at = g.piece_offset(g.piece(r.piece).unwrap()) as usize + r.begin as usize;
            assert!(
                block.data[..] == want[at..at + r.length as usize],
                "the bytes of {r:?}"
            );
        }

        // Nothing more: the next answer is to a new request, not a second
        // copy of the duplicate or the cancelled block.
        let marker = blocks_of(&info, 3)[2];
        send_together(&mut wire, &[Message::Request(marker)]).await;
        match next_answer(&mut wire).await {
            Message::Piece(block) => assert_eq!(block.request(), marker),
            other => panic!("an answer to no outstanding request: {other:?}"),
        }
        drop(wire);
        common::shut_down([seeder]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choke_rejects_queued_requests_but_serves_the_allowed_fast_set() {
    common::within(Duration::from_secs(60), async {
        // 24 MiB: more blocks than the sockets hold, so requests are
        // still queued at the seed when the choke comes.
        let f = big_v1(24 << 20);
        let info = f.torrent.info().clone();
        let (seeder, seed) = common::our_seeder(&f.torrent, f.src()).await;
        let addr = seeder.listen_addr().unwrap();
        let (mut wire, allowed) =
            unchoked_peer_with_allowed(addr, &info, f.torrent.info_hash()).await;
        assert!(
            !allowed.is_empty(),
            "an allowed fast set comes with the fast extension"
        );

        // About 1,400 blocks of other pieces, then the allowed pieces'
        // blocks last (queued behind the others), then "not interested":
        // the next choker round (at most 10 s) chokes us. We read nothing
        // meanwhile, so the seed's send queue fills and requests wait.
        let mut asked: Vec<BlockRequest> = (0..350)
            .filter(|i| !allowed.contains(i))
            .flat_map(|i| blocks_of(&info, i))
            .collect();
        let mut fast: Vec<BlockRequest> = Vec::new();
        for &i in &allowed {
            fast.extend(blocks_of(&info, i));
        }
        asked.extend(&fast);
        assert!(asked.len() < 2000, "within our reqq");
        let mut msgs: Vec<Message> = asked.iter().map(|r| Message::Request(*r)).collect();
        msgs.push(Message::NotInterested);
        send_together(&mut wire, &msgs).await;
        // Read nothing until the seed has choked us.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !seed
            .peers()
            .iter()
            .any(|p| p.am_choking && !p.peer_interested)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no choke within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Every request gets one answer; the choke comes among them.
        let mut answered: HashSet<BlockRequest> = HashSet::new();
        let (mut choked, mut rejected_after_choke) = (false, 0usize);
        let mut fast_pieces_after_choke = 0usize;
        while answered.len() < asked.len() {
            let m = tokio::time::timeout(Duration::from_secs(20), wire.next())
                .await
                .expect("every request answered within 20 s")
                .unwrap()
                .unwrap();
            let r = match m {
                Message::Choke => {
                    choked = true;
                    continue;
                }
                Message::Piece(block) => {
                    let r = block.request();
                    if choked {
                        assert!(allowed.contains(&r.piece), "{r:?} served after the choke");
                        fast_pieces_after_choke += 1;
                    }
                    r
                }
                Message::RejectRequest(r) => {
                    assert!(choked, "{r:?} rejected before the choke");
                    assert!(
                        !allowed.contains(&r.piece),
                        "{r:?} is in the allowed fast set"
                    );
                    rejected_after_choke += 1;
                    r
                }
                _ => continue,
            };
            assert!(answered.insert(r), "{r:?} answered twice");
        }
        assert!(choked, "not interested: choked at the next choker round");
        assert!(
            rejected_after_choke > 0,
            "requests were still queued at the choke"
        );
        assert!(
            fast_pieces_after_choke > 0,
            "allowed fast requests were still queued at the choke, and served"
        );
        drop(wire);
        common::shut_down([seeder]).await;
    })
    .await;
}

/// A choke that comes while blocks are being read from disk (not from the
/// page cache: the peer drops the file's pages before each batch it asks
/// for): the blocks of that read are not sent, and with the fast
/// extension each of them is rejected (BEP 6: every request gets one
/// answer), as the requests still queued are. Before, they got no answer
/// at all; the peer's requests then hang until its timeout.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choke_during_a_disk_read_rejects_the_blocks_being_read() {
    use std::num::NonZeroU64;

    common::within(Duration::from_secs(60), async {
        // 8 MiB of data whose pages can be dropped (written back first).
        let f = big_v1(8 << 20);
        let info = f.torrent.info().clone();
        let g = *info.geometry();
        let big_path = info.files()[0].path().to_path_buf_under(f.src());
        assert!(big_path.ends_with("big.bin"), "{}", big_path.display());
        let big = std::fs::File::open(&big_path).unwrap();
        big.sync_all().unwrap();
        let big_pieces = (8u64 << 20) / u64::from(g.piece_length());
        let (seeder, seed) = common::our_seeder(&f.torrent, f.src()).await;
        let addr = seeder.listen_addr().unwrap();
        let (mut wire, allowed) =
            unchoked_peer_with_allowed(addr, &info, f.torrent.info_hash()).await;
        // Choked at the next choker round (at most 10 s).
        wire.send(Message::NotInterested).await.unwrap();

        // Blocks of big.bin (outside the allowed fast set), 128 asked for
        // at a time, topped up 16 at a time with its pages dropped before
        // each: the seed reads one batch of 16 after the other from disk on
        // a blocking thread, so that is what it is doing most of the time
        // when the choke comes.
        let blocks: Vec<BlockRequest> = (0..big_pieces as u32)
            .filter(|i| !allowed.contains(i))
            .flat_map(|i| blocks_of(&info, i))
            .collect();
        let mut next = blocks.iter().cycle();
        let mut pending: HashSet<BlockRequest> = HashSet::new();
        let mut batches = 0u32;
        loop {
            while pending.len() <= 128 - 16 {
                rustix::fs::fadvise(
                    &big,
                    0,
                    NonZeroU64::new(8 << 20),
                    rustix::fs::Advice::DontNeed,
                )
                .unwrap();
                let batch: Vec<BlockRequest> = next.by_ref().take(16).copied().collect();
                let msgs: Vec<Message> = batch.iter().map(|r| Message::Request(*r)).collect();
                send_together(&mut wire, &msgs).await;
                pending.extend(batch);
                batches += 1;
            }
            match tokio::time::timeout(Duration::from_secs(15), wire.next())
                .await
                .expect("the seed answers or chokes within 15 s")
                .unwrap()
                .unwrap()
            {
                Message::Piece(block) => {
                    assert!(pending.remove(&block.request()), "{:?}", block.request());
                }
                Message::RejectRequest(r) => panic!("{r:?} rejected before the choke"),
                Message::Choke => break,
                _ => {}
            }
        }
        let mut rejected = 0usize;
        assert!(batches > 8, "choked before a batch was served");
        // After the choke: each request not yet answered is rejected,
        // none is served (nothing of big.bin is in the allowed fast set).
        while !pending.is_empty() {
            match tokio::time::timeout(Duration::from_secs(5), wire.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} requests got no answer after the choke: {pending:?}",
                        pending.len()
                    )
                })
                .unwrap()
                .unwrap()
            {
                Message::RejectRequest(r) => {
                    assert!(pending.remove(&r), "{r:?} answered twice or never asked");
                    rejected += 1;
                }
                Message::Piece(block) => panic!("{:?} served after the choke", block.request()),
                _ => {}
            }
        }
        assert!(
            seed.peers().iter().any(|p| p.am_choking),
            "the seed shows the peer choked"
        );
        eprintln!("{batches} batches before the choke; {rejected} requests rejected after it");
        drop(wire);
        common::shut_down([seeder]).await;
    })
    .await;
}
