//! Round trips for every message, and streams decoded whole, one byte at a
//! time, and split at every point.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use seedbed_peer_wire::{
    id, Block, BlockRequest, HashRequest, Hashes, Limits, Message, MessageDecoder, MessageRef,
};

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn block_request() -> impl Strategy<Value = BlockRequest> {
    (
        any::<u32>(),
        any::<u32>(),
        0..=Limits::DEFAULT_MAX_BLOCK_LEN,
    )
        .prop_map(|(piece, begin, length)| BlockRequest {
            piece,
            begin,
            length,
        })
}

fn hash_request() -> impl Strategy<Value = HashRequest> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(pieces_root, base_layer, index, length, proof_layers)| HashRequest {
                pieces_root,
                base_layer,
                index,
                length,
                proof_layers,
            },
        )
}

fn is_known(msg_id: u8) -> bool {
    matches!(msg_id, 0..=9 | 13..=17 | 20..=23)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        any::<u32>().prop_map(|piece| Message::Have { piece }),
        bytes(40).prop_map(Message::Bitfield),
        block_request().prop_map(Message::Request),
        (any::<u32>(), any::<u32>(), bytes(300))
            .prop_map(|(piece, begin, data)| { Message::Piece(Block { piece, begin, data }) }),
        block_request().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        any::<u32>().prop_map(|piece| Message::SuggestPiece { piece }),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block_request().prop_map(Message::RejectRequest),
        any::<u32>().prop_map(|piece| Message::AllowedFast { piece }),
        (any::<u8>(), bytes(100)).prop_map(|(id, payload)| Message::Extended { id, payload }),
        hash_request().prop_map(Message::HashRequest),
        (
            hash_request(),
            proptest::collection::vec(any::<[u8; 32]>(), 0..4)
        )
            .prop_map(|(request, h)| Message::Hashes(Hashes {
                request,
                hashes: Bytes::from(h.concat())
            })),
        hash_request().prop_map(Message::HashReject),
        (
            any::<u8>().prop_filter("unknown id", |i| !is_known(*i)),
            bytes(50)
        )
            .prop_map(|(id, payload)| Message::Unknown { id, payload }),
    ]
}

fn decode_all(dec: &mut MessageDecoder, buf: &mut BytesMut) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(m) = dec.decode(buf).expect("valid stream") {
        out.push(m);
    }
    out
}

/// Decodes with `decode_borrowed` from `wire[*pos..]` until it needs more,
/// advancing `pos` past each frame; copies the messages out.
fn decode_borrowed_all(dec: &mut MessageDecoder, wire: &[u8], pos: &mut usize) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some((m, n)) = dec.decode_borrowed(&wire[*pos..]).expect("valid stream") {
        assert_eq!(m.to_message().encoded_len(), n);
        out.push(m.to_message());
        *pos += n;
    }
    out
}

fn encode_all(msgs: &[Message]) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        m.encode(&mut v);
    }
    v
}

/// One of every kind, as a fixed stream.
fn every_kind() -> Vec<Message> {
    let req = BlockRequest {
        piece: 1,
        begin: 16384,
        length: 16384,
    };
    let hreq = HashRequest {
        pieces_root: [3; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 1,
    };
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have { piece: 5 },
        Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
        Message::Request(req),
        Message::Piece(Block {
            piece: 1,
            begin: 0,
            data: Bytes::from(vec![9u8; 100]),
        }),
        Message::Cancel(req),
        Message::Port(6881),
        Message::SuggestPiece { piece: 3 },
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest(req),
        Message::AllowedFast { piece: 8 },
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"d1:md6:ut_pexi2eee"),
        },
        Message::HashRequest(hreq),
        Message::Hashes(Hashes {
            request: hreq,
            hashes: Bytes::from(vec![4u8; 96]),
        }),
        Message::HashReject(hreq),
        Message::Unknown {
            id: 99,
            payload: Bytes::from_static(b"future"),
        },
        Message::KeepAlive,
    ]
}

#[test]
fn names_and_ids() {
    let names: Vec<&str> = every_kind().iter().map(Message::name).collect();
    assert_eq!(names[7], "request");
    assert_eq!(names[16], "extended");
    assert_eq!(names[20], "unknown");
    assert_eq!(
        Message::Piece(Block {
            piece: 0,
            begin: 0,
            data: Bytes::new()
        })
        .id(),
        Some(id::PIECE)
    );
    assert_eq!(Message::KeepAlive.id(), None);
    for m in every_kind() {
        assert_eq!(m.to_bytes().len(), m.encoded_len());
    }
}

