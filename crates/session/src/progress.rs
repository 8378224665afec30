//! What a program can show about a torrent's data: per-file progress
//! ([`FileProgress`]) and the piece map ([`PieceMap`]), snapshots taken
//! under the torrent's lock in one pass over the pieces.

use std::path::PathBuf;

use seedbed_metainfo::Info;

use crate::file_selection::FilePriority;
use crate::picker::{PiecePicker, PieceState};

/// Progress of one file of the torrent (pad files are left out).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileProgress {
    /// The file's index in the torrent's file list
    /// ([`Info::files`](seedbed_metainfo::Info::files), pad files
    /// counted), the index file priorities use.
    pub index: usize,
    /// Where the file goes, relative to the download folder (multi-file
    /// torrents start with the torrent's name).
    pub path: PathBuf,
    /// The file's length in bytes.
    pub size: u64,
    /// Bytes of the file in verified pieces, `0..=size`.
    pub verified: u64,
}

/// Every piece's state and how many connected peers have it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PieceMap {
    /// One entry per piece, in piece order.
    pub states: Vec<PieceState>,
    /// Connected peers that have each piece (BEP 3 `have`/`bitfield`,
    /// BEP 6 `have all`), in piece order; same length as `states`.
    pub availability: Vec<u32>,
}

impl PieceMap {
    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether the torrent has no pieces (an empty torrent).
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// How many pieces are in `state`.
    pub fn count(&self, state: PieceState) -> usize {
        self.states.iter().filter(|s| **s == state).count()
    }

    /// The lowest availability among the pieces we do not have: how many
    /// peers the rarest missing piece has (0 when a missing piece is on
    /// no connected peer); `None` when every piece is verified.
    pub fn min_missing_availability(&self) -> Option<u32> {
        self.states
            .iter()
            .zip(&self.availability)
            .filter(|(s, _)| **s != PieceState::Have)
            .map(|(_, a)| *a)
            .min()
    }
}

pub(crate) fn piece_map(picker: &PiecePicker, num_pieces: u32) -> PieceMap {
    PieceMap {
        states: (0..num_pieces).map(|i| picker.piece_state(i)).collect(),
        availability: (0..num_pieces).map(|i| picker.availability(i)).collect(),
    }
}

pub(crate) fn file_progress(info: &Info, picker: &PiecePicker) -> Vec<FileProgress> {
    let g = info.geometry();
    let mut verified = vec![0u64; info.files().len()];
    for i in picker.have().iter_set() {
        let Some(piece) = g.piece(i) else { continue };
        for span in info.piece_spans(piece) {
            verified[span.file] += span.len;
        }
    }
    info.real_files()
        .map(|(index, f)| FileProgress {
            index,
            path: f.path().to_path_buf_under(""),
            size: f.length(),
            verified: verified[index],
        })
        .collect()
}

/// Bytes of the wanted files, and of those in verified pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) total: u64,
    pub(crate) have: u64,
}

/// Sums the wanted files (`prios`, one per [`Info::files`] entry, not
/// `Skip`; pad files left out) and their bytes in verified pieces: a piece
/// counts only its spans in wanted files. One pass over the verified
/// pieces.
pub(crate) fn wanted_bytes(info: &Info, picker: &PiecePicker, prios: &[FilePriority]) -> Wanted {
    let wanted = |i: usize| {
        let f = &info.files()[i];
        !f.is_pad() && prios.get(i).copied().unwrap_or_default() != FilePriority::Skip
    };
    let total = (0..info.files().len())
        .filter(|&i| wanted(i))
        .map(|i| info.files()[i].length())
        .sum();
    let g = info.geometry();
    let mut have = 0;
    for i in picker.have().iter_set() {
        let Some(piece) = g.piece(i) else { continue };
        for span in info.piece_spans(piece) {
            if wanted(span.file) {
                have += span.len;
            }
        }
    }
    Wanted { total, have }
}
