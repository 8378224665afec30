//! What our leecher shows of a peer (`TorrentHandle::peers`) and how it
//! times the peer's requests, seen with a seed written here with the
//! peer-wire codecs: a peer that keeps us choked for longer than the
//! request timeout and then unchokes us is not snubbed at once for the
//! quiet time before our requests; a peer that chokes us and rejects our
//! requests for its allowed fast set is not asked for them again and
//! again (BEP 6).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId};
use seedbed_peer_wire::{Limits, Message, MessageCodec, Reserved};
use seedbed_session::{PeerInfo, SessionConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

/// What the fake seed tells the test.
#[derive(Debug)]
enum Seen {
    /// The first `request` arrived.
    Request,
}

/// A seed with the fast extension on a loopback port: answers one
/// connection's handshake as `peer_id`, then runs `seed` on the wire.
async fn fast_seed<F, Fut>(
    info_hash: InfoHash,
    num_pieces: u32,
    peer_id: [u8; 20],
    seed: F,
) -> SocketAddr
where
    F: FnOnce(Framed<TcpStream, MessageCodec>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Ok(Some((framed, _))) = common::answer_handshake(
            stream,
            info_hash,
            PeerId(peer_id),
            Reserved::ZERO.with(Reserved::FAST),
            |_| {},
        )
        .await
        else {
            return;
        };
        let wire = framed.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(num_pieces)));
        seed(wire).await;
    });
    addr
}

/// A seed that never sends a block: handshake (fast extension), `have
/// all`, then `unchoke` after `choked_for`; it reads everything the other
/// side sends and reports the first request on `seen`.
async fn silent_seed(
    info_hash: InfoHash,
    num_pieces: u32,
    choked_for: Duration,
    seen: mpsc::UnboundedSender<Seen>,
) -> SocketAddr {
    fast_seed(
        info_hash,
        num_pieces,
        *b"-XX0001-silentseed00",
        move |mut wire| async move {
            if wire.send(Message::HaveAll).await.is_err() {
                return;
            }
            let unchoke_at = tokio::time::sleep(choked_for);
            tokio::pin!(unchoke_at);
            let mut unchoked = false;
            let mut requested = false;
            loop {
                tokio::select! {
                    () = &mut unchoke_at, if !unchoked => {
                        unchoked = true;
                        if wire.send(Message::Unchoke).await.is_err() {
                            return;
                        }
                    }
                    msg = wire.next() => match msg {
                        Some(Ok(Message::Request(_))) if !requested => {
                            requested = true;
                            let _ = seen.send(Seen::Request);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                }
            }
        },
    )
    .await
}

fn peer_at(peers: &[PeerInfo], addr: SocketAddr) -> Option<PeerInfo> {
    peers.iter().find(|p| p.addr == addr).cloned()
}

/// A peer that unchokes us only after longer than the request timeout
/// (say it had no upload slot) gets our requests; they are timed from
/// when they were sent, not from when the connection was made, so a
/// peer that answers within the timeout is not snubbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_unchokes_after_the_request_timeout_is_not_snubbed_at_once() {
    common::within(Duration::from_secs(60), async {
        let f = common::Fixture::v1();
        let torrent = &f.torrent;
        let num_pieces = torrent.info().geometry().num_pieces();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let request_timeout = Duration::from_secs(3);
        let fake = silent_seed(
            torrent.info_hash(),
            num_pieces,
            request_timeout + Duration::from_secs(2),
            seen_tx,
        )
        .await;
        let config = SessionConfig {
            request_timeout,
            ..common::config()
        };
        let (leecher, handle) =
            common::our_leecher_with(config, torrent, f.dst(), &[fake], false).await;

        assert!(matches!(seen.recv().await, Some(Seen::Request)));
        // Past the first rate tick (1 s after the requests), well within
        // the request timeout of the requests themselves.
        tokio::time::sleep(Duration::from_millis(1800)).await;
        let p = peer_at(&handle.peers(), fake).expect("still connected");
        assert!(
            !p.snubbed,
            "snubbed 1.8 s after our first requests (timeout {request_timeout:?}): {p:?}"
        );
        assert!(p.requests_out > 0, "our requests are still out: {p:?}");

        common::shut_down([leecher]).await;
    })
    .await;
}

/// A seed that keeps us choked, lets us request piece 0 (allowed fast)
/// and rejects every request (BEP 6 lets it: "A peer MAY reject requests
/// for already Allowed Fast pieces"); counts the requests.
async fn rejecting_seed(
    info_hash: InfoHash,
    num_pieces: u32,
    requests: Arc<AtomicU64>,
) -> SocketAddr {
    fast_seed(
        info_hash,
        num_pieces,
        *b"-XX0001-rejectseed00",
        move |mut wire| async move {
            if wire.feed(Message::HaveAll).await.is_err()
                || wire.send(Message::AllowedFast { piece: 0 }).await.is_err()
            {
                return;
            }
            while let Some(Ok(msg)) = wire.next().await {
                if let Message::Request(r) = msg {
                    requests.fetch_add(1, Ordering::Relaxed);
                    if wire.send(Message::RejectRequest(r)).await.is_err() {
                        return;
                    }
                }
            }
        },
    )
    .await
}

/// Rejected requests of an allowed fast piece while choked: we stop
/// asking for that piece (as libtorrent does) instead of asking for the
/// same blocks again after every reject, a request storm of one round
/// trip per block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_allowed_fast_requests_are_not_sent_again_and_again() {
    common::within(Duration::from_secs(60), async {
        let f = common::Fixture::v1();
        let torrent = &f.torrent;
        let g = torrent.info().geometry();
        let num_pieces = g.num_pieces();
        let blocks_of_0 = u64::from(g.num_blocks(g.piece(0).unwrap()));
        let requests = Arc::new(AtomicU64::new(0));
        let fake = rejecting_seed(torrent.info_hash(), num_pieces, Arc::clone(&requests)).await;
        let (leecher, handle) = common::our_leecher(torrent, f.dst(), &[fake], false).await;

        while requests.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let n = requests.load(Ordering::Relaxed);
        assert!(
            n <= blocks_of_0,
            "{n} requests in 2 s for the {blocks_of_0} blocks of the rejected allowed fast piece"
        );
        assert!(peer_at(&handle.peers(), fake).is_some(), "still connected");

        common::shut_down([leecher]).await;
    })
    .await;
}
