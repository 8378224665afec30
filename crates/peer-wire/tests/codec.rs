//! The tokio-util codecs: switching from the handshake codec to the message
//! codec on one connection keeps bytes that arrived with the handshake.
#![cfg(feature = "codec")]

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    BlockRequest, Error, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId, Reserved,
};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Decoder, Framed, FramedRead};

fn theirs() -> Handshake {
    Handshake::new(InfoHash([0x11; 20]), PeerId(*b"-LT2080-000000000000"))
        .with_reserved(Reserved::ZERO.with(Reserved::FAST))
}

#[tokio::test]
async fn map_codec_keeps_bytes_after_the_handshake() {
    let (ours_io, mut peer_io) = tokio::io::duplex(1 << 16);
    // The peer writes its handshake and three messages in one go, so they
    // land in the same read as the handshake.
    let mut wire = theirs().to_bytes().to_vec();
    let msgs = [
        Message::HaveAll,
        Message::Unchoke,
        Message::Request(BlockRequest {
            piece: 0,
            begin: 0,
            length: 16384,
        }),
    ];
    for m in &msgs {
        m.encode(&mut wire);
    }
    peer_io.write_all(&wire).await.unwrap();
    drop(peer_io);

    let mut framed = Framed::new(ours_io, HandshakeCodec::new());
    let Some(Ok(HandshakeEvent::Complete(hs))) = framed.next().await else {
        panic!("no handshake")
    };
    assert_eq!(hs, theirs());
    assert!(
        !framed.read_buffer().is_empty(),
        "messages were read with the handshake"
    );
    let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new()));
    let mut got = Vec::new();
    while let Some(m) = framed.next().await {
        got.push(m.unwrap());
    }
    assert_eq!(got, msgs);
}

#[tokio::test]
async fn both_sides_over_a_duplex() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let ours = Handshake::new(InfoHash([0x11; 20]), PeerId(*b"-SB0010-111111111111"));
    let mut left = Framed::new(a, HandshakeCodec::new());
    let mut right = Framed::new(b, HandshakeCodec::early_info_hash());
    left.send(ours).await.unwrap();
    // The listener sees the info hash first, then the whole handshake.
    assert_eq!(
        right.next().await.unwrap().unwrap(),
        HandshakeEvent::Prefix(ours.prefix())
    );
    assert_eq!(
        right.next().await.unwrap().unwrap(),
        HandshakeEvent::Complete(ours)
    );
    right.send(theirs()).await.unwrap();
    assert_eq!(
        left.next().await.unwrap().unwrap(),
        HandshakeEvent::Complete(theirs())
    );

    let mut left = left.map_codec(|_| MessageCodec::new(Limits::new()));
    let mut right = right.map_codec(|_| MessageCodec::new(Limits::new().num_pieces(100)));
    let piece = Message::Piece(seedbed_peer_wire::Block {
        piece: 3,
        begin: 0,
        data: Bytes::from(vec![5u8; 16384]),
    });
    left.send(&piece).await.unwrap();
    left.send(Message::KeepAlive).await.unwrap();
    assert_eq!(right.next().await.unwrap().unwrap(), piece);
    assert_eq!(right.next().await.unwrap().unwrap(), Message::KeepAlive);
    // A hostile frame ends the stream with an error.
    left.get_mut()
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .unwrap();
    left.get_mut().write_all(&[7]).await.unwrap();
    assert!(matches!(
        right.next().await.unwrap(),
        Err(Error::MessageTooLong { .. })
    ));
}

#[tokio::test]
async fn early_info_hash_arrives_before_the_peer_id() {
    let (reader, mut writer) = tokio::io::duplex(1024);
    let mut framed = FramedRead::new(reader, HandshakeCodec::early_info_hash());
    let bytes = theirs().to_bytes();
    writer.write_all(&bytes[..48]).await.unwrap();
    assert_eq!(
        framed.next().await.unwrap().unwrap(),
        HandshakeEvent::Prefix(theirs().prefix())
    );
    writer.write_all(&bytes[48..]).await.unwrap();
    assert_eq!(
        framed.next().await.unwrap().unwrap(),
        HandshakeEvent::Complete(theirs())
    );
}

#[test]
fn handshake_codec_rejects_other_protocols_early_and_truncation() {
    let mut codec = HandshakeCodec::new();
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(Error::InvalidProtocol { offset: 0, .. })
    ));
    let mut buf = BytesMut::from(&theirs().to_bytes()[..30]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(Error::Truncated {
            needed: 68,
            available: 30,
            ..
        })
    ));
}

#[test]
fn codec_reserves_once_the_length_is_known() {
    let mut codec = MessageCodec::new(Limits::new());
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&(1u32 + 8 + 16384).to_be_bytes());
    buf.extend_from_slice(&[7]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() >= 4 + 1 + 8 + 16384);
}
