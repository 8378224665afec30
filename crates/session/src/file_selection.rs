//! Choosing what to download: a priority per file (skip, normal, high),
//! set when a torrent is added and changed while it runs.
//!
//! File indexes are those of the torrent's files in its order, pad files
//! not counted, starting at 0 (what the `info` example prints beside each
//! file). A piece takes the highest priority of the files it touches; the
//! picker never picks a piece of priority 0, fetches high pieces before
//! normal ones, and the torrent is finished (status `Seeding` or
//! `Finished`, [`Event::Completed`](crate::Event::Completed)) when every
//! wanted piece is verified. Skipped files are not created; bytes of them
//! in pieces shared with wanted files go to the part file (see
//! [`Storage`](crate::Storage)).

use std::sync::Arc;

use seedbed_metainfo::Info;
use seedbed_peer_wire::Bitfield;

use crate::error::Error;
use crate::handle::TorrentHandle;
use crate::picker::{PRIORITY_HIGH, PRIORITY_NORMAL, PRIORITY_SKIP};
use crate::torrent::{DriverCmd, PeerCmd, TorrentShared};

/// How much a file is wanted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FilePriority {
    /// Not downloaded, and not created (its bytes in pieces shared with
    /// wanted files are kept in the part file).
    Skip,
    /// Downloaded.
    #[default]
    Normal,
    /// Downloaded before every normal file.
    High,
}

impl FilePriority {
    /// The picker's piece priority for a file of this priority.
    fn piece_priority(self) -> u8 {
        match self {
            FilePriority::Skip => PRIORITY_SKIP,
            FilePriority::Normal => PRIORITY_NORMAL,
            FilePriority::High => PRIORITY_HIGH,
        }
    }
}

/// Index in [`Info::files`] of the file numbered `index` among the files
/// that are not pad files.
pub(crate) fn files_index(info: &Info, index: usize) -> Option<usize> {
    info.real_files().nth(index).map(|(i, _)| i)
}

/// The priority of every entry of [`Info::files`] (pad files `Normal`,
/// ignored) from a list by file number and a priority for files past its
/// end.
///
/// # Errors
/// [`Error::FileIndex`] when the list is longer than the torrent's files.
pub(crate) fn resolve(
    info: &Info,
    listed: &[FilePriority],
    rest: FilePriority,
) -> Result<Vec<FilePriority>, Error> {
    let files = info.num_files();
    if listed.len() > files {
        return Err(Error::FileIndex {
            index: listed.len() - 1,
            files,
        });
    }
    let mut out = vec![FilePriority::Normal; info.files().len()];
    for (n, (i, _)) in info.real_files().enumerate() {
        out[i] = listed.get(n).copied().unwrap_or(rest);
    }
    Ok(out)
}

/// Piece priorities from file priorities (one per [`Info::files`] entry):
/// each piece takes the highest priority among the files it touches;
/// pieces that touch no file with data (pad only) are normal.
pub(crate) fn piece_priorities(info: &Info, files: &[FilePriority]) -> Vec<u8> {
    const UNTOUCHED: u8 = u8::MAX;
    let g = info.geometry();
    let mut out = vec![UNTOUCHED; g.num_pieces() as usize];
    for (entry, prio) in info.files().iter().zip(files) {
        if entry.is_pad() || entry.length() == 0 {
            continue;
        }
        let p = prio.piece_priority();
        for piece in g.pieces_in(entry.offset(), entry.length()) {
            let slot = &mut out[piece.as_usize()];
            if *slot == UNTOUCHED || *slot < p {
                *slot = p;
            }
        }
    }
    for slot in &mut out {
        if *slot == UNTOUCHED {
            *slot = PRIORITY_NORMAL;
        }
    }
    out
}

/// Applies file priorities: skipped files that do not exist move to the
/// part file, then (when `export`) wanted files take back their bytes from
/// it (those of pieces verified or being verified), then the picker gets
/// the piece priorities.
///
/// # Errors
/// [`Error::Io`] when a file cannot be written.
pub(crate) async fn apply(
    shared: &Arc<TorrentShared>,
    files: Vec<FilePriority>,
    export: bool,
) -> Result<(), Error> {
    let s = Arc::clone(shared);
    let prios = files.clone();
    tokio::task::spawn_blocking(move || {
        for (i, p) in prios.iter().enumerate() {
            if *p == FilePriority::Skip {
                s.storage.set_wanted(i, false, || Bitfield::new(0))?;
            }
        }
        if export {
            for (i, p) in prios.iter().enumerate() {
                if *p != FilePriority::Skip {
                    s.storage
                        .set_wanted(i, true, || s.lock().picker.written_or_verifying())?;
                }
            }
            s.storage.tidy_part_file();
        }
        Ok::<(), Error>(())
    })
    .await
    .map_err(|e| Error::io("apply file priorities", std::io::Error::other(e)))??;
    let pieces = piece_priorities(&shared.info, &files);
    let mut st = shared.lock();
    st.picker.set_priorities(&pieces);
    for p in st.peers.values() {
        let _ = p.tx.send(PeerCmd::Interest);
    }
    Ok(())
}

