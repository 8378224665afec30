//! `MseStream` and the async `connect` / `accept` helpers over in-memory
//! pipes: data both ways in every method, the peer wire codecs running
//! unchanged on top, plain connections told apart and kept intact, policy
//! refusals, and hostile peers (endless padding, never finishing, closing)
//! dropped within the handshake timeout.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId};
use seedbed_peer_wire::mse::{
    accept, connect, AcceptOptions, Config, CryptoMethods, Error, Method, MseStream, PrivateKey,
    Secrets, SkeyHash,
};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, Message, MessageCodec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;

const IH: InfoHash = InfoHash([0x42; 20]);
const LIMIT: Duration = Duration::from_secs(5);

fn secrets(k: u8) -> Secrets {
    Secrets::new(
        PrivateKey::from_bytes(&[k; 24]).unwrap(),
        vec![k; usize::from(k) * 2],
        vec![0; usize::from(k)],
    )
}

fn lookup(h: &SkeyHash) -> Option<InfoHash> {
    (*h == SkeyHash::of(&IH)).then_some(IH)
}

fn options(methods: CryptoMethods, prefer_rc4: bool) -> AcceptOptions {
    AcceptOptions {
        config: Config {
            methods,
            prefer_rc4,
            ..Config::default()
        },
        ..AcceptOptions::default()
    }
}

async fn pair(
    offer: CryptoMethods,
    accept_options: AcceptOptions,
    ia: &[u8],
) -> (
    Result<MseStream<DuplexStream>, Error>,
    Result<MseStream<DuplexStream>, Error>,
) {
    // A small pipe: writes and reads interleave in many pieces.
    let (a, b) = tokio::io::duplex(1000);
    let config = Config {
        methods: offer,
        ..Config::default()
    };
    let ia = ia.to_vec();
    let client = tokio::spawn(async move { connect(a, IH, &ia, &config, secrets(3), LIMIT).await });
    let server = accept(b, &accept_options, secrets(4), lookup).await;
    (client.await.unwrap(), server)
}

#[tokio::test]
async fn data_both_ways_in_every_method() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for (prefer_rc4, method) in [(false, Method::Plaintext), (true, Method::Rc4)] {
        let (a, b) = pair(
            CryptoMethods::BOTH,
            options(CryptoMethods::BOTH, prefer_rc4),
            b"IA!",
        )
        .await;
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.method(), Some(method));
        assert_eq!(b.method(), Some(method));
        assert_eq!(b.info_hash(), Some(IH));
        let mut ia = [0u8; 3];
        b.read_exact(&mut ia).await.unwrap();
        assert_eq!(&ia, b"IA!");
        let send = big.clone();
        let writer = tokio::spawn(async move {
            // Odd-sized writes, then a flush.
            for chunk in send.chunks(7777) {
                a.write_all(chunk).await.unwrap();
            }
            a.flush().await.unwrap();
            let mut back = vec![0u8; 100_000];
            a.read_exact(&mut back).await.unwrap();
            back
        });
        let mut got = vec![0u8; big.len()];
        b.read_exact(&mut got).await.unwrap();
        assert!(got == big, "{method:?}: data differs");
        b.write_all(&big[..100_000]).await.unwrap();
        b.flush().await.unwrap();
        assert!(writer.await.unwrap() == big[..100_000]);
    }
}

#[tokio::test]
async fn peer_wire_codecs_run_unchanged() {
    let (a, b) = pair(CryptoMethods::RC4, AcceptOptions::default(), b"").await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.method(), Some(Method::Rc4));
    let ours = Handshake::new(IH, PeerId([1; 20]));
    let theirs = Handshake::new(IH, PeerId([2; 20]));
    let mut fa = Framed::new(a, HandshakeCodec::new());
    let mut fb = Framed::new(b, HandshakeCodec::early_info_hash());
    fa.send(ours).await.unwrap();
    assert!(matches!(fb.next().await, Some(Ok(HandshakeEvent::Prefix(p))) if p.info_hash == IH));
    assert!(matches!(fb.next().await, Some(Ok(HandshakeEvent::Complete(h))) if h == ours));
    fb.send(theirs).await.unwrap();
    assert!(matches!(fa.next().await, Some(Ok(HandshakeEvent::Complete(h))) if h == theirs));
    let mut fa = fa.map_codec(|_| MessageCodec::default());
    let mut fb = fb.map_codec(|_| MessageCodec::default());
    let msgs = [
        Message::Interested,
        Message::Request(BlockRequest {
            piece: 3,
            begin: 16384,
            length: 16384,
        }),
        Message::Piece(seedbed_peer_wire::Block {
            piece: 3,
            begin: 0,
            data: vec![9u8; 16384].into(),
        }),
    ];
    // The pipe holds 1000 bytes: send and receive at once.
    let send = async {
        for m in &msgs {
            fa.feed(m.clone()).await.unwrap();
        }
        SinkExt::<Message>::flush(&mut fa).await.unwrap();
    };
    let receive = async {
        for m in &msgs {
            assert_eq!(fb.next().await.unwrap().unwrap(), *m);
        }
    };
    tokio::join!(send, receive);
}

