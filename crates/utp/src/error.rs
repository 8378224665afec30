//! The crate's one error type.

/// Every error of `seedbed-utp`: packet parsing and encoding, settings
/// that cannot be used, and the outcomes of stream operations on a
/// connection (would block, reset, timed out, closed).
///
/// Parse errors carry the byte `offset` into the datagram where the
/// problem was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram that is not a valid uTP version 1 packet (BEP 29).
    #[error("invalid uTP packet at byte {offset}: {reason}")]
    Packet {
        /// Byte offset in the datagram where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The output buffer cannot hold the packet being encoded.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A value that cannot be encoded, for example a selective-ack bitmask
    /// built with a length that is not a multiple of 4 bytes.
    #[error("cannot encode: {reason}")]
    Encode {
        /// What is wrong.
        reason: &'static str,
    },
    /// A setting out of its documented range.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting's name, as in [`Config`](crate::Config).
        setting: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The operation cannot make progress now: no data to read yet, or
    /// the send buffer is full. Retry after the next
    /// [`Event::Readable`](crate::Event::Readable) or
    /// [`Event::Writable`](crate::Event::Writable).
    #[error("operation would block")]
    WouldBlock,
    /// The connection is not established yet (a write before the
    /// handshake finished is buffered instead; this is for reads of a
    /// connection that never connected).
    #[error("not connected")]
    NotConnected,
    /// The remote sent ST_RESET: it has no state for this connection.
    #[error("connection reset by peer")]
    ConnectionReset,
    /// The remote answered our SYN with ST_RESET.
    #[error("connection refused")]
    ConnectionRefused,
    /// Too many consecutive retransmission timeouts: the remote is gone.
    #[error("connection timed out")]
    TimedOut,
    /// The connection was aborted locally ([`Connection::abort`](crate::Connection::abort)).
    #[error("connection aborted")]
    Aborted,
    /// A write after [`Connection::close`](crate::Connection::close) (our
    /// side of the stream is finished).
    #[error("write after close")]
    WriteAfterClose,
    /// A connection limit of the [`Endpoint`](crate::Endpoint) is reached.
    #[error("connection limit reached: {limit}")]
    ConnectionLimit {
        /// Which limit, as named in [`EndpointConfig`](crate::EndpointConfig).
        limit: &'static str,
    },
    /// No connection with this handle (it was removed).
    #[error("unknown connection")]
    UnknownConnection,
}

impl Error {
    pub(crate) fn packet(offset: usize, reason: &'static str) -> Self {
        Error::Packet { offset, reason }
    }
}

#[cfg(feature = "tokio")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match e {
            Error::WouldBlock => ErrorKind::WouldBlock,
            Error::NotConnected => ErrorKind::NotConnected,
            Error::ConnectionReset => ErrorKind::ConnectionReset,
            Error::ConnectionRefused => ErrorKind::ConnectionRefused,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::Aborted => ErrorKind::ConnectionAborted,
            Error::WriteAfterClose => ErrorKind::BrokenPipe,
            Error::Packet { .. } | Error::Config { .. } | Error::Encode { .. } => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