impl TorrentHandle {
    /// The priority of each file, by file index (pad files not counted);
    /// empty while a magnet link's metadata is being fetched.
    pub fn file_priorities(&self) -> Vec<FilePriority> {
        let Some(s) = self.slot.shared.get() else {
            return Vec::new();
        };
        let prios = s.file_priorities.lock().unwrap_or_else(|e| e.into_inner());
        s.info.real_files().map(|(i, _)| prios[i]).collect()
    }

    /// Sets the priority of file `index` (in the torrent's order, pad files
    /// not counted, from 0). Skipping a file stops fetching pieces that
    /// only it needs; wanting a skipped file again moves its bytes from the
    /// part file into it and fetches the rest. A finished torrent that
    /// wants more goes back to downloading.
    ///
    /// # Errors
    /// [`Error::FileIndex`] for an index past the last file;
    /// [`Error::NoMetadata`] while a magnet link's metadata is being
    /// fetched.
    pub fn set_file_priority(&self, index: usize, priority: FilePriority) -> Result<(), Error> {
        let s = self.slot.shared.get().ok_or(Error::NoMetadata)?;
        let i = files_index(&s.info, index).ok_or(Error::FileIndex {
            index,
            files: s.info.num_files(),
        })?;
        let all = {
            let mut prios = s.file_priorities.lock().unwrap_or_else(|e| e.into_inner());
            prios[i] = priority;
            prios.clone()
        };
        let _ = s.cmd_tx.send(DriverCmd::Priorities(all));
        Ok(())
    }

    /// Sets the priorities of files `0..priorities.len()` at once; the
    /// others keep theirs.
    ///
    /// # Errors
    /// [`Error::FileIndex`] when the list is longer than the torrent's
    /// files; [`Error::NoMetadata`] while a magnet link's metadata is being
    /// fetched.
    pub fn set_file_priorities(&self, priorities: &[FilePriority]) -> Result<(), Error> {
        let s = self.slot.shared.get().ok_or(Error::NoMetadata)?;
        let files = s.info.num_files();
        if priorities.len() > files {
            return Err(Error::FileIndex {
                index: priorities.len() - 1,
                files,
            });
        }
        let all = {
            let mut prios = s.file_priorities.lock().unwrap_or_else(|e| e.into_inner());
            for ((i, _), p) in s.info.real_files().zip(priorities) {
                prios[i] = *p;
            }
            prios.clone()
        };
        let _ = s.cmd_tx.send(DriverCmd::Priorities(all));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::three_files as info;
    use seedbed_metainfo::TorrentVersion;

    #[test]
    fn pieces_take_the_highest_priority_of_their_files() {
        use FilePriority::*;
        let (_d, info) = info(TorrentVersion::V1);
        let files = resolve(&info, &[Skip, High], Skip).unwrap();
        assert_eq!(files, [Skip, High, Skip]);
        assert_eq!(piece_priorities(&info, &files), [0, 0, 2, 2, 2, 0]);
        let files = resolve(&info, &[Normal], Skip).unwrap();
        assert_eq!(piece_priorities(&info, &files), [1, 1, 1, 0, 0, 0]);
        assert!(matches!(
            resolve(&info, &[Normal; 4], Normal),
            Err(Error::FileIndex { index: 3, files: 3 })
        ));
        assert_eq!(files_index(&info, 2), Some(2));
        assert_eq!(files_index(&info, 3), None);
    }

    #[test]
    fn pad_files_are_not_counted_in_file_indexes() {
        use FilePriority::*;
        // Hybrid torrents align files to pieces with pad files between.
        let (_d, info) = info(TorrentVersion::Hybrid);
        assert!(info.files().len() > 3, "pad files");
        let files = resolve(&info, &[Skip, Normal, Skip], Normal).unwrap();
        let prios = piece_priorities(&info, &files);
        // a: 3 pieces, b: 2, c: 2, each starting a piece.
        assert_eq!(prios, [0, 0, 0, 1, 1, 0, 0]);
        assert_eq!(
            info.files()[files_index(&info, 1).unwrap()].length(),
            30_000
        );
    }
}
