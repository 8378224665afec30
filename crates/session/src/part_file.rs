//! The part file: where the bytes of skipped files go when a piece they
//! share with a wanted file is written, so that skipped files are never
//! created (libtorrent's part file).
//!
//! It is `.<name>.parts` in the download folder, `<name>` being the
//! torrent's (sanitised) name. Only pieces that touch two or more files
//! can need it; the `k`-th such piece (in piece order) has slot `k`,
//! `piece length` bytes at `k × piece length`, and its bytes sit in the
//! slot at their offset in the piece. Only the skipped files' bytes are
//! written; the rest of a slot is a hole (the file is sparse). The slot of
//! a piece follows from the torrent alone, so the file needs no header or
//! index that a crash could leave stale: whatever it holds is verified by
//! the piece hashes like any other data.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use seedbed_metainfo::Info;

use crate::error::Error;

/// The part file of one torrent.
#[derive(Debug)]
pub(crate) struct PartFile {
    path: PathBuf,
    /// Pieces touching two or more non-empty files, ascending: slot `k`
    /// belongs to `slots[k]`.
    slots: Vec<u32>,
    piece_length: u64,
    /// The open file, if it exists. Its lock is held for every access and
    /// for every change of which files live in it.
    file: Mutex<Option<File>>,
}

/// The part file, locked.
#[derive(Debug)]
pub(crate) struct PartGuard<'a> {
    part: &'a PartFile,
    file: MutexGuard<'a, Option<File>>,
}

/// Pieces that touch two or more non-empty files (pad files and symlinks
/// left out), ascending.
fn shared_pieces(info: &Info) -> Vec<u32> {
    let g = info.geometry();
    let real = |i: usize| {
        let f = &info.files()[i];
        !f.is_pad() && f.length() > 0 && f.symlink_target().is_none()
    };
    let mut out = Vec::new();
    for (i, f) in info.files().iter().enumerate() {
        if !real(i) {
            continue;
        }
        let Some(first) = g.piece_at(f.offset()) else {
            continue;
        };
        let Some(last) = g.piece_at(f.offset() + f.length() - 1) else {
            continue;
        };
        for p in [first, last] {
            if out.last() == Some(&p.get()) {
                continue;
            }
            if info.piece_spans(p).filter(|s| real(s.file)).count() >= 2 {
                out.push(p.get());
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl PartFile {
    /// The part file of `info` under `root`, opened if it exists.
    ///
    /// # Errors
    /// [`Error::Io`] when it exists and cannot be opened.
    pub(crate) fn open(info: &Info, root: &Path) -> Result<PartFile, Error> {
        let path = PartFile::path(info, root);
        let file = if path.is_file() {
            Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io(format!("open {}", path.display()), e))?,
            )
        } else {
            None
        };
        Ok(PartFile {
            path,
            slots: shared_pieces(info),
            piece_length: u64::from(info.geometry().piece_length()),
            file: Mutex::new(file),
        })
    }

    /// `.<name>.parts` in `root`, `<name>` the first element of the
    /// torrent's sanitised file paths.
    pub(crate) fn path(info: &Info, root: &Path) -> PathBuf {
        let name = info
            .files()
            .first()
            .and_then(|f| f.path().components().next())
            .unwrap_or("torrent");
        root.join(format!(".{name}.parts"))
    }

    /// Where it is.
    pub(crate) fn location(&self) -> &Path {
        &self.path
    }

    /// The pieces with a slot that overlap `first..=last`.
    pub(crate) fn slotted_pieces(&self, first: u32, last: u32) -> &[u32] {
        let a = self.slots.partition_point(|&p| p < first);
        let b = self.slots.partition_point(|&p| p <= last);
        &self.slots[a..b]
    }

    pub(crate) fn lock(&self) -> PartGuard<'_> {
        PartGuard {
            part: self,
            file: self.file.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl PartGuard<'_> {
    /// Whether the part file exists.
    pub(crate) fn exists(&self) -> bool {
        self.file.is_some()
    }

    /// Byte offset of `piece`'s slot, if it has one.
    fn slot(&self, piece: u32) -> Option<u64> {
        let k = self.part.slots.binary_search(&piece).ok()?;
        Some(k as u64 * self.part.piece_length)
    }

    /// Reads bytes at `in_piece` of `piece` from its slot; bytes past the
    /// end of the part file read as zeros.
    ///
    /// # Errors
    /// `NotFound` without a part file or a slot; the OS error otherwise.
    pub(crate) fn read(&self, piece: u32, in_piece: u64, buf: &mut [u8]) -> io::Result<()> {
        let (Some(f), Some(slot)) = (self.file.as_ref(), self.slot(piece)) else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let mut pos = 0;
        while pos < buf.len() {
            match read_at_most(f, &mut buf[pos..], slot + in_piece + pos as u64)? {
                0 => {
                    buf[pos..].fill(0);
                    break;
                }
                n => pos += n,
            }
        }
        Ok(())
    }

    /// Writes `parts`, back to back, at `in_piece` of `piece`'s slot,
    /// creating the part file (and the download folder) if needed.
    /// Returns `false`, writing nothing, when the piece has no slot.
    ///
    /// # Errors
    /// [`Error::Io`] naming the part file.
    pub(crate) fn write(
        &mut self,
        piece: u32,
        in_piece: u64,
        parts: &[&[u8]],
    ) -> Result<bool, Error> {
        let Some(slot) = self.slot(piece) else {
            return Ok(false);
        };
        let path = &self.part.path;
        if self.file.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("create folder {}", dir.display()), e))?;
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            *self.file = Some(f);
        }
        let f = self.file.as_ref().expect("just opened");
        let mut at = slot + in_piece;
        for part in parts {
            write_all_at(f, part, at)
                .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
            at += part.len() as u64;
        }
        Ok(true)
    }

    /// Deletes the part file (no file keeps bytes in it any more).
    pub(crate) fn remove(&mut self) {
        if self.file.take().is_some() {
            if let Err(e) = std::fs::remove_file(&self.part.path) {
                tracing::warn!(path = %self.part.path.display(), %e, "removing the part file");
            }
        }
    }

    /// Flushes it to the disk (`fsync`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the part file.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        match self.file.as_ref() {
            Some(f) => f
                .sync_data()
                .map_err(|e| Error::io(format!("sync {}", self.part.path.display()), e)),
            None => Ok(()),
        }
    }
}

#[cfg(unix)]
fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match std::os::unix::fs::FileExt::read_at(f, buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(f, buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}
