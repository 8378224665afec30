//! A peer that answers every request with garbage is banned, and the
//! download still completes, with the right data, from an honest seeder
//! (issue #6).
//!
//! The liar is written here with the peer-wire codecs: it handshakes,
//! says it has every piece (`have all`, or a full bitfield to a peer
//! without the fast extension), unchokes, and answers each request with a
//! block of the asked length that is not the data. The honest seeder is a
//! session of ours, so this test needs no external tool.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId};
use seedbed_peer_wire::{Bitfield, Block, Bytes, Limits, Message, MessageCodec, Reserved};
use seedbed_session::{Event, Status};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const TEST_TIME: Duration = Duration::from_secs(120);

/// Serves one connection: handshake, "I have everything", unchoke, then
/// garbage for every request. Counts the garbage blocks sent.
async fn lie(
    stream: TcpStream,
    info_hash: InfoHash,
    num_pieces: u32,
    sent: Arc<AtomicU64>,
) -> Result<(), seedbed_peer_wire::Error> {
    let Some((framed, theirs)) = common::answer_handshake(
        stream,
        info_hash,
        PeerId(*b"-XX0001-liarliarliar"),
        Reserved::ZERO.with(Reserved::FAST),
        |theirs| {
            assert_eq!(
                theirs.info_hash, info_hash,
                "the leecher asks for our torrent"
            )
        },
    )
    .await?
    else {
        return Ok(());
    };
    let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(num_pieces)));
    if theirs.reserved.fast() {
        framed.feed(Message::HaveAll).await?;
    } else {
        framed.feed(Bitfield::full(num_pieces).to_message()).await?;
    }
    framed.send(Message::Unchoke).await?;
    let mut counter = 0u8;
    while let Some(msg) = framed.next().await {
        if let Message::Request(r) = msg? {
            counter = counter.wrapping_add(1);
            // Not the data: a byte pattern that changes per block.
            let data = Bytes::from(vec![0xA5 ^ counter; r.length as usize]);
            framed
                .send(Message::Piece(Block {
                    piece: r.piece,
                    begin: r.begin,
                    data,
                }))
                .await?;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Starts the lying peer on 127.0.0.1; returns its address.
async fn liar(info_hash: InfoHash, num_pieces: u32, sent: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(lie(stream, info_hash, num_pieces, Arc::clone(&sent)));
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_sending_corrupt_blocks_is_banned() {
    common::within(TEST_TIME, async {
        let f = common::Fixture::v1();
        let torrent = &f.torrent;
        let num_pieces = torrent.info().geometry().num_pieces();

        let (seeder, _seed) = common::our_seeder(torrent, f.src()).await;
        let honest = seeder.listen_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let fake = liar(torrent.info_hash(), num_pieces, Arc::clone(&sent)).await;

        let (leecher, handle) = common::our_leecher(torrent, f.dst(), &[], false).await;
        // Collect every event from before the first connection on.
        let mut rx = handle.events();
        let events = tokio::spawn(async move {
            let mut all = Vec::new();
            while let Ok(e) = rx.recv().await {
                let done = e == Event::StatusChanged(Status::Finished);
                all.push(e);
                if done {
                    break;
                }
            }
            all
        });
        // The liar first, so that it surely gets requests; the honest
        // seeder once the liar has answered one.
        handle.add_peers([fake]);
        while sent.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.add_peers([honest]);

        let started = Instant::now();
        common::wait_complete(&handle, TEST_TIME).await;
        let stats = handle.stats();
        println!("{}", common::describe("beside a liar", started, &stats));
        let events = timeout(Duration::from_secs(10), events)
            .await
            .expect("the event stream reaches Finished")
            .unwrap();

        assert!(
            sent.load(Ordering::Relaxed) > 0,
            "the liar was asked for blocks and sent garbage"
        );
        assert!(
            events.contains(&Event::PeerBanned { addr: fake }),
            "the liar is banned: {events:?}"
        );
        assert!(
            !events.contains(&Event::PeerBanned { addr: honest }),
            "the honest seeder is not banned: {events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::PieceFailed { .. })),
            "garbage failed the hash check"
        );
        assert!(stats.wasted > 0, "{stats:?}");
        assert_eq!(stats.pieces_have, stats.num_pieces);
        f.assert_downloaded();

        common::shut_down([leecher, seeder]).await;
    })
    .await;
}
