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

/// Bytes of each file ([`Info::files`] order, pad files included) in
/// verified pieces: one pass over the verified pieces.
fn verified_per_file(info: &Info, picker: &PiecePicker) -> Vec<u64> {
    let g = info.geometry();
    let mut verified = vec![0u64; info.files().len()];
    for i in picker.have().iter_set() {
        let Some(piece) = g.piece(i) else { continue };
        for span in info.piece_spans(piece) {
            verified[span.file] += span.len;
        }
    }
    verified
}

pub(crate) fn file_progress(info: &Info, picker: &PiecePicker) -> Vec<FileProgress> {
    let verified = verified_per_file(info, picker);
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
    let verified = verified_per_file(info, picker);
    let (mut total, mut have) = (0, 0);
    for (i, f) in info.files().iter().enumerate() {
        if wanted(i) {
            total += f.length();
            have += verified[i];
        }
    }
    Wanted { total, have }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::three_files as info;
    use seedbed_metainfo::TorrentVersion;

    fn picker_with(info: &Info, pieces: &[u32]) -> PiecePicker {
        let g = *info.geometry();
        let mut p = PiecePicker::new(g);
        for &i in pieces {
            p.mark_have(g.piece(i).unwrap());
        }
        p
    }

    /// One priority per `Info::files` entry: file number `n` (pad files
    /// not counted) skipped when `skip[n]`.
    fn prios(info: &Info, skip: [bool; 3]) -> Vec<FilePriority> {
        let mut out = vec![FilePriority::Normal; info.files().len()];
        for (n, (i, _)) in info.real_files().enumerate() {
            if skip[n] {
                out[i] = FilePriority::Skip;
            }
        }
        out
    }

    #[test]
    fn wanted_bytes_count_only_wanted_files_in_verified_pieces() {
        let (_d, info) = info(TorrentVersion::V1);
        // b skipped; pieces 0-5: a is 0..40,000 (pieces 0-2), b
        // 40,000..70,000 (2-4), c 70,000..90,000 (4-5).
        let p = prios(&info, [false, true, false]);
        let none = wanted_bytes(&info, &picker_with(&info, &[]), &p);
        assert_eq!(
            none,
            Wanted {
                total: 60_000,
                have: 0
            }
        );
        // Piece 2 holds a's last 7,232 bytes and b's first 9,152.
        let w = wanted_bytes(&info, &picker_with(&info, &[2]), &p);
        assert_eq!(w.have, 40_000 - 2 * 16_384);
        // Piece 4 holds b's last 4,464 bytes and c's first 11,920.
        let w = wanted_bytes(&info, &picker_with(&info, &[3, 4]), &p);
        assert_eq!(w.have, 5 * 16_384 - 70_000);
        let all = picker_with(&info, &[0, 1, 2, 3, 4, 5]);
        assert_eq!(
            wanted_bytes(&info, &all, &p),
            Wanted {
                total: 60_000,
                have: 60_000
            }
        );
        let every = prios(&info, [false; 3]);
        assert_eq!(
            wanted_bytes(&info, &all, &every),
            Wanted {
                total: 90_000,
                have: 90_000
            }
        );
        let nothing = prios(&info, [true; 3]);
        assert_eq!(wanted_bytes(&info, &all, &nothing), Wanted::default());
    }

    #[test]
    fn pad_files_are_never_wanted_bytes() {
        // Hybrid: each file starts a piece, pad files between.
        let (_d, info) = info(TorrentVersion::Hybrid);
        assert!(info.files().iter().any(|f| f.is_pad()));
        let n = info.geometry().num_pieces();
        let all = picker_with(&info, &(0..n).collect::<Vec<_>>());
        let every = prios(&info, [false; 3]);
        assert_eq!(
            wanted_bytes(&info, &all, &every),
            Wanted {
                total: 90_000,
                have: 90_000
            }
        );
        assert!(info.geometry().total_length() > 90_000);
        // a is pieces 0-2 (its last piece padded): only a's bytes count.
        let only_a = prios(&info, [false, true, true]);
        let w = wanted_bytes(&info, &picker_with(&info, &[2]), &only_a);
        assert_eq!(
            w,
            Wanted {
                total: 40_000,
                have: 40_000 - 2 * 16_384
            }
        );
    }
}
