//! The sans-IO streaming message decoder: bytes in, [`Message`]s out.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::Error;
use crate::limits::Limits;
use crate::message::{check_header, id, Block, BlockRequest, Hashes, Message};
use crate::message_ref::MessageRef;

/// A frame the fast path of [`MessageDecoder`] took: `have`, `request`,
/// `cancel` or `piece`, whole and valid.
#[derive(Debug, Clone, Copy)]
struct Fast {
    msg_id: u8,
    piece: u32,
    begin: u32,
    /// Block length: of the request, or of the piece's data.
    length: u32,
    frame_len: usize,
}

impl Fast {
    #[inline(always)]
    fn block_request(self) -> BlockRequest {
        BlockRequest {
            piece: self.piece,
            begin: self.begin,
            length: self.length,
        }
    }

    /// The message, its piece data borrowed from `frame`, which starts
    /// with the frame this was read from.
    #[inline(always)]
    fn to_ref(self, frame: &[u8]) -> MessageRef<'_> {
        match self.msg_id {
            id::HAVE => MessageRef::Have { piece: self.piece },
            id::REQUEST => MessageRef::Request(self.block_request()),
            id::CANCEL => MessageRef::Cancel(self.block_request()),
            _ => MessageRef::Piece {
                piece: self.piece,
                begin: self.begin,
                data: &frame[Block::HEADER_LEN..self.frame_len],
            },
        }
    }
}

/// What [`MessageDecoder::parse_checked`] found at the front of a buffer.
#[derive(Debug)]
enum Parsed<'a> {
    /// A whole frame of this many bytes, length prefix included.
    Frame(MessageRef<'a>, usize),
    /// An incomplete frame: its whole length once the header passed the
    /// checks, else 0.
    Need(usize),
}

/// Decodes a stream of peer wire messages from a growing [`BytesMut`].
///
/// This is the sans-IO core of [`MessageCodec`](crate::MessageCodec) and
/// follows the same contract: [`decode`](Self::decode) returns `Ok(None)`
/// when more bytes are needed, consumes exactly one frame when it returns a
/// message, and leaves the buffer untouched otherwise. Once the 4-byte
/// length prefix and the id byte have arrived, the frame is checked against
/// the [`Limits`] and only then is space reserved for the rest of it.
/// Variable-length payloads are split off the buffer without copying.
///
/// [`decode_borrowed`](Self::decode_borrowed) does the same on a `&[u8]`
/// the caller owns, returning a [`MessageRef`] whose payloads borrow it:
/// the same checks and errors, no reference count per payload.
///
/// ```
/// use bytes::BytesMut;
/// use seedbed_peer_wire::{Limits, Message, MessageDecoder};
///
/// let mut dec = MessageDecoder::new(Limits::new());
/// let mut buf = BytesMut::from(&[0, 0, 0, 5, 4, 0, 0, 0][..]); // have, 3 of 4 index bytes
/// assert_eq!(dec.decode(&mut buf)?, None);
/// buf.extend_from_slice(&[7, 0, 0, 0, 0]); // the last byte, then a keep-alive
/// assert_eq!(dec.decode(&mut buf)?, Some(Message::Have { piece: 7 }));
/// assert_eq!(dec.decode(&mut buf)?, Some(Message::KeepAlive));
/// assert_eq!(dec.decode(&mut buf)?, None);
/// # Ok::<(), seedbed_peer_wire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    limits: Limits,
    offset: u64,
    read_ahead: usize,
}

impl MessageDecoder {
    /// A decoder with these limits, at stream offset 0.
    pub fn new(limits: Limits) -> Self {
        MessageDecoder {
            limits,
            offset: 0,
            read_ahead: 0,
        }
    }

    /// Sets the read-ahead in bytes (default 0). When
    /// [`decode`](Self::decode) needs more bytes and the buffer's spare
    /// capacity is below the rest of the frame or below an eighth of the
    /// read-ahead, it reserves room for the rest of the frame or the
    /// read-ahead, whichever is larger, so that one socket read can take
    /// several frames (a 64 KiB read-ahead holds four 16 KiB blocks). The
    /// reservation does not depend on any length field beyond the checked
    /// frame length. 0 reserves exactly the rest of each checked frame.
    #[must_use]
    pub fn with_read_ahead(mut self, bytes: usize) -> Self {
        self.read_ahead = bytes;
        self
    }

