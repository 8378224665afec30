//! The detail pane's data (peers, files, trackers, piece map) from one
//! torrent of the session: the only place that knows how the session
//! tells it.
//!
//! Each tick copies the torrent's snapshots out of its
//! [`TorrentHandle`]: `peers()`, `file_progress()` with
//! `file_priorities()`, `trackers()` and `piece_map()`. Each is one short
//! pass under the torrent's lock, and only the selected torrent's are read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use seedbed::session::{
    FilePriority, PeerInfo, PieceState as SessionPieceState, Stats, TorrentHandle, TrackerInfo,
    TrackerStatus, Transport,
};

use super::model::{Detail, FileRow, PeerRow, PieceMap, PieceState, TrackerRow};

/// Reads one torrent's detail from its handle.
#[derive(Debug)]
pub(crate) struct Observer {
    handle: TorrentHandle,
}

impl Observer {
    /// Follows `handle`.
    pub(crate) fn new(handle: &TorrentHandle) -> Observer {
        Observer {
            handle: handle.clone(),
        }
    }

    /// The detail pane's data now. `stats` is the torrent's, read in the
    /// same tick (it decides a complete torrent's piece map when the
    /// session has none yet).
    pub(crate) fn detail(&self, stats: &Stats) -> Detail {
        let now = Instant::now();
        let peers = self.handle.peers().iter().map(peer_row).collect();
        let priorities = self.handle.file_priorities();
        let files = self
            .handle
            .file_progress()
            .into_iter()
            .enumerate()
            .map(|(index, f)| FileRow {
                index,
                path: f.path.to_string_lossy().into_owned(),
                length: f.size,
                have: f.verified,
                priority: priority_word(priorities.get(index).copied()).into(),
            })
            .collect();
        let trackers = self
            .handle
            .trackers()
            .iter()
            .map(|t| tracker_row(t, now))
            .collect();
        let map = self.handle.piece_map();
        let mut pieces = PieceMap {
            pieces: map.states.iter().map(|&s| piece_state(s)).collect(),
            availability: map
                .availability
                .iter()
                .map(|&a| u16::try_from(a).unwrap_or(u16::MAX))
                .collect(),
        };
        if pieces.pieces.is_empty() && stats.num_pieces > 0 && stats.pieces_have == stats.num_pieces
        {
            pieces.pieces = vec![PieceState::Have; stats.num_pieces as usize];
        }
        Detail {
            info_hash: None,
            peers,
            files,
            trackers,
            pieces,
        }
    }

    /// The files the torrent writes below `output_dir` (pad files left
    /// out); empty while a magnet link's file list is not known.
    pub(crate) fn files_under(&self, output_dir: &Path) -> Vec<PathBuf> {
        self.handle
            .file_progress()
            .into_iter()
            .map(|f| output_dir.join(f.path))
            .collect()
    }

    /// Whether the file list is known (so data can be deleted).
    pub(crate) fn knows_files(&self) -> bool {
        !self.handle.file_progress().is_empty()
    }
}

fn peer_row(p: &PeerInfo) -> PeerRow {
    // libtorrent's letters: D/d we download from it (unchoked / choked
    // while interested), U/u it downloads from us, S snubbed, E encrypted,
    // P uTP, I incoming.
    let mut flags = String::new();
    if p.am_interested {
        flags.push(if p.peer_choking { 'd' } else { 'D' });
    }
    if p.peer_interested {
        flags.push(if p.am_choking { 'u' } else { 'U' });
    }
    if p.snubbed {
        flags.push('S');
    }
    if p.encrypted {
        flags.push('E');
    }
    if p.transport == Transport::Utp {
        flags.push('P');
    }
    if !p.outgoing {
        flags.push('I');
    }
    PeerRow {
        addr: p.addr,
        client: (!p.client.is_empty()).then(|| p.client.clone()),
        flags,
        down_rate: Some(p.download_rate),
        up_rate: Some(p.upload_rate),
        progress: Some((f64::from(p.progress.clamp(0.0, 1.0)) * 1000.0).round() as u64),
    }
}

fn tracker_row(t: &TrackerInfo, now: Instant) -> TrackerRow {
    let status = match &t.status {
        TrackerStatus::NotContacted => "not contacted".to_owned(),
        TrackerStatus::Updating => "updating".to_owned(),
        TrackerStatus::Working => "working".to_owned(),
        TrackerStatus::Error(e) => format!("error: {e}"),
        other => format!("{other:?}").to_lowercase(),
    };
    TrackerRow {
        url: t.url.clone(),
        tier: t.tier,
        status,
        next_announce: t.next_announce.map(|at| at.saturating_duration_since(now)),
        peers: t.last_announce.map(|_| t.peers),
    }
}

fn piece_state(s: SessionPieceState) -> PieceState {
    match s {
        SessionPieceState::Have => PieceState::Have,
        SessionPieceState::Missing => PieceState::Missing,
        // Blocks here (or all of them, being hashed): not verified yet.
        _ => PieceState::Partial,
    }
}

fn priority_word(p: Option<FilePriority>) -> &'static str {
    match p {
        Some(FilePriority::Skip) => "skip",
        Some(FilePriority::High) => "high",
        _ => "normal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_states_and_priorities_map_to_the_ui_words() {
        assert_eq!(piece_state(SessionPieceState::Have), PieceState::Have);
        assert_eq!(piece_state(SessionPieceState::Missing), PieceState::Missing);
        assert_eq!(piece_state(SessionPieceState::Partial), PieceState::Partial);
        assert_eq!(
            piece_state(SessionPieceState::Verifying),
            PieceState::Partial
        );
        assert_eq!(priority_word(Some(FilePriority::Skip)), "skip");
        assert_eq!(priority_word(Some(FilePriority::High)), "high");
        assert_eq!(priority_word(None), "normal");
    }
}