#[tokio::test]
async fn initial_payload_handshake_then_reply() {
    // The way a client dials: its BitTorrent handshake is IA.
    let ours = Handshake::new(IH, PeerId([1; 20]));
    let (a, b) = pair(
        CryptoMethods::BOTH,
        AcceptOptions::default(),
        &ours.to_bytes(),
    )
    .await;
    let mut fb = Framed::new(b.unwrap(), HandshakeCodec::early_info_hash());
    assert!(matches!(
        fb.next().await,
        Some(Ok(HandshakeEvent::Prefix(_)))
    ));
    assert!(matches!(fb.next().await, Some(Ok(HandshakeEvent::Complete(h))) if h == ours));
    let reply = Handshake::new(IH, PeerId([2; 20]));
    fb.send(reply).await.unwrap();
    let mut fa = Framed::new(a.unwrap(), HandshakeCodec::new());
    assert!(matches!(fa.next().await, Some(Ok(HandshakeEvent::Complete(h))) if h == reply));
}

#[tokio::test]
async fn plain_connections_are_kept_intact() {
    let (mut a, b) = tokio::io::duplex(1000);
    let hs = Handshake::new(IH, PeerId([5; 20]));
    // Arrives in pieces: the first 10 bytes cannot decide.
    let bytes = hs.to_bytes();
    let sender = tokio::spawn(async move {
        a.write_all(&bytes[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.write_all(&bytes[10..]).await.unwrap();
        a
    });
    let s = accept(b, &AcceptOptions::default(), secrets(4), lookup)
        .await
        .unwrap();
    assert_eq!(s.method(), None);
    assert!(!s.is_mse());
    let mut f = Framed::new(s, HandshakeCodec::new());
    assert!(matches!(f.next().await, Some(Ok(HandshakeEvent::Complete(h))) if h == hs));
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn policy_refusals() {
    // Encrypted refused.
    let no_mse = AcceptOptions {
        allow_encrypted: false,
        ..AcceptOptions::default()
    };
    let (_, b) = pair(CryptoMethods::BOTH, no_mse, b"").await;
    assert!(matches!(b, Err(Error::Refused { kind: "encrypted" })));
    // Plaintext refused.
    let (mut a, b) = tokio::io::duplex(1000);
    a.write_all(&Handshake::new(IH, PeerId([5; 20])).to_bytes())
        .await
        .unwrap();
    let forced = AcceptOptions {
        allow_plaintext: false,
        ..AcceptOptions::default()
    };
    assert!(matches!(
        accept(b, &forced, secrets(4), lookup).await,
        Err(Error::Refused { kind: "plaintext" })
    ));
    // No common method: the initiator sees the connection close.
    let (a, b) = pair(
        CryptoMethods::PLAINTEXT,
        options(CryptoMethods::RC4, true),
        b"",
    )
    .await;
    assert!(matches!(b, Err(Error::NoCommonMethod { .. })));
    assert!(matches!(a, Err(Error::Closed { .. })), "{a:?}");
    // Unknown torrent.
    let (a, b) = tokio::io::duplex(1000);
    let client = tokio::spawn(async move {
        connect(
            a,
            InfoHash([1; 20]),
            b"",
            &Config::default(),
            secrets(3),
            LIMIT,
        )
        .await
    });
    let r = accept(b, &AcceptOptions::default(), secrets(4), lookup).await;
    assert!(matches!(r, Err(Error::UnknownInfoHash { .. })));
    assert!(client.await.unwrap().is_err());
}

#[tokio::test]
async fn hostile_peers_are_dropped_within_the_timeout() {
    let short = AcceptOptions {
        timeout: Duration::from_millis(300),
        ..AcceptOptions::default()
    };
    let key = PrivateKey::from_bytes(&[9; 20]).unwrap().public_key();

    // Endless padding, as fast as it goes: refused at the 512-byte bound.
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let blaster = tokio::spawn(async move {
        let _ = a.write_all(&key.0).await;
        while a.write_all(&[0xee; 1024]).await.is_ok() {}
    });
    let t = Instant::now();
    let r = accept(b, &short, secrets(4), lookup).await;
    assert!(matches!(r, Err(Error::SyncNotFound { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_millis(300));
    blaster.await.unwrap();

    // Endless padding, one byte at a time: the timeout ends it.
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let trickle = tokio::spawn(async move {
        let _ = a.write_all(&key.0[..50]).await;
        for _ in 0..1000 {
            if a.write_all(&[0xee]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let t = Instant::now();
    let r = accept(b, &short, secrets(4), lookup).await;
    assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(2));
    trickle.abort();

    // Silence: connected, never sends a byte.
    let (_a, b) = tokio::io::duplex(1024);
    let t = Instant::now();
    assert!(matches!(
        accept(b, &short, secrets(4), lookup).await,
        Err(Error::TimedOut)
    ));
    assert!(t.elapsed() < Duration::from_secs(2));

    // An initiator whose peer never answers.
    let (a, _b) = tokio::io::duplex(1024);
    let r = connect(
        a,
        IH,
        b"",
        &Config::default(),
        secrets(3),
        Duration::from_millis(200),
    )
    .await;
    assert!(matches!(r, Err(Error::TimedOut)));

    // A peer that closes mid-handshake.
    let (mut a, b) = tokio::io::duplex(1024);
    a.write_all(&key.0[..40]).await.unwrap();
    drop(a);
    assert!(matches!(
        accept(b, &short, secrets(4), lookup).await,
        Err(Error::Closed { received: 40 })
    ));
}