    /// The read-ahead in bytes; see [`with_read_ahead`](Self::with_read_ahead).
    pub fn read_ahead(&self) -> usize {
        self.read_ahead
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the limits, e.g. to set the piece count once a magnet link's
    /// metadata arrived.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bytes consumed so far: the stream offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Decodes one message from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds no complete frame yet (having
    /// reserved space for the frame once its length passed the checks).
    ///
    /// # Errors
    /// [`Error::MessageTooLong`], [`Error::WrongLength`],
    /// [`Error::BlockTooLong`], [`Error::BitfieldLength`],
    /// [`Error::BitfieldSpareBits`], [`Error::PieceOutOfRange`],
    /// [`Error::ExtendedTooLong`], [`Error::HashesLength`]. After an error
    /// the stream is out of sync: close the connection.
    #[inline(always)]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        if let Some(f) = self.fast(buf) {
            self.offset += f.frame_len as u64;
            let msg = match f.msg_id {
                id::PIECE => {
                    return Ok(Some(Message::Piece(Block {
                        piece: f.piece,
                        begin: f.begin,
                        data: split_payload(buf, Block::HEADER_LEN, f.frame_len),
                    })));
                }
                id::HAVE => Message::Have { piece: f.piece },
                id::REQUEST => Message::Request(f.block_request()),
                _ => Message::Cancel(f.block_request()),
            };
            buf.advance(f.frame_len);
            return Ok(Some(msg));
        }
        self.decode_general(buf)
    }

    /// The general path of [`decode`](Self::decode), for every message the
    /// fast path did not take.
    #[inline(never)]
    fn decode_general(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        let (msg, n) = match self.parse_checked(buf)? {
            Parsed::Frame(msg, n) => (msg, n),
            Parsed::Need(frame_len) => {
                // frame_len is 0 until the header passed its checks.
                let rest = frame_len.saturating_sub(buf.len());
                let spare = buf.capacity() - buf.len();
                if self.read_ahead > 0 && spare < rest.max(self.read_ahead / 8).max(1) {
                    buf.reserve(rest.max(self.read_ahead));
                } else if rest > 0 {
                    buf.reserve(rest);
                }
                return Ok(None);
            }
        };
        self.offset += n as u64;
        // Only the variable-length payloads are split off (one reference
        // count each); fixed-size messages were read in place.
        Ok(Some(match msg {
            MessageRef::Piece { piece, begin, .. } => Message::Piece(Block {
                piece,
                begin,
                data: split_payload(buf, 13, n),
            }),
            MessageRef::Bitfield(_) => Message::Bitfield(split_payload(buf, 5, n)),
            MessageRef::Extended { id, .. } => Message::Extended {
                id,
                payload: split_payload(buf, 6, n),
            },
            MessageRef::Hashes { request, .. } => Message::Hashes(Hashes {
                request,
                hashes: split_payload(buf, 53, n),
            }),
            MessageRef::Unknown { id, .. } => Message::Unknown {
                id,
                payload: split_payload(buf, 5, n),
            },
            fixed => {
                let msg = match fixed {
                    MessageRef::KeepAlive => Message::KeepAlive,
                    MessageRef::Choke => Message::Choke,
                    MessageRef::Unchoke => Message::Unchoke,
                    MessageRef::Interested => Message::Interested,
                    MessageRef::NotInterested => Message::NotInterested,
                    MessageRef::Have { piece } => Message::Have { piece },
                    MessageRef::Request(r) => Message::Request(r),
                    MessageRef::Cancel(r) => Message::Cancel(r),
                    MessageRef::Port(p) => Message::Port(p),
                    MessageRef::SuggestPiece { piece } => Message::SuggestPiece { piece },
                    MessageRef::HaveAll => Message::HaveAll,
                    MessageRef::HaveNone => Message::HaveNone,
                    MessageRef::RejectRequest(r) => Message::RejectRequest(r),
                    MessageRef::AllowedFast { piece } => Message::AllowedFast { piece },
                    MessageRef::HashRequest(r) => Message::HashRequest(r),
                    MessageRef::HashReject(r) => Message::HashReject(r),
                    // Never taken: matched above. Copying keeps this total
                    // without a panic.
                    variable => variable.to_message(),
                };
                buf.advance(n);
                msg
            }
        }))
    }

    /// Decodes one message from the front of `buf` without taking
    /// ownership of anything: payloads borrow `buf`. Returns the message
    /// and the length of its frame, which the caller must drop from the
    /// front of its buffer before the next call; the decoder counts it as
    /// consumed.
    ///
    /// The same checks as [`decode`](Self::decode), in the same order,
    /// with the same errors; `Ok(None)` when `buf` holds no complete frame
    /// yet (nothing is reserved: the buffer is the caller's).
    ///
    /// ```
    /// use seedbed_peer_wire::{Limits, MessageDecoder, MessageRef};
    ///
    /// let wire = [0, 0, 0, 5, 4, 0, 0, 0, 7, 0, 0, 0, 11, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0xab, 0xcd];
    /// let mut dec = MessageDecoder::new(Limits::new());
    /// let (msg, n) = dec.decode_borrowed(&wire)?.expect("a whole frame");
    /// assert_eq!((msg, n), (MessageRef::Have { piece: 7 }, 9));
    /// let (msg, n) = dec.decode_borrowed(&wire[9..])?.expect("a whole frame");
    /// assert_eq!(msg, MessageRef::Piece { piece: 1, begin: 0, data: &[0xab, 0xcd] });
    /// assert_eq!(dec.decode_borrowed(&wire[9 + n..])?, None);
    /// assert_eq!(dec.offset(), wire.len() as u64);
    /// # Ok::<(), seedbed_peer_wire::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    #[inline(always)]
    pub fn decode_borrowed<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> Result<Option<(MessageRef<'a>, usize)>, Error> {
        if let Some(f) = self.fast(buf) {
            self.offset += f.frame_len as u64;
            return Ok(Some((f.to_ref(buf), f.frame_len)));
        }
        match self.parse_checked(buf)? {
            Parsed::Frame(msg, n) => {
                self.offset += n as u64;
                Ok(Some((msg, n)))
            }
            Parsed::Need(_) => Ok(None),
        }
    }

    /// The fast path for the common messages (`have`, `request`, `cancel`,
    /// `piece`): a whole frame that passes every check, header and
    /// payload, read in place. `None` for anything else, including any
    /// frame that fails a check or is incomplete: the general path
    /// ([`parse_checked`](Self::parse_checked)) then finds the first
    /// failed check in stream order, with its error. A plain struct, not
    /// a `Result` of an enum, so that it stays in registers.
    #[inline(always)]
    fn fast(&self, buf: &[u8]) -> Option<Fast> {
        let &[a, b, c, d, msg_id] = buf.first_chunk::<5>()?;
        let len = u32::from_be_bytes([a, b, c, d]);
        let limits = &self.limits;
        if len > limits.get_max_message_len() {
            return None;
        }
        let piece_ok = |piece: u32| match limits.get_num_pieces() {
            Some(n) => piece < n,
            None => true,
        };
        let be32 =
            |f: &[u8], at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
        match (msg_id, len) {
            (id::HAVE, 5) => {
                let f = buf.first_chunk::<9>()?;
                let piece = be32(f, 5);
                piece_ok(piece).then_some(Fast {
                    msg_id,
                    piece,
                    begin: 0,
                    length: 0,
                    frame_len: 9,
                })
            }
            (id::REQUEST | id::CANCEL, 13) => {
                let f = buf.first_chunk::<17>()?;
                let (piece, length) = (be32(f, 5), be32(f, 13));
                (piece_ok(piece) && length <= limits.get_max_block_len()).then_some(Fast {
                    msg_id,
                    piece,
                    begin: be32(f, 9),
                    length,
                    frame_len: 17,
                })
            }
            (id::PIECE, 9..) if len - 9 <= limits.get_max_block_len() => {
                let frame_len = 4 + len as usize;
                let f = buf.get(..frame_len)?;
                let piece = be32(f, 5);
                piece_ok(piece).then_some(Fast {
                    msg_id,
                    piece,
                    begin: be32(f, 9),
                    length: len - 9,
                    frame_len,
                })
            }
            _ => None,
        }
    }

    /// Parses the frame at the front of `buf`, consuming nothing: every
    /// check, in stream order, each as soon as the bytes it needs have
    /// arrived.
    #[inline(never)]
    fn parse_checked<'a>(&self, buf: &'a [u8]) -> Result<Parsed<'a>, Error> {
        let Some(&head) = buf.first_chunk::<4>() else {
            return Ok(Parsed::Need(0));
        };
        let len = u32::from_be_bytes(head);
        if len == 0 {
            return Ok(Parsed::Frame(MessageRef::KeepAlive, 4));
        }
        let max = self.limits.get_max_message_len();
        if len > max {
            return Err(Error::MessageTooLong {
                offset: self.offset,
                len,
                max,
            });
        }
        let Some(&msg_id) = buf.get(4) else {
            return Ok(Parsed::Need(0));
        };
        check_header(len, msg_id, &self.limits, self.offset)?;
        let frame_len = 4 + len as usize;
        let Some(frame) = buf.get(..frame_len) else {
            return Ok(Parsed::Need(frame_len));
        };
        let msg = MessageRef::from_payload(msg_id, &frame[5..], &self.limits, self.offset)?;
        Ok(Parsed::Frame(msg, frame_len))
    }

    /// As [`decode`](Self::decode), at the end of the stream: bytes left
    /// over that do not make a whole frame are an error.
    ///
    /// # Errors
    /// As [`decode`](Self::decode), and [`Error::Truncated`] for an
    /// incomplete frame.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        match self.decode(buf)? {
            Some(m) => Ok(Some(m)),
            None if buf.is_empty() => Ok(None),
            None => {
                let needed = if buf.len() >= 4 {
                    4 + u64::from(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]))
                } else {
                    4
                };
                Err(Error::Truncated {
                    offset: self.offset,
                    needed,
                    available: buf.len() as u64,
                })
            }
        }
    }
}

