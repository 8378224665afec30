//! A peer connection's two directions after the handshake: [`WireReader`]
//! (bytes in, messages out, with a read buffer that is released while the
//! connection is idle) and [`SendQueue`] (messages and ready-made `piece`
//! frames out, written with `writev` without copying the blocks; sent
//! frames are filled again for the next blocks).
//!
//! The connection is split in two halves so that the peer task can wait
//! for the socket to take more bytes and for the next message at once, and
//! never stops reading while a large upload drains. Transports and
//! encryption plug in as the two boxed halves.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{BufMut, Bytes, BytesMut};
use seedbed_metainfo::BLOCK_SIZE;
use seedbed_peer_wire::{BlockRequest, Message, MessageDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;

/// The receiving half of a connection.
pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The sending half of a connection.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Bytes reserved for a read while nothing large is expected: enough for
/// any control message, small enough that an idle connection holds almost
/// nothing. A `piece` frame reserves its whole length once its header
/// arrived.
const IDLE_READ: usize = 256;

/// Read-ahead while blocks are expected: one `recv` can take four 16 KiB
/// blocks (see `MessageDecoder::with_read_ahead`).
pub(crate) const BUSY_READ_AHEAD: usize = 64 * 1024;

/// Length of a `piece` frame's header: length prefix (4), id (1), index
/// (4), begin (4) (BEP 3).
pub(crate) const PIECE_HEADER: usize = 13;

/// Reads and decodes messages, enforcing the decoder's limits.
pub(crate) struct WireReader {
    io: BoxRead,
    buf: BytesMut,
    decoder: MessageDecoder,
    busy: bool,
    eof: bool,
}

impl WireReader {
    /// Reads from `io`, starting with `buffered` (bytes that came with the
    /// handshake), idle.
    pub(crate) fn new(io: BoxRead, buffered: BytesMut, decoder: MessageDecoder) -> WireReader {
        WireReader {
            io,
            buf: buffered,
            decoder: decoder.with_read_ahead(0),
            busy: false,
            eof: false,
        }
    }

    /// Sets whether blocks are expected. Busy: 64 KiB read-ahead, so one
    /// `recv` takes several blocks. Idle: no read-ahead, and an empty
    /// buffer is released (an idle connection keeps no read buffer).
    pub(crate) fn set_busy(&mut self, busy: bool) {
        if busy != self.busy {
            self.busy = busy;
            let ahead = if busy { BUSY_READ_AHEAD } else { 0 };
            self.decoder = self.decoder.clone().with_read_ahead(ahead);
        }
        if !busy && self.buf.is_empty() && self.buf.capacity() > IDLE_READ {
            self.buf = BytesMut::new();
        }
    }

    /// Bytes held by the read buffer (its capacity).
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next message if the buffer already holds it whole (no IO).
    ///
    /// # Errors
    /// The decoder's, as [`next`](Self::next).
    pub(crate) fn try_next(&mut self) -> Result<Option<Message>, Error> {
        Ok(self.decoder.decode(&mut self.buf)?)
    }

    /// The next message; `None` at a clean end of the stream. Cancel safe:
    /// bytes read are kept in the buffer.
    ///
    /// # Errors
    /// The decoder's errors (the stream is then out of sync: close it), a
    /// truncated frame at the end of the stream, and IO errors.
    pub(crate) async fn next(&mut self) -> Option<Result<Message, Error>> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => {}
                Err(e) => return Some(Err(e.into())),
            }
            if self.eof {
                return match self.decoder.decode_eof(&mut self.buf) {
                    Ok(Some(m)) => Some(Ok(m)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e.into())),
                };
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(IDLE_READ);
            }
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Some(Err(Error::io("read from peer", e))),
            }
        }
    }
}

/// Most buffers in one `writev` (Linux allows 1024).
const MAX_SLICES: usize = 64;

/// Length of a `piece` frame of a whole 16 KiB block: the frames that are
/// kept and filled again.
const FULL_FRAME: usize = PIECE_HEADER + BLOCK_SIZE as usize;

