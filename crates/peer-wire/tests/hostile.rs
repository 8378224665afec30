//! Hostile frames and limits: each is a clear error, found as soon as the
//! header arrived, with no panic and no big allocation.

use bytes::{BufMut, Bytes, BytesMut};
use seedbed_peer_wire::{Block, BlockRequest, Error, Limits, Message, MessageDecoder};

/// Small enough that nothing sized by the hostile length was reserved.
const SMALL: usize = 4096;

fn frame(len: u32, msg_id: u8, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(64);
    b.put_u32(len);
    b.put_u8(msg_id);
    b.put_slice(payload);
    b
}

/// Decodes one message, owned and borrowed, and checks both agree.
fn decode_one(limits: Limits, wire: &[u8]) -> Result<Option<Message>, Error> {
    let mut buf = BytesMut::from(wire);
    let owned = MessageDecoder::new(limits).decode(&mut buf);
    let borrowed = MessageDecoder::new(limits).decode_borrowed(wire);
    match (&owned, borrowed) {
        (Ok(m), Ok(r)) => assert_eq!(m.as_ref(), r.map(|(r, _)| r.to_message()).as_ref()),
        (Err(e), Err(f)) => assert_eq!(format!("{e:?}"), format!("{f:?}")),
        (o, b) => panic!("owned {o:?}, borrowed {b:?}"),
    }
    owned
}

#[test]
fn length_prefix_u32_max() {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_u32(u32::MAX);
    let err = MessageDecoder::default().decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        Error::MessageTooLong {
            offset: 0,
            len: u32::MAX,
            max: Limits::DEFAULT_MAX_MESSAGE_LEN
        }
    ));
    assert!(buf.capacity() <= SMALL);
    assert!(err.to_string().contains("4294967295"));
}

#[test]
fn bitfield_longer_than_the_torrent_needs() {
    // 10 pieces need 2 bytes; the peer announces 1 MiB.
    let mut buf = frame(1 + 1024 * 1024, 5, &[]);
    let err = MessageDecoder::new(Limits::new().num_pieces(10))
        .decode(&mut buf)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::BitfieldLength {
            expected: 2,
            found: 1_048_576,
            ..
        }
    ));
    assert!(buf.capacity() <= SMALL);
    // One byte too many, complete.
    let err = decode_one(Limits::new().num_pieces(10), &frame(4, 5, &[0xff, 0xc0, 0])).unwrap_err();
    assert!(matches!(
        err,
        Error::BitfieldLength {
            expected: 2,
            found: 3,
            ..
        }
    ));
    // Exact length, at the limit: fine; a spare bit set: error.
    let ok = decode_one(Limits::new().num_pieces(10), &frame(3, 5, &[0xff, 0xc0])).unwrap();
    assert_eq!(
        ok,
        Some(Message::Bitfield(Bytes::from_static(&[0xff, 0xc0])))
    );
    let err = decode_one(Limits::new().num_pieces(10), &frame(3, 5, &[0xff, 0xe0])).unwrap_err();
    assert!(matches!(
        err,
        Error::BitfieldSpareBits { num_pieces: 10, .. }
    ));
}

#[test]
fn request_for_a_1_mib_block() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&0u32.to_be_bytes());
    payload.extend_from_slice(&0u32.to_be_bytes());
    payload.extend_from_slice(&(1024 * 1024u32).to_be_bytes());
    let err = decode_one(Limits::new(), &frame(13, 6, &payload)).unwrap_err();
    assert!(matches!(
        err,
        Error::BlockTooLong {
            name: "request",
            len: 1_048_576,
            max: Limits::DEFAULT_MAX_BLOCK_LEN,
            ..
        }
    ));
}

