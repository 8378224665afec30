//! tokio-util codecs (feature `codec`): thin drivers over the sans-IO
//! [`Handshake`] parser and [`MessageDecoder`].
//!
//! A connection starts with [`HandshakeCodec`]; after the handshake,
//! switch to [`MessageCodec`] with `Framed::map_codec`, which keeps the read
//! buffer, so messages that arrived in the same read as the handshake are
//! not lost.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::decoder::MessageDecoder;
use crate::error::Error;
use crate::handshake::{Handshake, HandshakePrefix};
use crate::limits::Limits;
use crate::message::Message;

/// What [`HandshakeCodec`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeEvent {
    /// The first 48 bytes arrived: route the connection by info hash before
    /// the peer id is there. Only from [`HandshakeCodec::early_info_hash`].
    Prefix(HandshakePrefix),
    /// The whole 68-byte handshake.
    Complete(Handshake),
}

/// Decodes the 68-byte BEP 3 handshake and encodes ours.
///
/// Consumes exactly 68 bytes; anything after them stays in the buffer for
/// [`MessageCodec`].
///
/// ```no_run
/// # async fn f(stream: tokio::net::TcpStream, ours: seedbed_peer_wire::Handshake) -> Result<(), seedbed_peer_wire::Error> {
/// use futures_util::{SinkExt, StreamExt};
/// use seedbed_peer_wire::{HandshakeCodec, HandshakeEvent, Limits, MessageCodec};
/// use tokio_util::codec::Framed;
///
/// let mut framed = Framed::new(stream, HandshakeCodec::new());
/// framed.send(ours).await?;
/// let Some(Ok(HandshakeEvent::Complete(theirs))) = framed.next().await else { return Ok(()) };
/// let mut framed = framed.map_codec(|_| MessageCodec::new(Limits::new()));
/// while let Some(msg) = framed.next().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct HandshakeCodec {
    early: bool,
    prefix_sent: bool,
}

impl HandshakeCodec {
    /// Yields only [`HandshakeEvent::Complete`].
    pub fn new() -> Self {
        HandshakeCodec::default()
    }

    /// Yields [`HandshakeEvent::Prefix`] as soon as 48 bytes arrived, then
    /// [`HandshakeEvent::Complete`]: for a listener that must find the
    /// torrent before it answers.
    pub fn early_info_hash() -> Self {
        HandshakeCodec {
            early: true,
            prefix_sent: false,
        }
    }
}

impl Decoder for HandshakeCodec {
    type Item = HandshakeEvent;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<HandshakeEvent>, Error> {
        if self.early && !self.prefix_sent {
            if let Some(prefix) = HandshakePrefix::parse(src)? {
                self.prefix_sent = true;
                return Ok(Some(HandshakeEvent::Prefix(prefix)));
            }
        }
        match Handshake::parse(src)? {
            Some(hs) => {
                let _ = src.split_to(Handshake::LEN);
                self.prefix_sent = false;
                Ok(Some(HandshakeEvent::Complete(hs)))
            }
            None => {
                src.reserve(Handshake::LEN.saturating_sub(src.len()));
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<HandshakeEvent>, Error> {
        match self.decode(src)? {
            Some(ev) => Ok(Some(ev)),
            None if src.is_empty() => Ok(None),
            None => Err(Error::Truncated {
                offset: 0,
                needed: Handshake::LEN as u64,
                available: src.len() as u64,
            }),
        }
    }
}

impl Encoder<Handshake> for HandshakeCodec {
    type Error = Error;

    fn encode(&mut self, hs: Handshake, dst: &mut BytesMut) -> Result<(), Error> {
        dst.reserve(Handshake::LEN);
        hs.encode(dst);
        Ok(())
    }
}

/// Decodes and encodes peer wire [`Message`]s, enforcing [`Limits`]; see
/// [`MessageDecoder`] for the decoding contract.
#[derive(Debug, Clone)]
pub struct MessageCodec {
    decoder: MessageDecoder,
}

impl Default for MessageCodec {
    fn default() -> Self {
        MessageCodec::new(Limits::new())
    }
}

impl MessageCodec {
    /// A codec with these limits and a read-ahead of
    /// [`DEFAULT_READ_AHEAD`](Self::DEFAULT_READ_AHEAD) bytes.
    pub fn new(limits: Limits) -> Self {
        MessageCodec {
            decoder: MessageDecoder::new(limits).with_read_ahead(Self::DEFAULT_READ_AHEAD),
        }
    }

    /// The read-ahead of [`MessageCodec::new`]: 64 KiB, so one read of the
    /// socket can take four 16 KiB blocks (see
    /// [`MessageDecoder::with_read_ahead`]).
    pub const DEFAULT_READ_AHEAD: usize = 64 * 1024;

    /// Sets the read-ahead in bytes (see
    /// [`MessageDecoder::with_read_ahead`]); 0 reads at most to the end of
    /// the current frame.
    #[must_use]
    pub fn with_read_ahead(mut self, bytes: usize) -> Self {
        self.decoder = self.decoder.with_read_ahead(bytes);
        self
    }

    /// The sans-IO decoder inside, e.g. to set the piece count once known.
    pub fn decoder_mut(&mut self) -> &mut MessageDecoder {
        &mut self.decoder
    }

    /// The sans-IO decoder inside.
    pub fn decoder(&self) -> &MessageDecoder {
        &self.decoder
    }
}

impl Decoder for MessageCodec {
    type Item = Message;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        self.decoder.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        self.decoder.decode_eof(src)
    }
}

impl Encoder<Message> for MessageCodec {
    type Error = Error;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), Error> {
        Encoder::<&Message>::encode(self, &msg, dst)
    }
}

impl Encoder<&Message> for MessageCodec {
    type Error = Error;

    fn encode(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), Error> {
        dst.reserve(msg.encoded_len());
        msg.encode(dst);
        Ok(())
    }
}
