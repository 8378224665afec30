//! What our leecher shows of a peer (`TorrentHandle::peers`) and how it
//! times the peer's requests, seen with a seed written here with the
//! peer-wire codecs: a peer that keeps us choked for longer than the
//! request timeout and then unchokes us is not snubbed at once for the
//! quiet time before our requests.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId};
use seedbed_peer_wire::{Limits, Message, MessageCodec, Reserved};
use seedbed_session::{PeerInfo, SessionConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the fake seed tells the test.
#[derive(Debug)]
enum Seen {
    /// The first `request` arrived.
    Request,
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Ok(Some((framed, _))) = common::answer_handshake(
            stream,
            info_hash,
            PeerId(*b"-XX0001-silentseed00"),
            Reserved::ZERO.with(Reserved::FAST),
            |_| {},
        )
        .await
        else {
            return;
        };
        let mut wire =
            framed.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(num_pieces)));
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
    });
    addr
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