/// Most sent frames a connection keeps to fill again (64 frames, about
/// 1 MiB): more than the send queue holds at its watermark plus one disk
/// read batch, so a steady upload allocates nothing. Released with the
/// queue's other buffers when the connection has nothing to send.
///
/// Why: a fresh 16 KiB allocation per block meant fresh pages from the
/// kernel (the allocator gives freed memory back): page faults and zeroing
/// took about a fifth of the seed's CPU in a 1 GiB upload
/// (`scripts/bench-seed.sh` under `perf`).
pub(crate) const MAX_SPARE_FRAMES: usize = 64;

/// Bytes waiting to be sent, in order: small messages encoded into one
/// buffer, `piece` frames as they were read from disk (header and block in
/// one allocation, never copied again). Full frames that were sent are
/// kept (at most [`MAX_SPARE_FRAMES`]) and handed out again by
/// [`frame`](Self::frame).
#[derive(Default)]
pub(crate) struct SendQueue {
    chunks: VecDeque<Bytes>,
    /// Bytes of the front chunk already written (chunks are not advanced,
    /// so a sent frame comes back whole).
    front_written: usize,
    /// Small messages queued after the last chunk.
    small: BytesMut,
    /// Bytes waiting in `chunks` and `small`.
    len: usize,
    /// Sent full frames, to be filled again.
    spare: Vec<BytesMut>,
}

impl SendQueue {
    /// A `piece` frame for `r`: its 13-byte header written, the block (from
    /// byte [`PIECE_HEADER`] on) to be filled. A frame of a whole block is
    /// a sent one when there is one: its block bytes are then those of an
    /// earlier block, so the caller must overwrite all of them.
    pub(crate) fn frame(&mut self, r: &BlockRequest) -> BytesMut {
        let len = PIECE_HEADER + r.length as usize;
        let mut frame = match self.spare.pop() {
            Some(f) if len == FULL_FRAME => f,
            spare => {
                self.spare.extend(spare);
                BytesMut::zeroed(len)
            }
        };
        write_piece_header(&mut frame[..PIECE_HEADER], r);
        frame
    }

    /// Gives back a frame from [`frame`](Self::frame) that was not queued.
    pub(crate) fn unused_frame(&mut self, frame: BytesMut) {
        if frame.len() == FULL_FRAME && self.spare.len() < MAX_SPARE_FRAMES {
            self.spare.push(frame);
        }
    }

    /// Queues a message (encoded here: meant for everything but `piece`
    /// blocks read from disk, which go through [`push_frame`](Self::push_frame)).
    pub(crate) fn push(&mut self, msg: &Message) {
        let before = self.small.len();
        msg.encode(&mut self.small);
        self.len += self.small.len() - before;
    }

    /// Queues a whole encoded frame as it is.
    pub(crate) fn push_frame(&mut self, frame: Bytes) {
        self.seal_small();
        self.len += frame.len();
        self.chunks.push_back(frame);
    }

    fn seal_small(&mut self) {
        if !self.small.is_empty() {
            self.chunks.push_back(self.small.split().freeze());
        }
    }

    /// Bytes waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes what the socket takes in one `writev` of up to 64 buffers.
    /// Cancel safe: nothing is consumed unless written.
    ///
    /// # Errors
    /// The socket's; a write of 0 bytes is `WriteZero`.
    pub(crate) async fn write_some(&mut self, io: &mut BoxWrite) -> io::Result<usize> {
        self.seal_small();
        let n = {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut k = 0;
            for c in self.chunks.iter().take(MAX_SLICES) {
                slices[k] = IoSlice::new(if k == 0 { &c[self.front_written..] } else { c });
                k += 1;
            }
            io.write_vectored(&slices[..k]).await?
        };
        if n == 0 && self.len > 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.consume(n);
        Ok(n)
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front().expect("consumed bytes were queued");
            let left = front.len() - self.front_written;
            if n >= left {
                n -= left;
                self.front_written = 0;
                let sent = self.chunks.pop_front().expect("just seen");
                self.keep_sent(sent);
            } else {
                self.front_written += n;
                n = 0;
            }
        }
    }

    /// Keeps a sent chunk to fill again if it is a whole frame no one else
    /// holds and there is room.
    fn keep_sent(&mut self, sent: Bytes) {
        if sent.len() == FULL_FRAME && self.spare.len() < MAX_SPARE_FRAMES {
            if let Ok(frame) = sent.try_into_mut() {
                self.spare.push(frame);
            }
        }
    }

    /// Releases the queue's buffers (small messages, spare frames) once
    /// everything is sent.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty()
            && (self.small.capacity() > 0
                || self.spare.capacity() > 0
                || self.chunks.capacity() > 0)
        {
            self.small = BytesMut::new();
            self.chunks = VecDeque::new();
            self.spare = Vec::new();
        }
    }

    /// Bytes of memory the queue holds besides queued frames.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.small.capacity() + self.spare.iter().map(BytesMut::capacity).sum::<usize>()
    }

    /// Spare frames held.
    #[cfg(test)]
    pub(crate) fn spare_frames(&self) -> usize {
        self.spare.len()
    }
}

