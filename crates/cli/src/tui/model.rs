//! What the UI draws: plain data copied out of the session on each tick
//! (a [`Snapshot`]), so that drawing never waits on the session.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seedbed::metainfo::InfoHash;

/// Everything one frame shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// One row per torrent, in the order they were added.
    pub torrents: Vec<TorrentRow>,
    /// The detail of the torrent the UI asked for, if it is still there.
    pub detail: Option<Detail>,
    /// The last thing that happened worth a line (added, removed, an
    /// error), newest last; at most [`MAX_MESSAGES`].
    pub messages: Vec<String>,
    /// The session is shutting down (after `q`).
    pub shutting_down: bool,
    /// The address the session accepts peers on.
    pub listen: Option<SocketAddr>,
    /// Where added torrents save their data.
    pub output_dir: PathBuf,
}

/// Messages kept in a [`Snapshot`].
pub const MAX_MESSAGES: usize = 5;

/// A torrent's line in the list.
#[derive(Clone, Debug, PartialEq)]
pub struct TorrentRow {
    /// Its info hash: how the UI names it to the engine.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Bytes of its wanted files: every file unless some are skipped, pad
    /// files left out (0 while a magnet link's metadata is fetched).
    pub size: u64,
    /// Bytes of the wanted files in verified pieces, `0..=size`.
    pub have: u64,
    /// Its state, as a word: `metadata`, `checking`, `downloading`,
    /// `seeding`, `finished`, `paused`, `stopped`, `failed: ...`.
    pub state: String,
    /// Paused by the user.
    pub paused: bool,
    /// Download rate, bytes per second.
    pub down_rate: f64,
    /// Upload rate, bytes per second.
    pub up_rate: f64,
    /// Connected peers.
    pub peers: usize,
}

impl TorrentRow {
    /// Progress in tenths of a percent, 0 to 1000 (1000 only when
    /// complete).
    pub fn per_mille(&self) -> u64 {
        crate::format::ratio_per_mille(self.have, self.size)
    }

    /// Time left at the current download rate; `None` when nothing
    /// arrives.
    pub fn eta(&self) -> Option<Duration> {
        if self.size == 0 {
            return None;
        }
        crate::format::eta(self.size.saturating_sub(self.have), self.down_rate)
    }
}

/// The detail pane's data for one torrent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detail {
    /// Which torrent.
    pub info_hash: Option<InfoHash>,
    /// Connected peers.
    pub peers: Vec<PeerRow>,
    /// Files in the torrent's order (empty while the metadata is fetched).
    pub files: Vec<FileRow>,
    /// Trackers, tier by tier.
    pub trackers: Vec<TrackerRow>,
    /// The pieces.
    pub pieces: PieceMap,
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    /// Its address.
    pub addr: SocketAddr,
    /// Its client, from the peer id (BEP 20) or the extension handshake;
    /// `None` when unknown.
    pub client: Option<String>,
    /// libtorrent-style flags: `D`/`d` we download (interested and
    /// unchoked / choked), `U`/`u` it downloads from us, `S` snubbed, `E`
    /// encrypted, `P` uTP, `I` incoming; empty when unknown.
    pub flags: String,
    /// Download rate from it, bytes per second (`None` when unknown).
    pub down_rate: Option<f64>,
    /// Upload rate to it, bytes per second (`None` when unknown).
    pub up_rate: Option<f64>,
    /// Its share of the pieces, 0 to 1000 (`None` when unknown).
    pub progress: Option<u64>,
}

/// A file of the torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct FileRow {
    /// Its index in the torrent's file list (what `download --only` takes).
    pub index: usize,
    /// Its path inside the torrent.
    pub path: String,
    /// Its length in bytes.
    pub length: u64,
    /// Bytes of it in verified pieces.
    pub have: u64,
    /// Its priority as a word (`skip`, `normal`, `high`).
    pub priority: String,
}

/// A tracker of the torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerRow {
    /// Its announce URL.
    pub url: String,
    /// Its tier (BEP 12), from 0.
    pub tier: usize,
    /// `not contacted`, `working`, or `error: <reason>`.
    pub status: String,
    /// Time until the next announce, if one is planned.
    pub next_announce: Option<Duration>,
    /// Peers the last answer held.
    pub peers: Option<usize>,
}

/// The state of one piece in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceState {
    /// Not here.
    Missing,
    /// Some blocks here, not verified yet.
    Partial,
    /// Verified.
    Have,
}

/// Every piece's state, and how many peers have each (empty when
/// unknown).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PieceMap {
    /// One entry per piece.
    pub pieces: Vec<PieceState>,
    /// Peers that have each piece; empty when the session does not say.
    pub availability: Vec<u16>,
}

impl PieceMap {
    /// The state of `cells` cells, each summing up an equal share of the
    /// pieces: `Have` when all of its pieces are, `Missing` when none is
    /// here nor partial, else `Partial`. Empty when there are no pieces.
    pub fn cells(&self, cells: usize) -> Vec<PieceState> {
        let n = self.pieces.len();
        if n == 0 || cells == 0 {
            return Vec::new();
        }
        let cells = cells.min(n);
        (0..cells)
            .map(|c| {
                let range =
                    &self.pieces[c * n / cells..((c + 1) * n / cells).max(c * n / cells + 1)];
                if range.iter().all(|p| *p == PieceState::Have) {
                    PieceState::Have
                } else if range.iter().all(|p| *p == PieceState::Missing) {
                    PieceState::Missing
                } else {
                    PieceState::Partial
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_sum_up_ranges() {
        use PieceState::*;
        let map = PieceMap {
            pieces: vec![Have, Have, Missing, Missing, Have, Partial, Missing, Have],
            availability: Vec::new(),
        };
        assert_eq!(map.cells(4), vec![Have, Missing, Partial, Partial]);
        assert_eq!(map.cells(100).len(), 8, "one cell per piece at most");
        assert_eq!(map.cells(1), vec![Partial]);
        assert!(PieceMap::default().cells(10).is_empty());
        assert_eq!(map.cells(3).len(), 3);
    }
}