#[test]
fn truncated_fixed_size_messages() {
    // A have whose length prefix is too short: wrong length, found from the header.
    let err = decode_one(Limits::new(), &frame(3, 4, &[0, 0])).unwrap_err();
    assert!(matches!(
        err,
        Error::WrongLength {
            name: "have",
            expected: 5,
            found: 3,
            ..
        }
    ));
    // A request with a length prefix 1 byte short or long.
    for len in [12, 14] {
        let err = decode_one(Limits::new(), &frame(len, 6, &[0; 13])).unwrap_err();
        assert!(matches!(
            err,
            Error::WrongLength {
                name: "request",
                expected: 13,
                ..
            }
        ));
    }
    // The anacrolix case: reject request (16) with length 1.
    let err = decode_one(Limits::new(), &frame(1, 16, &[])).unwrap_err();
    assert!(matches!(
        err,
        Error::WrongLength {
            name: "reject request",
            ..
        }
    ));
    // A correct header whose payload never comes: need more, then at EOF truncated.
    let mut buf = frame(5, 4, &[0, 0]);
    let mut dec = MessageDecoder::default();
    assert_eq!(dec.decode(&mut buf).unwrap(), None);
    let err = dec.decode_eof(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        Error::Truncated {
            offset: 0,
            needed: 9,
            available: 7
        }
    ));
    // Fewer than 4 bytes at EOF.
    let mut buf = BytesMut::from(&[0u8, 0][..]);
    assert!(matches!(
        dec.decode_eof(&mut buf),
        Err(Error::Truncated { needed: 4, .. })
    ));
    // Every fixed-size id with a payload one byte short.
    for (msg_id, size) in [
        (0u8, 0u32),
        (4, 4),
        (6, 12),
        (8, 12),
        (9, 2),
        (13, 4),
        (14, 0),
        (16, 12),
        (17, 4),
        (21, 48),
        (23, 48),
    ] {
        let err = decode_one(Limits::new(), &frame(size + 2, msg_id, &[])).unwrap_err();
        assert!(
            matches!(err, Error::WrongLength { .. }),
            "id {msg_id}: {err}"
        );
        if size > 0 {
            let err = decode_one(Limits::new(), &frame(size, msg_id, &[])).unwrap_err();
            assert!(
                matches!(err, Error::WrongLength { .. }),
                "id {msg_id}: {err}"
            );
        }
    }
}

#[test]
fn max_message_len_at_and_past() {
    let limits = Limits::new().max_message_len(1000);
    let payload = vec![1u8; 999];
    let at = decode_one(limits, &frame(1000, 200, &payload)).unwrap();
    assert!(matches!(at, Some(Message::Unknown { id: 200, ref payload }) if payload.len() == 999));
    let mut past = frame(1001, 200, &[]);
    let err = MessageDecoder::new(limits).decode(&mut past).unwrap_err();
    assert!(matches!(
        err,
        Error::MessageTooLong {
            len: 1001,
            max: 1000,
            ..
        }
    ));
    assert!(past.capacity() <= SMALL);
}

#[test]
fn max_block_len_at_and_past() {
    let limits = Limits::new().max_block_len(16384);
    let piece = |n: usize| {
        Message::Piece(Block {
            piece: 0,
            begin: 0,
            data: Bytes::from(vec![0u8; n]),
        })
        .to_bytes()
    };
    assert!(decode_one(limits, &piece(16384)).unwrap().is_some());
    let err = decode_one(limits, &piece(16385)[..5]).unwrap_err();
    assert!(matches!(
        err,
        Error::BlockTooLong {
            name: "piece",
            len: 16385,
            max: 16384,
            ..
        }
    ));
    let req = |length| {
        Message::Request(BlockRequest {
            piece: 0,
            begin: 0,
            length,
        })
        .to_bytes()
    };
    assert!(decode_one(limits, &req(16384)).unwrap().is_some());
    assert!(matches!(
        decode_one(limits, &req(16385)),
        Err(Error::BlockTooLong { len: 16385, .. })
    ));
    // The default allowance: 128 KiB.
    let d = Limits::new();
    assert!(decode_one(d, &req(128 * 1024)).unwrap().is_some());
    assert!(decode_one(d, &req(128 * 1024 + 1)).is_err());
    let cancel = Message::Cancel(BlockRequest {
        piece: 0,
        begin: 0,
        length: 128 * 1024 + 1,
    });
    assert!(matches!(
        decode_one(d, &cancel.to_bytes()),
        Err(Error::BlockTooLong { name: "cancel", .. })
    ));
    let reject = Message::RejectRequest(BlockRequest {
        piece: 0,
        begin: 0,
        length: 128 * 1024 + 1,
    });
    assert!(matches!(
        decode_one(d, &reject.to_bytes()),
        Err(Error::BlockTooLong {
            name: "reject request",
            ..
        })
    ));
}