fn write_piece_header(mut head: &mut [u8], r: &BlockRequest) {
    head.put_u32(9 + r.length);
    head.put_u8(7);
    head.put_u32(r.piece);
    head.put_u32(r.begin);
}

/// Reads `batch` (requests of one peer, validated, each with its frame
/// from [`SendQueue::frame`]) from `read` into their `piece` frames, so the
/// block is read from disk straight into the bytes that go to the socket.
/// `read` must fill its whole buffer.
pub(crate) fn piece_frames(
    batch: Vec<(BlockRequest, BytesMut)>,
    mut read: impl FnMut(&BlockRequest, &mut [u8]) -> Result<(), Error>,
) -> Vec<(BlockRequest, Result<Bytes, Error>)> {
    batch
        .into_iter()
        .map(|(r, mut frame)| {
            let res = read(&r, &mut frame[PIECE_HEADER..]).map(|()| frame.freeze());
            (r, res)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedbed_peer_wire::{Block, Limits};

    #[test]
    fn piece_frames_encode_as_the_codec_does() {
        let reqs = vec![
            BlockRequest {
                piece: 3,
                begin: 16384,
                length: 5,
            },
            BlockRequest {
                piece: 9,
                begin: 0,
                length: 3,
            },
        ];
        let mut q = SendQueue::default();
        let batch = reqs.iter().map(|r| (*r, q.frame(r))).collect();
        let frames = piece_frames(batch, |r, out| {
            out.fill(r.piece as u8);
            Ok(())
        });
        for ((r, frame), want) in frames.into_iter().zip(&reqs) {
            assert_eq!(r, *want);
            let mut expect = BytesMut::new();
            Message::Piece(Block {
                piece: r.piece,
                begin: r.begin,
                data: Bytes::from(vec![r.piece as u8; r.length as usize]),
            })
            .encode(&mut expect);
            assert_eq!(frame.unwrap(), expect.freeze());
        }
    }

    fn full(piece: u32) -> BlockRequest {
        BlockRequest {
            piece,
            begin: 0,
            length: BLOCK_SIZE,
        }
    }

    /// Queues a frame of `r` filled with `byte`.
    fn queue_frame(q: &mut SendQueue, r: &BlockRequest, byte: u8) {
        let mut f = q.frame(r);
        f[PIECE_HEADER..].fill(byte);
        q.push_frame(f.freeze());
    }

    #[tokio::test]
    async fn sent_frames_are_filled_again_and_released_when_idle() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (mut rd, _w) = tokio::io::split(b);
        let (_r, w) = tokio::io::split(a);
        let mut w: BoxWrite = Box::new(w);
        let mut q = SendQueue::default();
        queue_frame(&mut q, &full(1), 0x11);
        let short = BlockRequest {
            piece: 2,
            begin: 0,
            length: 100,
        };
        queue_frame(&mut q, &short, 0x22);
        while !q.is_empty() {
            q.write_some(&mut w).await.unwrap();
        }
        assert_eq!(
            q.spare_frames(),
            1,
            "the whole block's frame is kept, the short one not"
        );
        let mut got = vec![0u8; FULL_FRAME + PIECE_HEADER + 100];
        rd.read_exact(&mut got).await.unwrap();

        // The kept frame comes back with a new header and the old block.
        let again = q.frame(&full(7));
        assert_eq!(q.spare_frames(), 0);
        let mut head = BytesMut::new();
        write_piece_header_for_test(&mut head, &full(7));
        assert_eq!(&again[..PIECE_HEADER], &head[..]);
        assert!(again[PIECE_HEADER..].iter().all(|b| *b == 0x11));
        // A short request never gets a kept frame.
        q.unused_frame(again);
        assert_eq!(q.frame(&short).len(), PIECE_HEADER + 100);
        assert_eq!(q.spare_frames(), 1);

        // At most MAX_SPARE_FRAMES are kept.
        for i in 0..MAX_SPARE_FRAMES as u32 + 8 {
            queue_frame(&mut q, &full(i), i as u8);
        }
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; (MAX_SPARE_FRAMES + 8) * FULL_FRAME];
            rd.read_exact(&mut sink).await.unwrap();
            sink
        });
        while !q.is_empty() {
            q.write_some(&mut w).await.unwrap();
        }
        let sink = reader.await.unwrap();
        for (i, frame) in sink.chunks(FULL_FRAME).enumerate() {
            assert!(
                frame[PIECE_HEADER..].iter().all(|b| *b == i as u8),
                "frame {i} intact"
            );
        }
        assert_eq!(q.spare_frames(), MAX_SPARE_FRAMES);
        q.release_if_empty();
        assert_eq!(q.buffer_capacity(), 0, "idle: no spare frames");
    }

    fn write_piece_header_for_test(out: &mut BytesMut, r: &BlockRequest) {
        out.resize(PIECE_HEADER, 0);
        write_piece_header(&mut out[..], r);
    }

    #[tokio::test]
    async fn queue_keeps_order_and_survives_short_writes() {
        let (a, b) = tokio::io::duplex(7);
        let (mut rd, _w) = tokio::io::split(b);
        let (_r, w) = tokio::io::split(a);
        let mut w: BoxWrite = Box::new(w);
        let mut q = SendQueue::default();
        q.push(&Message::Interested);
        q.push_frame(Bytes::from_static(b"FRAME-ONE"));
        q.push(&Message::Have { piece: 1 });
        q.push_frame(Bytes::from_static(b"FRAME-TWO"));
        q.push(&Message::Unchoke);
        let mut want = BytesMut::new();
        Message::Interested.encode(&mut want);
        want.put_slice(b"FRAME-ONE");
        Message::Have { piece: 1 }.encode(&mut want);
        want.put_slice(b"FRAME-TWO");
        Message::Unchoke.encode(&mut want);
        assert_eq!(q.len(), want.len());
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; want.len()];
            rd.read_exact(&mut got).await.unwrap();
            assert_eq!(got, want);
        });
        while !q.is_empty() {
            let n = q.write_some(&mut w).await.unwrap();
            assert!(n <= 7, "the pipe takes at most 7 bytes at once");
        }
        reader.await.unwrap();
        q.release_if_empty();
        assert_eq!(q.buffer_capacity(), 0);
    }

    #[tokio::test]
    async fn reader_decodes_buffered_bytes_first_and_releases_when_idle() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_r, mut w) = tokio::io::split(a);
        let (rd, _w) = tokio::io::split(b);
        // A bitfield that came with the handshake, then a block.
        let mut first = BytesMut::new();
        Message::Have { piece: 2 }.encode(&mut first);
        let mut rd = WireReader::new(Box::new(rd), first, MessageDecoder::new(Limits::new()));
        assert_eq!(
            rd.next().await.unwrap().unwrap(),
            Message::Have { piece: 2 }
        );
        rd.set_busy(true);
        let block = Message::Piece(Block {
            piece: 0,
            begin: 0,
            data: Bytes::from(vec![7u8; 16384]),
        });
        let mut wire = BytesMut::new();
        block.encode(&mut wire);
        w.write_all(&wire).await.unwrap();
        assert_eq!(rd.next().await.unwrap().unwrap(), block);
        rd.set_busy(false);
        assert_eq!(rd.buffer_capacity(), 0, "idle: no read buffer");
        drop(w);
        drop(_r);
        assert!(rd.next().await.is_none(), "clean end");
    }
}