/// Drops the `header` bytes of a frame of `n` bytes from the front of
/// `buf` and splits off the rest: the payload, zero-copy.
#[inline(always)]
fn split_payload(buf: &mut BytesMut, header: usize, n: usize) -> Bytes {
    // `Bytes::advance` is inline pointer arithmetic; `BytesMut::advance`
    // is a call.
    let mut payload = buf.split_to(n).freeze();
    payload.advance(header);
    payload
}

impl Default for MessageDecoder {
    fn default() -> Self {
        MessageDecoder::new(Limits::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Block;

    #[test]
    fn piece_payload_points_into_the_read_buffer() {
        let block = Message::Piece(Block {
            piece: 4,
            begin: 16384,
            data: Bytes::from(vec![0xab; 16384]),
        });
        let mut buf = BytesMut::with_capacity(3 * 16400);
        for _ in 0..3 {
            block.encode(&mut buf);
        }
        let allocation = buf.as_ptr_range();
        let mut dec = MessageDecoder::default();
        for _ in 0..3 {
            let Some(Message::Piece(b)) = dec.decode(&mut buf).unwrap() else {
                panic!("expected a piece");
            };
            let data = b.data.as_ptr_range();
            assert!(allocation.start <= data.start && data.end <= allocation.end);
            assert_eq!(b.data, block_data());
        }
        assert!(buf.is_empty());

        fn block_data() -> Bytes {
            Bytes::from(vec![0xab; 16384])
        }
    }

    /// The fast path of `parse` for common messages must agree with the
    /// general path on everything: messages, frame lengths, errors.
    fn same_as_general_path(dec: &MessageDecoder, input: &[u8]) -> bool {
        let Some(f) = dec.fast(input) else {
            return false;
        };
        let fast = format!("{:?}", Parsed::Frame(f.to_ref(input), f.frame_len));
        let general = format!("{:?}", dec.parse_checked(input).unwrap());
        assert_eq!(fast, general, "input {input:?}");
        true
    }

    fn frame(len: u32, msg_id: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.push(msg_id);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn fast_path_agrees_at_the_limits() {
        let payload: Vec<u8> = (0..40u8).collect();
        let mut taken = 0;
        let limit_sets = [
            Limits::new(),
            Limits::new().num_pieces(3).max_block_len(0x0405),
            Limits::new().max_message_len(12),
            Limits::new().max_message_len(13).max_block_len(3),
            Limits::new().num_pieces(0),
        ];
        for limits in limit_sets {
            let dec = MessageDecoder {
                limits,
                offset: 77,
                read_ahead: 0,
            };
            for msg_id in [id::HAVE, id::REQUEST, id::CANCEL, id::PIECE, id::PORT, 200] {
                for len in [0, 1, 4, 5, 6, 8, 9, 10, 12, 13, 14, 17, 20, u32::MAX] {
                    let f = frame(len, msg_id, &payload);
                    for end in 0..=f.len() {
                        taken += usize::from(same_as_general_path(&dec, &f[..end]));
                    }
                }
            }
        }
        assert!(taken > 50, "the fast path was taken {taken} times");
    }

    /// A piece frame's header and the first `have` bytes of its block.
    fn partial_piece(block_len: u32, have: usize) -> BytesMut {
        let mut f = BytesMut::new();
        f.extend_from_slice(&(9 + block_len).to_be_bytes());
        f.extend_from_slice(&[id::PIECE, 0, 0, 0, 1, 0, 0, 0, 0]);
        f.extend_from_slice(&vec![7u8; have]);
        f
    }

    #[test]
    fn read_ahead_reserves_room_for_several_frames() {
        // Without read-ahead: room for exactly the rest of the frame.
        let mut buf = partial_piece(16_384, 100);
        buf.reserve(0);
        let mut dec = MessageDecoder::new(Limits::new());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        let frame = 13 + 16_384;
        assert!(buf.capacity() >= frame);
        assert!(buf.capacity() < frame + 8 * 1024, "{}", buf.capacity());
        // With 64 KiB: room for the frame's rest or 64 KiB, the larger.
        let mut dec = MessageDecoder::new(Limits::new()).with_read_ahead(64 * 1024);
        assert_eq!(dec.read_ahead(), 64 * 1024);
        let mut buf = partial_piece(16_384, 100);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() - buf.len() >= 64 * 1024);
        // A header alone (length not yet checked against an id) reserves
        // the read-ahead, never the announced length.
        let mut buf = BytesMut::from(&(2_000_000u32).to_be_bytes()[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        let spare = buf.capacity() - buf.len();
        assert!((64 * 1024..2_000_000).contains(&spare), "{spare}");
        // A frame larger than the read-ahead gets its whole rest.
        let mut buf = partial_piece(128 * 1024, 10);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() >= 13 + 128 * 1024);
        // Spare room of at least an eighth of the read-ahead that holds the
        // frame is used as it is (no reallocation, no copy).
        let mut buf = BytesMut::with_capacity(40 * 1024);
        buf.extend_from_slice(&partial_piece(16_384, 0));
        let before = buf.as_ptr();
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.as_ptr(), before);
        assert_eq!(buf.capacity(), 40 * 1024);
        // Too long is still an error before anything is reserved.
        let mut buf = BytesMut::from(&frame_header(3_000_000, id::PIECE)[..]);
        assert!(dec.decode(&mut buf).is_err());
        assert!(buf.capacity() < 64);
    }

    fn frame_header(len: u32, msg_id: u8) -> [u8; 5] {
        let l = len.to_be_bytes();
        [l[0], l[1], l[2], l[3], msg_id]
    }

    #[test]
    fn read_ahead_decodes_the_same_messages() {
        // A stream of pieces and haves fed in odd-sized reads: the same
        // messages with and without read-ahead.
        let mut stream = Vec::new();
        for i in 0..20u32 {
            stream.extend_from_slice(&partial_piece(16_384, 16_384));
            stream.extend_from_slice(&[0, 0, 0, 5, id::HAVE, 0, 0, 0, i as u8]);
        }
        let run = |read_ahead: usize| {
            let mut dec = MessageDecoder::new(Limits::new()).with_read_ahead(read_ahead);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for chunk in stream.chunks(5_000) {
                buf.extend_from_slice(chunk);
                while let Some(m) = dec.decode(&mut buf).unwrap() {
                    out.push(m);
                }
            }
            out
        };
        let plain = run(0);
        assert_eq!(plain.len(), 40);
        assert_eq!(run(64 * 1024), plain);
        assert_eq!(run(1), plain);
    }

    proptest::proptest! {
        #[test]
        fn fast_path_agrees_on_any_input(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            header in (0u32..24, proptest::prelude::any::<u8>()),
            num_pieces in proptest::option::of(0u32..0x0300_0000),
            max_block in proptest::prelude::any::<u32>(),
            max_message in 0u32..30,
        ) {
            let mut limits = Limits::new().max_block_len(max_block >> 8);
            if let Some(n) = num_pieces {
                limits = limits.num_pieces(n);
            }
            if max_message < 25 {
                limits = limits.max_message_len(max_message);
            }
            let dec = MessageDecoder { limits, offset: 5, read_ahead: 0 };
            same_as_general_path(&dec, &input);
            // Mostly plausible headers, to reach the arms.
            let (len, msg_id) = header;
            let msg_id = [id::HAVE, id::REQUEST, id::CANCEL, id::PIECE][msg_id as usize % 4];
            let f = frame(len, msg_id, &input);
            same_as_general_path(&dec, &f);
        }
    }
}