#[test]
fn max_extended_len_at_and_past() {
    let limits = Limits::new().max_extended_len(100);
    let ext = |n: usize| {
        Message::Extended {
            id: 1,
            payload: Bytes::from(vec![b'x'; n]),
        }
        .to_bytes()
    };
    // Length prefix = 1 (id 20) + 1 (extended id) + payload.
    assert!(decode_one(limits, &ext(98)).unwrap().is_some());
    let mut past = BytesMut::from(&ext(99)[..5]);
    let err = MessageDecoder::new(limits).decode(&mut past).unwrap_err();
    assert!(matches!(
        err,
        Error::ExtendedTooLong {
            len: 101,
            max: 100,
            ..
        }
    ));
    assert!(past.capacity() <= SMALL);
    // An extended message with no extended id byte.
    assert!(matches!(
        decode_one(limits, &frame(1, 20, &[])),
        Err(Error::WrongLength {
            name: "extended",
            ..
        })
    ));
}

#[test]
fn piece_indices_at_and_past_the_piece_count() {
    let limits = Limits::new().num_pieces(10);
    let ok = Message::Have { piece: 9 }.to_bytes();
    assert!(decode_one(limits, &ok).unwrap().is_some());
    for m in [
        Message::Have { piece: 10 },
        Message::SuggestPiece { piece: 10 },
        Message::AllowedFast { piece: 10 },
        Message::Request(BlockRequest {
            piece: 10,
            begin: 0,
            length: 1,
        }),
        Message::Piece(Block {
            piece: 10,
            begin: 0,
            data: Bytes::new(),
        }),
    ] {
        let err = decode_one(limits, &m.to_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::PieceOutOfRange {
                    index: 10,
                    num_pieces: 10,
                    ..
                }
            ),
            "{err}"
        );
    }
    // Without a piece count any index is accepted.
    assert!(decode_one(Limits::new(), &Message::Have { piece: u32::MAX }.to_bytes()).is_ok());
}

#[test]
fn hashes_must_be_whole_hashes() {
    let err = decode_one(Limits::new(), &frame(1 + 48 + 31, 22, &[0; 79])).unwrap_err();
    assert!(matches!(err, Error::HashesLength { len: 31, .. }));
}

#[test]
fn hashes_at_and_past_the_hash_limit() {
    // The default limit: 576 hashes pass, 577 fail from the header alone
    // (only the 5-byte header is given), before any space is reserved.
    let at = Limits::DEFAULT_MAX_HASHES;
    let wire = frame(1 + 48 + 32 * at, 22, &vec![0; 48 + 32 * at as usize]);
    assert!(decode_one(Limits::new(), &wire).unwrap().is_some());
    let mut buf = frame(1 + 48 + 32 * (at + 1), 22, &[]);
    let err = MessageDecoder::new(Limits::new())
        .decode(&mut buf)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyHashes {
                count: 577,
                max: 576,
                offset: 0
            }
        ),
        "{err}"
    );
    assert!(buf.capacity() < SMALL);
    // A smaller limit is a setting.
    let small = Limits::new().max_hashes(2);
    assert!(decode_one(small, &frame(1 + 48 + 64, 22, &[0; 48 + 64])).is_ok());
    let err = decode_one(small, &frame(1 + 48 + 96, 22, &[0; 48 + 96])).unwrap_err();
    assert!(matches!(
        err,
        Error::TooManyHashes {
            count: 3,
            max: 2,
            ..
        }
    ));
}

#[test]
fn error_offsets_count_from_the_stream_start() {
    let mut buf = BytesMut::new();
    Message::KeepAlive.encode(&mut buf);
    Message::Have { piece: 1 }.encode(&mut buf);
    buf.put_u32(u32::MAX);
    let mut dec = MessageDecoder::default();
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert!(dec.decode(&mut buf).unwrap().is_some());
    let err = dec.decode(&mut buf).unwrap_err();
    assert_eq!(err.offset(), Some(13));
}

#[test]
fn unknown_ids_are_messages_not_errors() {
    for msg_id in [10u8, 11, 12, 18, 19, 24, 255] {
        let m = decode_one(Limits::new(), &frame(4, msg_id, b"abc")).unwrap();
        assert_eq!(
            m,
            Some(Message::Unknown {
                id: msg_id,
                payload: Bytes::from_static(b"abc")
            })
        );
    }
}