#[test]
fn stream_of_every_kind_split_at_every_point() {
    let msgs = every_kind();
    let wire = encode_all(&msgs);
    // Whole.
    let mut dec = MessageDecoder::new(Limits::new());
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(decode_all(&mut dec, &mut buf), msgs);
    assert!(buf.is_empty());
    assert_eq!(dec.offset(), wire.len() as u64);
    // One byte at a time.
    let mut dec = MessageDecoder::new(Limits::new());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in &wire {
        buf.extend_from_slice(&[b]);
        out.extend(decode_all(&mut dec, &mut buf));
    }
    assert_eq!(out, msgs);
    // Every split point into two reads.
    for split in 0..=wire.len() {
        let mut dec = MessageDecoder::new(Limits::new());
        let mut buf = BytesMut::from(&wire[..split]);
        let mut out = decode_all(&mut dec, &mut buf);
        buf.extend_from_slice(&wire[split..]);
        out.extend(decode_all(&mut dec, &mut buf));
        assert_eq!(out, msgs, "split at {split}");
        assert!(dec.decode_eof(&mut buf).unwrap().is_none());
    }
}

#[test]
fn borrowed_stream_of_every_kind_split_at_every_point() {
    let msgs = every_kind();
    let wire = encode_all(&msgs);
    for split in 0..=wire.len() {
        let mut dec = MessageDecoder::new(Limits::new());
        let mut pos = 0;
        let mut out = decode_borrowed_all(&mut dec, &wire[..split], &mut pos);
        assert!(pos <= split);
        out.extend(decode_borrowed_all(&mut dec, &wire, &mut pos));
        assert_eq!(out, msgs, "split at {split}");
        assert_eq!(pos, wire.len());
        assert_eq!(dec.offset(), wire.len() as u64);
    }
}

#[test]
fn borrowed_piece_data_is_a_slice_of_the_input() {
    let msg = Message::Piece(Block {
        piece: 3,
        begin: 16384,
        data: Bytes::from(vec![7u8; 16384]),
    });
    let wire = msg.to_bytes();
    let (m, n) = MessageDecoder::default()
        .decode_borrowed(&wire)
        .unwrap()
        .expect("a whole frame");
    assert_eq!(n, wire.len());
    let MessageRef::Piece { piece, begin, data } = m else {
        panic!("expected a piece")
    };
    assert_eq!((piece, begin), (3, 16384));
    assert_eq!(data.as_ptr_range(), wire[13..].as_ptr_range());
}

#[test]
fn many_messages_in_one_buffer() {
    let mut msgs = Vec::new();
    for i in 0..2000u32 {
        msgs.push(Message::Have { piece: i });
        msgs.push(Message::Request(BlockRequest {
            piece: i,
            begin: 0,
            length: 16384,
        }));
        if i % 100 == 0 {
            msgs.push(Message::Piece(Block {
                piece: i,
                begin: 0,
                data: Bytes::from(vec![i as u8; 16384]),
            }));
        }
    }
    let wire = encode_all(&msgs);
    let mut buf = BytesMut::from(&wire[..]);
    let mut dec = MessageDecoder::default();
    assert_eq!(decode_all(&mut dec, &mut buf), msgs);
}

#[test]
fn piece_data_is_a_slice_of_the_read_buffer() {
    let msg = Message::Piece(Block {
        piece: 0,
        begin: 0,
        data: Bytes::from(vec![7u8; 16384]),
    });
    let mut buf = BytesMut::with_capacity(40_000);
    msg.encode(&mut buf);
    msg.encode(&mut buf);
    let alloc = buf.as_ptr_range();
    let mut dec = MessageDecoder::default();
    for _ in 0..2 {
        let Some(Message::Piece(block)) = dec.decode(&mut buf).unwrap() else {
            panic!("expected a piece")
        };
        assert_eq!(block.data.len(), 16384);
        let data = block.data.as_ptr_range();
        assert!(
            alloc.start <= data.start && data.end <= alloc.end,
            "payload was copied"
        );
    }
}

/// A request that follows BEP 52's rules, with up to 40 proof layers.
fn valid_hash_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), 0u32..20, 1u32..=9, 0u32..64, 0u32..40).prop_map(
        |(pieces_root, base_layer, log_len, slot, proof_layers)| HashRequest {
            pieces_root,
            base_layer,
            index: slot << log_len,
            length: 1 << log_len,
            proof_layers,
        },
    )
}

