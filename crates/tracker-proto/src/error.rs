//! The crate's one error type.

use crate::udp::TransactionId;

/// Every error of `seedbed-tracker-proto`: parsing and encoding of HTTP and
/// UDP tracker messages, URL handling, failures reported by a tracker, and
/// (with the `client` feature) transport errors.
///
/// Parse errors carry a byte `offset` into the input they were reading (the
/// UDP packet, the query string, or the bencoded body). UDP request parse
/// errors keep the [`TransactionId`] when it was readable, so a tracker can
/// still answer with an error packet ([`Error::transaction_id`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A UDP packet (BEP 15) that cannot be decoded.
    #[error("invalid UDP tracker packet at byte {offset}: {reason}")]
    UdpPacket {
        /// Byte offset in the packet where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
        /// The packet's transaction id, when the packet was long enough to
        /// hold one.
        transaction_id: Option<TransactionId>,
    },
    /// A query string (announce or scrape parameters, BEP 3 / BEP 48) that
    /// cannot be decoded.
    #[error("invalid query at byte {offset}: {reason}")]
    Query {
        /// Byte offset in the query string.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A tracker response body that is not valid bencode, or whose values do
    /// not have the expected types.
    #[error("invalid tracker response: {0}")]
    Bencode(#[from] seedbed_bencode::Error),
    /// A tracker response that is valid bencode but not a valid response.
    #[error("invalid tracker response: {path}: {reason}")]
    Response {
        /// Key path of the offending value, for example `peers[2].port`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The tracker answered with a failure: `failure reason` in an HTTP
    /// response (BEP 3), or an error packet over UDP (BEP 15).
    #[error("tracker failure: {reason}")]
    Failure {
        /// The tracker's message, lossily converted to UTF-8.
        reason: String,
    },
    /// A tracker URL that cannot be used.
    #[error("invalid tracker URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The tracker does not support scraping: the last path segment of its
    /// announce URL does not start with `announce` (BEP 48).
    #[error(
        "tracker {url:?} does not support scrape (BEP 48: last path segment is not `announce`)"
    )]
    ScrapeUnsupported {
        /// The announce URL.
        url: String,
    },
    /// A value that cannot be encoded, for example a UDP scrape of more info
    /// hashes than fit the packet.
    #[error("cannot encode: {reason}")]
    Encode {
        /// What is wrong.
        reason: String,
    },
    /// No response within the allowed time.
    #[error("timed out after {millis} ms")]
    Timeout {
        /// How long was waited, in milliseconds.
        millis: u64,
    },
    /// A network or HTTP error (connection refused, TLS, non-200 status,
    /// body too large, ...).
    #[error("transport error: {reason}")]
    Transport {
        /// The underlying error, as text.
        reason: String,
    },
    /// An error while talking to one tracker: which tracker, and why.
    #[error("tracker {tracker}: {source}")]
    Tracker {
        /// The tracker URL.
        tracker: String,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The transaction id of the UDP packet that failed to parse, when it
    /// was readable (BEP 15: bytes 12..16 of a request, 4..8 of a response).
    pub fn transaction_id(&self) -> Option<TransactionId> {
        match self {
            Error::UdpPacket { transaction_id, .. } => *transaction_id,
            Error::Tracker { source, .. } => source.transaction_id(),
            _ => None,
        }
    }

    /// The byte offset of a parse error, `None` for other errors.
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::UdpPacket { offset, .. } | Error::Query { offset, .. } => Some(*offset),
            Error::Bencode(e) => e.offset(),
            Error::Tracker { source, .. } => source.offset(),
            _ => None,
        }
    }

    /// The failure reason, when the tracker itself refused the request.
    pub fn failure_reason(&self) -> Option<&str> {
        match self {
            Error::Failure { reason } => Some(reason),
            Error::Tracker { source, .. } => source.failure_reason(),
            _ => None,
        }
    }

    /// Wraps `self` in [`Error::Tracker`], naming the tracker it came from.
    pub fn with_tracker(self, tracker: &str) -> Error {
        Error::Tracker {
            tracker: tracker.to_owned(),
            source: Box::new(self),
        }
    }
}
