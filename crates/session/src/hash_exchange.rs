//! BEP 52 hash transfer: asking peers for the piece layers we lack,
//! checking their answers, and answering their `hash request`s.

use std::collections::HashMap;
use std::time::Instant;

use crate::torrent::PeerKey;

/// Layer chunks being fetched: which peer was asked for `(file, chunk)`
/// (indices in `V2Hashes::files` and in the file's layer), and when.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    pub(crate) asked: HashMap<(usize, u32), (PeerKey, Instant)>,
}
