//! The sans-IO streaming message decoder: bytes in, [`Message`]s out.

use bytes::{Buf, BytesMut};

use crate::error::Error;
use crate::limits::Limits;
use crate::message::{check_header, Message};

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
}

impl MessageDecoder {
    /// A decoder with these limits, at stream offset 0.
    pub fn new(limits: Limits) -> Self {
        MessageDecoder { limits, offset: 0 }
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
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if len == 0 {
            buf.advance(4);
            self.offset += 4;
            return Ok(Some(Message::KeepAlive));
        }
        let max = self.limits.get_max_message_len();
        if len > max {
            return Err(Error::MessageTooLong {
                offset: self.offset,
                len,
                max,
            });
        }
        if buf.len() < 5 {
            return Ok(None);
        }
        let msg_id = buf[4];
        check_header(len, msg_id, &self.limits, self.offset)?;
        let frame_len = 4 + len as usize;
        if buf.len() < frame_len {
            buf.reserve(frame_len - buf.len());
            return Ok(None);
        }
        let msg = Message::from_frame(msg_id, buf, frame_len, &self.limits, self.offset);
        self.offset += frame_len as u64;
        msg.map(Some)
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

impl Default for MessageDecoder {
    fn default() -> Self {
        MessageDecoder::new(Limits::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Block;
    use bytes::Bytes;

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
}