proptest! {
    /// A `hashes` answer built for a valid request survives the wire and
    /// splits back into the same base and proof hashes; one hash more or
    /// less is refused.
    #[test]
    fn hashes_answers_round_trip_and_split(req in valid_hash_request(), seed: u8) {
        prop_assert!(req.validate(HashRequest::MAX_LENGTH).is_ok());
        let hash = |i: u64| -> [u8; 32] { [seed ^ (i as u8); 32] };
        let base: Vec<[u8; 32]> = (0..u64::from(req.length)).map(hash).collect();
        let proof: Vec<[u8; 32]> = (0..u64::from(req.proof_count())).map(|i| hash(i + 1000)).collect();
        prop_assert_eq!(req.answer_len(), (base.len() + proof.len()) as u64);
        let msg = Message::Hashes(Hashes::new(req, &base, &proof));
        let mut buf = BytesMut::from(&msg.to_bytes()[..]);
        let back = MessageDecoder::new(Limits::new()).decode(&mut buf).unwrap().unwrap();
        prop_assert_eq!(&back, &msg);
        let Message::Hashes(h) = back else { unreachable!() };
        let (b, p) = h.split().unwrap();
        prop_assert_eq!(b, base.clone());
        prop_assert_eq!(p, proof.clone());
        let short = Hashes::new(req, &base[1..], &proof);
        prop_assert!(short.split().is_err());
        let long = Hashes::new(req, &base, &[proof.clone(), vec![[0; 32]]].concat());
        prop_assert!(long.split().is_err());
    }

    /// `hash request` and `hash reject` carry any request, valid or not,
    /// so a peer can reject one that breaks the rules.
    #[test]
    fn any_hash_request_round_trips(req in hash_request()) {
        for m in [Message::HashRequest(req), Message::HashReject(req)] {
            let mut buf = BytesMut::from(&m.to_bytes()[..]);
            let back = MessageDecoder::new(Limits::new()).decode(&mut buf).unwrap();
            prop_assert_eq!(back, Some(m));
        }
        let ok = req.validate(HashRequest::MAX_LENGTH).is_ok();
        let rule = req.length >= 2
            && req.length.is_power_of_two()
            && req.length <= 512
            && req.index % req.length == 0;
        prop_assert_eq!(ok, rule);
    }
}

proptest! {
    #[test]
    fn every_message_round_trips(m in message()) {
        let wire = m.to_bytes();
        prop_assert_eq!(wire.len(), m.encoded_len());
        let mut buf = BytesMut::from(&wire[..]);
        let mut dec = MessageDecoder::default();
        prop_assert_eq!(dec.decode(&mut buf).unwrap(), Some(m.clone()));
        prop_assert!(buf.is_empty());
        let (r, n) = MessageDecoder::default().decode_borrowed(&wire).unwrap().expect("whole");
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(r.to_message(), m);
    }

    #[test]
    fn random_streams_byte_by_byte(msgs in proptest::collection::vec(message(), 0..30)) {
        let wire = encode_all(&msgs);
        let mut dec = MessageDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in &wire {
            buf.extend_from_slice(&[b]);
            out.extend(decode_all(&mut dec, &mut buf));
        }
        prop_assert_eq!(&out, &msgs);
        let mut dec = MessageDecoder::default();
        let mut pos = 0;
        let mut out = Vec::new();
        for end in 0..=wire.len() {
            out.extend(decode_borrowed_all(&mut dec, &wire[..end], &mut pos));
        }
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn random_streams_random_chunks(
        msgs in proptest::collection::vec(message(), 0..30),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let wire = encode_all(&msgs);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut dec = MessageDecoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for w in points.windows(2) {
            buf.extend_from_slice(&wire[w[0]..w[1]]);
            out.extend(decode_all(&mut dec, &mut buf));
        }
        prop_assert_eq!(out, msgs);
    }
}

#[test]
fn piece_header_then_data_is_the_whole_message() {
    let block = Block {
        piece: 9,
        begin: 32768,
        data: Bytes::from(vec![3u8; 1000]),
    };
    let mut out = Vec::new();
    block.encode_header(&mut out);
    assert_eq!(out.len(), Block::HEADER_LEN);
    out.extend_from_slice(&block.data);
    assert_eq!(out, Message::Piece(block).to_bytes());
}
