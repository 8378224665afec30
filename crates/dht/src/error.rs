//! The crate's one error type.

use std::net::SocketAddr;

use crate::krpc::TransactionId;

/// Every error of `seedbed-dht`: KRPC decoding, routing table state files,
/// remote error replies, limits, and (with the `tokio` feature) the driver's
/// transport errors.
///
/// KRPC decode errors carry the byte `offset` in the datagram and, when it
/// could be read, the message's [`TransactionId`], so a node can still
/// answer a malformed query with error 203 ([`Error::error_reply_id`]), as
/// aquatic's tracker does with a bad UDP request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram that is valid bencode but not a valid KRPC message (BEP 5,
    /// "KRPC Protocol").
    #[error("invalid KRPC message at byte {offset}: {reason}")]
    Message {
        /// Byte offset in the datagram of the offending value (0 for the
        /// root dictionary).
        offset: usize,
        /// What is wrong.
        reason: &'static str,
        /// The message's `t`, when it was readable.
        transaction_id: Option<TransactionId>,
        /// Whether the message said it is a query (`y` = `q`): only those
        /// are answered with an error.
        query: bool,
    },
    /// A datagram that is not valid bencode, or is nested deeper or holds
    /// more values than [`krpc::MAX_DEPTH`](crate::krpc::MAX_DEPTH) and
    /// [`krpc::MAX_ITEMS`](crate::krpc::MAX_ITEMS) allow.
    #[error("invalid bencode in KRPC message: {0}")]
    Bencode(#[from] seedbed_bencode::Error),
    /// A datagram longer than the configured limit.
    #[error("datagram of {len} bytes is longer than the limit of {limit}")]
    TooLong {
        /// The datagram's length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A saved routing table ([`RoutingState`](crate::RoutingState)) that
    /// cannot be read.
    #[error("invalid routing table state at byte {offset}: {reason}")]
    State {
        /// Byte offset in the state.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The remote node answered with a KRPC error (BEP 5, "Errors").
    #[error("remote node answered with error {code}: {message}")]
    Remote {
        /// The error code (201 generic, 202 server, 203 protocol, 204
        /// method unknown, or another).
        code: i64,
        /// The message, lossily converted to UTF-8.
        message: String,
    },
    /// No answer came in time.
    #[error("no answer within the query timeout")]
    Timeout,
    /// A configured limit stopped the command (for example too many
    /// lookups at once).
    #[error("limit reached: at most {limit} {what}")]
    Limit {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The node has no socket (or table) for the address family of `addr`.
    #[error("no socket for the address family of {addr}")]
    NoSocket {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A socket error of the tokio driver.
    #[error("I/O error: {message}")]
    Io {
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// Its message.
        message: String,
    },
    /// The driver has stopped: its task ended or was shut down.
    #[error("the DHT node has stopped")]
    Stopped,
}

impl Error {
    /// The transaction id of a malformed message, if it was readable.
    pub fn transaction_id(&self) -> Option<&TransactionId> {
        match self {
            Error::Message { transaction_id, .. } => transaction_id.as_ref(),
            _ => None,
        }
    }

    /// The transaction id to answer with error 203 (protocol error): set
    /// only when the message was a query whose `t` was readable. Errors and
    /// responses are never answered.
    pub fn error_reply_id(&self) -> Option<&TransactionId> {
        match self {
            Error::Message {
                transaction_id: Some(t),
                query: true,
                ..
            } => Some(t),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}
