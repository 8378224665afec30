//! Streaming: pieces in order, and deadlines on the pieces a media player
//! is about to read, so a file can be played while it downloads.
//!
//! Sequential order makes the picker start new pieces lowest index first
//! (higher file priorities still first) instead of rarest first; the pieces
//! in flight are the window ahead of the lowest missing piece. A deadline
//! puts a piece before every other; `prioritize_range` gives the pieces
//! under a byte range of a file deadlines in order, which is the window
//! ahead of a player's read position. Once all blocks of a deadline piece
//! are requested, blocks whose request is more than a second old are asked
//! of a second peer too, whether or not the download is in its endgame.

use std::ops::Range;
use std::time::Duration;

use crate::error::Error;
use crate::file_selection::files_index;
use crate::handle::TorrentHandle;
use crate::torrent::{PeerCmd, TorrentShared};

fn wake_peers(s: &TorrentShared) {
    let st = s.lock();
    for p in st.peers.values() {
        let _ = p.tx.send(PeerCmd::Wake);
    }
}

/// Milliseconds on the picker's clock `after` from now.
fn clock_in(s: &TorrentShared, after: Duration) -> u64 {
    (s.epoch.elapsed() + after).as_millis() as u64
}

impl TorrentHandle {
    /// Fetches new pieces in index order (for streaming) or, when `false`,
    /// rarest first. Does nothing while a magnet link's metadata is being
    /// fetched (use [`AddTorrentOptions::sequential`](crate::AddTorrentOptions::sequential)).
    pub fn set_sequential(&self, on: bool) {
        if let Some(s) = self.slot.shared.get() {
            s.lock().picker.set_sequential(on);
            wake_peers(s);
        }
    }

    /// Wants `piece` within `within` from now: it is fetched before every
    /// piece without a deadline, the earliest deadline first, and its late
    /// blocks are asked of a second peer (see the module docs). The
    /// deadline goes once the piece is verified. Pieces of skipped files
    /// are not fetched even with a deadline.
    ///
    /// # Errors
    /// [`Error::PieceIndex`] past the last piece; [`Error::NoMetadata`]
    /// while a magnet link's metadata is being fetched.
    pub fn set_piece_deadline(&self, piece: u32, within: Duration) -> Result<(), Error> {
        let s = self.slot.shared.get().ok_or(Error::NoMetadata)?;
        let pieces = s.info.geometry().num_pieces();
        if piece >= pieces {
            return Err(Error::PieceIndex { piece, pieces });
        }
        let at = clock_in(s, within);
        s.lock().picker.set_deadline(piece, at);
        wake_peers(s);
        Ok(())
    }

    /// Removes every piece deadline (a player seeked elsewhere, say).
    pub fn clear_piece_deadlines(&self) {
        if let Some(s) = self.slot.shared.get() {
            s.lock().picker.clear_deadlines();
        }
    }

    /// Wants bytes `range` of file `file` (the torrent's files in order,
    /// pad files not counted, from 0) first: the pieces holding them get
    /// deadlines in order, the first piece earliest, after the deadlines
    /// set before. A player calls it with the window ahead of its read
    /// position; a range past the end of the file is cut at it.
    ///
    /// # Errors
    /// [`Error::FileIndex`] for a file past the last one;
    /// [`Error::NoMetadata`] while a magnet link's metadata is being
    /// fetched.
    pub fn prioritize_range(&self, file: usize, range: Range<u64>) -> Result<(), Error> {
        let s = self.slot.shared.get().ok_or(Error::NoMetadata)?;
        let entry = files_index(&s.info, file)
            .map(|i| &s.info.files()[i])
            .ok_or(Error::FileIndex {
                index: file,
                files: s.info.num_files(),
            })?;
        let end = range.end.min(entry.length());
        if range.start >= end {
            return Ok(());
        }
        let g = s.info.geometry();
        let base = clock_in(s, Duration::ZERO);
        {
            let mut st = s.lock();
            let after = st.picker.deadlines().last().map_or(0, |&(at, _)| at + 1);
            let first = base.max(after);
            for (k, piece) in g
                .pieces_in(entry.offset() + range.start, end - range.start)
                .enumerate()
            {
                st.picker.set_deadline(piece.get(), first + k as u64);
            }
        }
        wake_peers(s);
        Ok(())
    }
}
