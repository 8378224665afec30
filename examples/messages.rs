//! Builds one of every peer wire message and prints it as hex with its
//! name: a reference card for the wire format (BEP 3, 5, 6, 9, 10, 11, 52).
//!
//! ```text
//! cargo run --release --example messages
//! ```

use seedbed::wire::{
    Block, BlockRequest, Bytes, ExtendedHandshake, ExtensionIds, ExtensionMessage, Handshake,
    HashRequest, Hashes, InfoHash, Message, MetadataMessage, PeerId, PexFlags, PexMessage,
    Reserved,
};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn show(name: &str, bytes: &[u8]) {
    println!("{name:<24} {:>5} B  {}", bytes.len(), hex(bytes));
}

fn main() {
    let info_hash = InfoHash([0xaa; 20]);
    let peer_id = PeerId(*b"-SB0010-example00001");
    let reserved = Reserved::ZERO
        .with(Reserved::DHT)
        .with(Reserved::FAST)
        .with(Reserved::EXTENSION_PROTOCOL);
    let hs = Handshake::new(info_hash, peer_id).with_reserved(reserved);
    show("handshake", &hs.to_bytes());

    let req = BlockRequest {
        piece: 1,
        begin: 0x4000,
        length: 0x4000,
    };
    let hash_req = HashRequest {
        pieces_root: [0x11; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 1,
    };
    let messages = [
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have { piece: 7 },
        Message::Bitfield(Bytes::from_static(&[0b1010_1010, 0b1100_0000])),
        Message::Request(req),
        Message::Piece(Block {
            piece: 1,
            begin: 0x4000,
            data: Bytes::from_static(b"data"),
        }),
        Message::Cancel(req),
        Message::Port(6881),
        Message::SuggestPiece { piece: 3 },
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest(req),
        Message::AllowedFast { piece: 1059 },
        Message::HashRequest(hash_req),
        Message::Hashes(Hashes {
            request: hash_req,
            hashes: Bytes::from(vec![0x22; 64]),
        }),
        Message::HashReject(hash_req),
        Message::Unknown {
            id: 99,
            payload: Bytes::from_static(b"?"),
        },
    ];
    for m in &messages {
        show(m.name(), &m.to_bytes());
    }

    // BEP 10: our extended handshake, then extension messages sent with the
    // ids the peer assigned (here as if it sent ut_metadata=3, ut_pex=1).
    let mut ids = ExtensionIds::with_defaults();
    let mut ours: ExtendedHandshake = ids.our_handshake();
    ours.v = Some("seedbed 0.1".into());
    ours.reqq = Some(250);
    ours.metadata_size = Some(31235);
    show("extended handshake", &ours.to_message().to_bytes());
    let mut theirs = ExtendedHandshake::default();
    theirs.m.insert("ut_metadata".into(), 3);
    theirs.m.insert("ut_pex".into(), 1);
    ids.apply_handshake(&theirs);

    let extension_messages = [
        (
            "ut_metadata request",
            ExtensionMessage::Metadata(MetadataMessage::Request { piece: 0 }),
        ),
        (
            "ut_metadata data",
            ExtensionMessage::Metadata(MetadataMessage::Data {
                piece: 0,
                total_size: 8,
                data: Bytes::from_static(b"d1:ai1ee"),
            }),
        ),
        (
            "ut_metadata reject",
            ExtensionMessage::Metadata(MetadataMessage::Reject { piece: 0 }),
        ),
        (
            "ut_pex",
            ExtensionMessage::Pex(PexMessage {
                added: vec!["10.0.0.1:6881".parse().expect("address")],
                added_flags: vec![PexFlags(PexFlags::SEED | PexFlags::REACHABLE)],
                dropped: vec!["10.0.0.2:51413".parse().expect("address")],
                ..PexMessage::default()
            }),
        ),
    ];
    for (name, m) in &extension_messages {
        let msg = m.to_message(&ids).expect("the peer offered this extension");
        show(name, &msg.to_bytes());
    }
}
