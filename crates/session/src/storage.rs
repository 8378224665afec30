//! Files on disk: created when their first verified piece is written (and
//! then preallocated, per [`Allocation`]), read and written with positioned
//! IO (`pread`, and `pwritev` of up to 128 KiB of a piece's blocks; the
//! system calls per platform are in `storage/file_io.rs`), pad files never
//! touched.
//!
//! Storage is synchronous; the engine calls it from blocking threads, never
//! from async tasks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use bytes::Bytes;
use seedbed_metainfo::{Info, PieceIndex};
use seedbed_peer_wire::Bitfield;

use crate::error::Error;
use crate::part_file::PartFile;
use crate::resume::{DiskState, FileStamp};

mod file_io;

use file_io::{
    preallocate, read_at, read_at_nowait, read_vectored_at_nowait, write_all_vectored_at,
};

/// How [`Storage`] sizes a file when it creates it (as libtorrent's
/// `storage_mode_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocation {
    /// Files are set to their final length without reserving disk blocks
    /// (sparse files); blocks are allocated as pieces are written.
    Sparse,
    /// Disk blocks for the whole file are reserved up front (`fallocate`
    /// on Linux), so a full disk shows at once and writes skip block
    /// allocation (about a third less CPU per written byte on ext4).
    /// Where the file system cannot preallocate, files are sparse.
    #[default]
    Preallocate,
}

/// Bytes a [`Storage`] read from and wrote to its files since it was
/// opened (piece data only: resume checks, uploads, verified pieces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes read (resume check, recheck, serving peers).
    pub read: u64,
    /// Bytes written (verified pieces).
    pub written: u64,
}

/// One torrent's files under a download folder.
///
/// Nothing is created when it is opened: a file (and its folders) appears
/// when the first verified piece touching it is written, sized to its final
/// length then (and preallocated with [`Allocation::Preallocate`]), as
/// libtorrent does. A download that never starts leaves nothing behind.
/// Files already there are opened, not changed, until written to.
///
/// Bytes of skipped files (see `FilePriority`) that share a piece with a
/// wanted file go to the part file `.<name>.parts` in the download folder
/// instead, as long as the skipped file does not exist; they move into the
/// real file when it is wanted again.
#[derive(Debug)]
pub struct Storage {
    info: Arc<Info>,
    allocation: Allocation,
    files: Vec<Option<StorageFile>>,
    part: PartFile,
    read_bytes: AtomicU64,
    written_bytes: AtomicU64,
}

#[derive(Debug)]
struct StorageFile {
    path: PathBuf,
    /// The torrent's length of the file, bytes.
    length: u64,
    /// Open once the file exists with data: it held bytes when the storage
    /// was opened, or a verified piece has been written to it since.
    /// Opened or set to `None` only under `write_lock`; readers hold the
    /// read lock across their IO, so [`Storage::reopen_files`] (a recheck)
    /// never closes a file under a read.
    file: RwLock<Option<File>>,
    /// Held while writing; `true` once the file has its final length (set
    /// at the first write). Buffered writes to one file are serialised by
    /// the kernel anyway (ext4 takes the inode lock); waiting here sleeps
    /// instead of spinning on that lock.
    write_lock: Mutex<bool>,
    /// The file's bytes are kept in the part file: it is skipped (or was,
    /// and its bytes are still there) and does not exist. Changed only
    /// under the part file's lock.
    in_part: AtomicBool,
}

/// A file of the storage, open, held for reading or writing through it.
struct OpenFile<'a>(RwLockReadGuard<'a, Option<File>>);

impl std::ops::Deref for OpenFile<'_> {
    type Target = File;

    fn deref(&self) -> &File {
        self.0.as_ref().expect("OpenFile holds an open file")
    }
}

impl StorageFile {
    /// The open file, if any (held for reading: closing it waits).
    fn handle(&self) -> Option<OpenFile<'_>> {
        let guard = self.file.read().unwrap_or_else(|e| e.into_inner());
        guard.is_some().then(|| OpenFile(guard))
    }

    /// Whether the file is open.
    fn is_open(&self) -> bool {
        self.file
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Sets the open file (call with `write_lock` held).
    fn set_handle(&self, file: Option<File>) {
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = file;
    }

    /// The open file, creating it (with its folders) and giving it its
    /// final length first when needed. Call with `write_lock` held
    /// (`sized` is its value).
    fn materialize(&self, sized: &mut bool, allocation: Allocation) -> Result<OpenFile<'_>, Error> {
        if *sized {
            if let Some(f) = self.handle() {
                return Ok(f);
            }
        }
        if !self.is_open() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("create folder {}", dir.display()), e))?;
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)
                .map_err(|e| Error::io(format!("open {}", self.path.display()), e))?;
            self.set_handle(Some(f));
        }
        // Only functions holding the write lock open or close it.
        let file = self.handle().expect("opened above");
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", self.path.display()), e))?
            .len();
        let preallocated = len == 0
            && self.length > 0
            && allocation == Allocation::Preallocate
            && preallocate(&file, self.length);
        if !preallocated && len != self.length {
            file.set_len(self.length)
                .map_err(|e| Error::io(format!("size {}", self.path.display()), e))?;
        }
        *sized = true;
        Ok(file)
    }
}

/// The file at `path` opened for reading and writing if it is there with
/// data (a regular file of at least one byte); `None` if not.
///
/// # Errors
/// [`Error::Io`] naming the path when it is there but cannot be opened.
fn open_existing(path: &Path) -> Result<Option<File>, Error> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Ok(None);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(Some)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))
}

impl Storage {
    /// The storage of `info`'s files under `root`, with the default
    /// [`Allocation`]. Opens the files already there (their data is
    /// checked, and kept); creates nothing.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when an existing file cannot be
    /// opened for reading and writing.
    pub fn open(info: Arc<Info>, root: &Path) -> Result<Storage, Error> {
        Storage::open_with(info, root, Allocation::default())
    }

    /// [`Storage::open`] with a choice of [`Allocation`] for the files it
    /// creates later. Files that already hold data are never
    /// preallocated (their data is kept either way); an existing file of
    /// the wrong length is extended or cut to it when first written.
    ///
    /// # Errors
    /// As [`Storage::open`].
    pub fn open_with(
        info: Arc<Info>,
        root: &Path,
        allocation: Allocation,
    ) -> Result<Storage, Error> {
        let part = PartFile::open(&info, root)?;
        let part_exists = part.lock().exists();
        let mut files = Vec::with_capacity(info.files().len());
        for entry in info.files() {
            if entry.is_pad() || entry.symlink_target().is_some() {
                files.push(None);
                continue;
            }
            let path = entry.path().to_path_buf_under(root);
            // An empty file holds nothing to check: it is opened (and
            // preallocated) when first written, like a missing one.
            let file = RwLock::new(open_existing(&path)?);
            // A missing file may have bytes in the part file (it was
            // skipped); the engine moves those it needs once it knows.
            let in_part = part_exists && entry.length() > 0 && !path.exists();
            files.push(Some(StorageFile {
                path,
                length: entry.length(),
                file,
                write_lock: Mutex::new(false),
                in_part: AtomicBool::new(in_part),
            }));
        }
        Ok(Storage {
            info,
            allocation,
            files,
            part,
            read_bytes: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
        })
    }

    /// Whether every byte of `piece` lies in pad files or in files that do
    /// not exist (or were empty when opened) and have not been written
    /// since: such a piece cannot hold valid data, so checking it can be
    /// skipped.
    pub fn piece_is_fresh(&self, piece: PieceIndex) -> bool {
        self.info
            .piece_spans(piece)
            .all(|span| match &self.files[span.file] {
                Some(f) if f.in_part.load(Ordering::Acquire) => !self.part.lock().exists(),
                Some(f) => !f.is_open(),
                None => true,
            })
    }

    /// Marks the file at `index` of [`Info::files`] skipped or wanted.
    /// Skipped: if it does not exist, bytes of it that wanted pieces
    /// carry go to the part file from now on. Wanted: if its bytes were in
    /// the part file, those of the pieces in `exportable()` (called with
    /// the part file locked, so no piece is written to it meanwhile: pass
    /// the pieces verified or being verified) are written into the file,
    /// created for them, and the part file is deleted once no file uses
    /// it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn set_wanted(
        &self,
        index: usize,
        wanted: bool,
        exportable: impl FnOnce() -> Bitfield,
    ) -> Result<(), Error> {
        let Some(Some(f)) = self.files.get(index) else {
            return Ok(());
        };
        let mut part = self.part.lock();
        if !wanted {
            if f.length > 0
                && !f.in_part.load(Ordering::Acquire)
                && !f.is_open()
                && !f.path.exists()
            {
                f.in_part.store(true, Ordering::Release);
            }
            return Ok(());
        }
        if !f.in_part.load(Ordering::Acquire) {
            return Ok(());
        }
        let entry = &self.info.files()[index];
        let g = self.info.geometry();
        if part.exists() && f.length > 0 {
            let pieces = exportable();
            let first = g.piece_at(entry.offset()).map_or(0, |p| p.get());
            let last = g
                .piece_at(entry.offset() + f.length - 1)
                .map_or(0, |p| p.get());
            for &p in self.part.slotted_pieces(first, last) {
                if !pieces.get(p) {
                    continue;
                }
                let range = g.piece_range(g.piece(p).expect("slot in range"));
                let start = range.start.max(entry.offset());
                let end = range.end.min(entry.offset() + f.length);
                let mut buf = vec![0u8; (end - start) as usize];
                part.read(p, start - range.start, &mut buf).map_err(|e| {
                    Error::io(format!("read {}", self.part.location().display()), e)
                })?;
                let mut sized = f.write_lock.lock().unwrap_or_else(|e| e.into_inner());
                let file = f.materialize(&mut sized, self.allocation)?;
                write_all_vectored_at(&file, &[&buf], start - entry.offset())
                    .map_err(|e| Error::io(format!("write {}", f.path.display()), e))?;
                self.written_bytes
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
            }
        }
        f.in_part.store(false, Ordering::Release);
        if !self.any_in_part() {
            part.remove();
        }
        Ok(())
    }

    fn any_in_part(&self) -> bool {
        self.files
            .iter()
            .flatten()
            .any(|f| f.in_part.load(Ordering::Acquire))
    }

    /// Opens every file again by its path, as it is on disk now, so that a
    /// recheck reads what is there: a file deleted (or emptied) since it
    /// was opened is closed, so its pieces are not checked and count as
    /// missing (the next verified piece creates it again), one replaced is
    /// read anew (an open handle would still read the old, unlinked inode),
    /// and one that appeared with data is opened. A file shorter than the
    /// torrent's length fails the pieces past its end, and is sized again
    /// when next written. Files whose bytes are kept in the part file stay
    /// there. Call it with no piece being written (the engine waits for
    /// those first).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when one that is there cannot be
    /// opened for reading and writing (it is then left closed).
    pub(crate) fn reopen_files(&self) -> Result<(), Error> {
        let mut first_error = None;
        for f in self.files.iter().flatten() {
            if f.in_part.load(Ordering::Acquire) {
                continue;
            }
            // Writers open and size files under this lock.
            let mut sized = f.write_lock.lock().unwrap_or_else(|e| e.into_inner());
            *sized = false;
            f.set_handle(None);
            match open_existing(&f.path) {
                Ok(file) => f.set_handle(file),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Deletes the part file if no file keeps bytes in it.
    pub(crate) fn tidy_part_file(&self) {
        let mut part = self.part.lock();
        if !self.any_in_part() {
            part.remove();
        }
    }

    /// The stamps of the files and the part file on disk now, for resume
    /// data (blocking: one `stat` per file).
    pub(crate) fn disk_state(&self) -> DiskState {
        DiskState {
            files: self
                .files
                .iter()
                .map(|f| f.as_ref().and_then(|f| FileStamp::of_path(&f.path)))
                .collect(),
            part_file: FileStamp::of_path(self.part.location()),
            in_part: self
                .files
                .iter()
                .map(|f| {
                    f.as_ref()
                        .is_some_and(|f| f.in_part.load(Ordering::Acquire))
                })
                .collect(),
        }
    }

    /// Bytes read and written so far.
    pub fn disk_stats(&self) -> DiskStats {
        DiskStats {
            read: self.read_bytes.load(Ordering::Relaxed),
            written: self.written_bytes.load(Ordering::Relaxed),
        }
    }

    /// Reads `buf.len()` bytes at byte `offset` of `piece`; pad files read
    /// as zeros.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; `NotFound` for a file not created
    /// yet.
    pub fn read(&self, piece: PieceIndex, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        let geometry = self.info.geometry();
        let start = geometry.piece_offset(piece) + u64::from(offset);
        let mut pos = 0usize;
        for span in self.info.file_spans(start, buf.len() as u64) {
            let out = &mut buf[pos..pos + span.len as usize];
            match &self.files[span.file] {
                Some(f)
                    if f.in_part.load(Ordering::Acquire)
                        && self.read_part(f, piece, offset, pos, out)? => {}
                Some(f) => {
                    let file = f.handle().ok_or_else(|| {
                        Error::io(
                            format!("read {}", f.path.display()),
                            io::ErrorKind::NotFound.into(),
                        )
                    })?;
                    read_at(&file, out, span.offset)
                        .map_err(|e| Error::io(format!("read {}", f.path.display()), e))?;
                    self.read_bytes.fetch_add(span.len, Ordering::Relaxed);
                }
                None => out.fill(0),
            }
            pos += span.len as usize;
        }
        if pos != buf.len() {
            return Err(Error::io(
                format!("read piece {piece} past the end of the torrent"),
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        Ok(())
    }

    /// Reads `out` from the part file for a file kept there; `false` when
    /// the file left it meanwhile (read the real file then).
    fn read_part(
        &self,
        f: &StorageFile,
        piece: PieceIndex,
        offset: u32,
        pos: usize,
        out: &mut [u8],
    ) -> Result<bool, Error> {
        let part = self.part.lock();
        if !f.in_part.load(Ordering::Acquire) {
            return Ok(false);
        }
        part.read(piece.get(), u64::from(offset) + pos as u64, out)
            .map_err(|e| Error::io(format!("read {}", self.part.location().display()), e))?;
        self.read_bytes
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Writes a whole piece given as consecutive blocks; bytes that fall in
    /// pad files are skipped, those of files kept in the part file go
    /// there. A file is created (with its folders) and
    /// given its final length by the first piece written to it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_piece(&self, piece: PieceIndex, blocks: &[Bytes]) -> Result<(), Error> {
        let geometry = self.info.geometry();
        let start = geometry.piece_offset(piece);
        let len = u64::from(geometry.piece_len(piece));
        let mut block = 0usize;
        let mut in_block = 0usize;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(blocks.len() + 1);
        let mut in_piece = 0u64;
        for span in self.info.file_spans(start, len) {
            let mut remaining = span.len as usize;
            parts.clear();
            while remaining > 0 {
                let data = blocks.get(block).ok_or_else(|| {
                    Error::io(
                        format!("write piece {piece}: blocks shorter than the piece"),
                        io::ErrorKind::InvalidInput.into(),
                    )
                })?;
                let take = remaining.min(data.len() - in_block);
                parts.push(&data[in_block..in_block + take]);
                remaining -= take;
                in_block += take;
                if in_block == data.len() {
                    block += 1;
                    in_block = 0;
                }
            }
            let at = in_piece;
            in_piece += span.len;
            let Some(f) = &self.files[span.file] else {
                continue;
            };
            if f.in_part.load(Ordering::Acquire) {
                let mut part = self.part.lock();
                if f.in_part.load(Ordering::Acquire) {
                    if part.write(piece.get(), at, &parts)? {
                        self.written_bytes.fetch_add(span.len, Ordering::Relaxed);
                        continue;
                    }
                    // A piece of the skipped file alone (it was being
                    // fetched when the file was skipped): no slot, so the
                    // file is created after all.
                    f.in_part.store(false, Ordering::Release);
                }
            }
            let mut sized = f.write_lock.lock().unwrap_or_else(|e| e.into_inner());
            let file = f.materialize(&mut sized, self.allocation)?;
            write_all_vectored_at(&file, &parts, span.offset)
                .map_err(|e| Error::io(format!("write {}", f.path.display()), e))?;
            self.written_bytes.fetch_add(span.len, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Creates the torrent's empty files (no piece ever touches them)
    /// whose index in [`Info::files`] passes `wanted`, with their folders,
    /// if they do not exist. The engine calls it once the wanted data is
    /// complete.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn create_empty_files(&self, wanted: impl Fn(usize) -> bool) -> Result<(), Error> {
        for (i, f) in self.files.iter().enumerate() {
            let Some(f) = f else { continue };
            if f.length != 0 || !wanted(i) || f.path.exists() {
                continue;
            }
            let mut sized = f.write_lock.lock().unwrap_or_else(|e| e.into_inner());
            f.materialize(&mut sized, self.allocation)?;
        }
        Ok(())
    }

    /// As [`read`](Self::read), but only from the page cache and without
    /// waiting: `Ok(false)` when some of the bytes would have to come from
    /// the disk (then `buf` may be partly filled; read it with `read`).
    /// Serving cached blocks this way needs no hand-off to a blocking
    /// thread. Linux (`preadv2` with `RWF_NOWAIT`); elsewhere always
    /// `Ok(false)`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, for errors other than "not cached".
    pub fn read_cached(
        &self,
        piece: PieceIndex,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<bool, Error> {
        let geometry = self.info.geometry();
        let start = geometry.piece_offset(piece) + u64::from(offset);
        let mut pos = 0usize;
        let mut from_files = 0u64;
        for span in self.info.file_spans(start, buf.len() as u64) {
            let out = &mut buf[pos..pos + span.len as usize];
            match &self.files[span.file] {
                // Kept in the part file, or not created yet: `read` knows.
                Some(f) if f.in_part.load(Ordering::Acquire) => return Ok(false),
                Some(f) => {
                    let Some(file) = f.handle() else {
                        return Ok(false);
                    };
                    match read_at_nowait(&file, out, span.offset) {
                        Ok(true) => from_files += span.len,
                        Ok(false) => return Ok(false),
                        Err(e) => return Err(Error::io(format!("read {}", f.path.display()), e)),
                    }
                }
                None => out.fill(0),
            }
            pos += span.len as usize;
        }
        self.read_bytes.fetch_add(from_files, Ordering::Relaxed);
        Ok(pos == buf.len())
    }

    /// As [`read_cached`](Self::read_cached) for blocks that follow each
    /// other in piece `piece` from `offset` on: `bufs` are filled in order,
    /// back to back. Returns how many of them were filled whole (all of
    /// them, or fewer when the rest is not in the page cache; the one after
    /// them may be partly filled). Blocks in one file are read with one
    /// `preadv2` call (a 256 KiB batch of 16 blocks: one system call where
    /// a call per block cost about a tenth of a seed's CPU); blocks that
    /// cross into another file, the part file or a pad file are read one by
    /// one.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file, for errors other than "not cached".
    pub fn read_cached_blocks(
        &self,
        piece: PieceIndex,
        offset: u32,
        bufs: &mut [&mut [u8]],
    ) -> Result<usize, Error> {
        let geometry = self.info.geometry();
        let start = geometry.piece_offset(piece) + u64::from(offset);
        let total: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        let mut spans = self.info.file_spans(start, total);
        if let (Some(span), None) = (spans.next(), spans.next()) {
            if let Some(f) = &self.files[span.file] {
                if span.len == total && !f.in_part.load(Ordering::Acquire) {
                    let Some(file) = f.handle() else {
                        return Ok(0);
                    };
                    let filled = read_vectored_at_nowait(&file, bufs, span.offset)
                        .map_err(|e| Error::io(format!("read {}", f.path.display()), e))?;
                    let bytes: usize = bufs[..filled].iter().map(|b| b.len()).sum();
                    self.read_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    return Ok(filled);
                }
            }
        }
        let mut at = offset;
        for (i, buf) in bufs.iter_mut().enumerate() {
            if !self.read_cached(piece, at, buf)? {
                return Ok(i);
            }
            at += buf.len() as u32;
        }
        Ok(bufs.len())
    }

    /// Flushes written data of every file to the disk (`fsync`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn sync(&self) -> Result<(), Error> {
        self.part.lock().sync()?;
        for f in self.files.iter().flatten() {
            if let Some(file) = f.handle() {
                file.sync_data()
                    .map_err(|e| Error::io(format!("sync {}", f.path.display()), e))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedbed_metainfo::{Torrent, TorrentBuilder, TorrentVersion};

    /// Three files (one smaller than a piece, one empty) in `dir/content`,
    /// and their torrent.
    fn content(dir: &Path, version: TorrentVersion) -> (PathBuf, Arc<Info>) {
        let base = dir.join("content");
        std::fs::create_dir_all(base.join("sub/deeper")).unwrap();
        let bytes = |n: usize, seed: u8| -> Vec<u8> {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 9) as u8)
                .collect()
        };
        std::fs::write(base.join("a.bin"), bytes(100_000, 1)).unwrap();
        std::fs::write(base.join("sub/b.bin"), bytes(5_000, 2)).unwrap();
        std::fs::write(base.join("sub/deeper/c.bin"), bytes(70_001, 3)).unwrap();
        std::fs::write(base.join("sub/empty"), b"").unwrap();
        let created = TorrentBuilder::new(version)
            .piece_length(16_384)
            .build_from_path(&base, |_, _| {})
            .unwrap();
        let t = Torrent::from_bytes(created.into_bytes()).unwrap();
        (base, Arc::new(t.info().clone()))
    }

    /// Piece `p` of the torrent's byte stream (pad files as zeros), cut
    /// into blocks of `block` bytes.
    fn piece_blocks(info: &Info, src: &Path, p: PieceIndex, block: usize) -> Vec<Bytes> {
        let g = info.geometry();
        let mut data = vec![0u8; g.piece_len(p) as usize];
        let mut pos = 0;
        for span in info.file_spans(g.piece_offset(p), data.len() as u64) {
            let entry = &info.files()[span.file];
            let out = &mut data[pos..pos + span.len as usize];
            if !entry.is_pad() {
                let path = entry.path().to_path_buf_under(src.parent().unwrap());
                let whole = std::fs::read(path).unwrap();
                let at = span.offset as usize;
                out.copy_from_slice(&whole[at..at + out.len()]);
            }
            pos += span.len as usize;
        }
        data.chunks(block).map(Bytes::copy_from_slice).collect()
    }

    fn write_all_pieces(info: &Arc<Info>, src: &Path, out: &Path, a: Allocation, block: usize) {
        let storage = Storage::open_with(Arc::clone(info), out, a).unwrap();
        let g = info.geometry();
        for i in 0..g.num_pieces() {
            let p = g.piece(i).unwrap();
            let blocks = piece_blocks(info, src, p, block);
            storage.write_piece(p, &blocks).unwrap();
            assert!(info
                .piece_hash_v1(p)
                .is_none_or(|h| *h == crate::verify::sha1_blocks(&blocks)));
            let mut back = vec![0u8; g.piece_len(p) as usize];
            storage.read(p, 0, &mut back).unwrap();
            assert_eq!(back, blocks.concat(), "piece {i} reads back");
        }
        storage.create_empty_files(|_| true).unwrap();
        storage.sync().unwrap();
        let stats = storage.disk_stats();
        assert_eq!(stats.written, info.total_size());
        assert_eq!(stats.read, info.total_size());
    }

    fn assert_files_equal(info: &Info, src: &Path, out: &Path) {
        for entry in info.files() {
            let got = entry.path().to_path_buf_under(out);
            if entry.is_pad() {
                assert!(!got.exists(), "pad file {} written", got.display());
                continue;
            }
            let want = entry.path().to_path_buf_under(src.parent().unwrap());
            assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&want).unwrap());
        }
    }

    #[test]
    fn pieces_across_files_and_pad_files_land_in_place() {
        for (version, a) in [
            (TorrentVersion::V1, Allocation::Preallocate),
            (TorrentVersion::V1, Allocation::Sparse),
            (TorrentVersion::Hybrid, Allocation::Preallocate),
            (TorrentVersion::Hybrid, Allocation::Sparse),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (src, info) = content(dir.path(), version);
            let out = dir.path().join("out");
            write_all_pieces(&info, &src, &out, a, BLOCK);
            assert_files_equal(&info, &src, &out);
        }
    }

    const BLOCK: usize = 16_384;

    #[test]
    fn more_buffers_than_one_pwritev_takes() {
        // 1-byte blocks: 16,384 buffers per piece, past MAX_IOVECS, and
        // pieces that straddle files split their buffers per file.
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        write_all_pieces(&info, &src, &out, Allocation::Preallocate, 1);
        assert_files_equal(&info, &src, &out);
        // Blocks that do not divide the piece (7,000 bytes) as well.
        let out = dir.path().join("out7000");
        write_all_pieces(&info, &src, &out, Allocation::Sparse, 7_000);
        assert_files_equal(&info, &src, &out);
    }

    #[test]
    fn cached_blocks_read_as_read_does() {
        for version in [TorrentVersion::V1, TorrentVersion::Hybrid] {
            let dir = tempfile::tempdir().unwrap();
            let (src, info) = content(dir.path(), version);
            let out = dir.path().join("out");
            write_all_pieces(&info, &src, &out, Allocation::Sparse, BLOCK);
            let storage = Storage::open_with(Arc::clone(&info), &out, Allocation::Sparse).unwrap();
            let g = info.geometry();
            // Whether this file system serves RWF_NOWAIT reads at all.
            let mut probe = [0u8; 1];
            let nowait = storage
                .read_cached(g.piece(0).unwrap(), 0, &mut probe)
                .unwrap();
            // Whole blocks, blocks that do not divide the piece, 1-byte
            // blocks (more than one preadv2 takes), from an offset.
            for (block, from) in [(BLOCK, 0u32), (7_000, 0), (1, 0), (3_000, 5)] {
                for i in 0..g.num_pieces() {
                    let p = g.piece(i).unwrap();
                    let len = g.piece_len(p) - from;
                    let mut want = vec![0u8; len as usize];
                    storage.read(p, from, &mut want).unwrap();
                    let mut got = vec![0u8; len as usize];
                    let mut bufs: Vec<&mut [u8]> = got.chunks_mut(block).collect();
                    let n = bufs.len();
                    let filled = storage.read_cached_blocks(p, from, &mut bufs).unwrap();
                    if nowait {
                        assert_eq!(filled, n, "piece {i}, blocks of {block}: all cached");
                    }
                    let upto = (filled * block).min(len as usize);
                    assert_eq!(got[..upto], want[..upto], "piece {i}, blocks of {block}");
                }
            }
            // No buffers, and empty ones.
            let p = g.piece(0).unwrap();
            assert_eq!(storage.read_cached_blocks(p, 0, &mut []).unwrap(), 0);
            let (mut a, mut b) = ([0u8; 0], [0u8; 4]);
            let mut bufs: Vec<&mut [u8]> = vec![&mut a, &mut b];
            let filled = storage.read_cached_blocks(p, 0, &mut bufs).unwrap();
            if nowait {
                assert_eq!(filled, 2);
            }
        }
    }

    #[test]
    fn short_blocks_are_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let storage = Storage::open(Arc::clone(&info), &dir.path().join("out")).unwrap();
        let p = info.geometry().piece(0).unwrap();
        let mut blocks = piece_blocks(&info, &src, p, BLOCK);
        blocks.truncate(blocks.len() / 2);
        blocks.push(Bytes::from_static(b"x"));
        assert!(matches!(
            storage.write_piece(p, &blocks),
            Err(Error::Io { .. })
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn preallocation_reserves_blocks_and_sparse_does_not() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let file = info.files().iter().find(|f| f.length() == 100_000).unwrap();
        let first = info.geometry().piece_at(file.offset()).unwrap();
        let allocated = |root: &Path| {
            let m = std::fs::metadata(file.path().to_path_buf_under(root)).unwrap();
            assert_eq!(m.len(), 100_000, "final length either way");
            m.blocks() * 512
        };
        let blocks = piece_blocks(&info, &src, first, BLOCK);
        let full = dir.path().join("full");
        let s = Storage::open_with(Arc::clone(&info), &full, Allocation::Preallocate).unwrap();
        s.write_piece(first, &blocks).unwrap();
        let sparse = dir.path().join("sparse");
        let s = Storage::open_with(Arc::clone(&info), &sparse, Allocation::Sparse).unwrap();
        s.write_piece(first, &blocks).unwrap();
        // One piece written: its blocks (and perhaps a few more) only.
        assert!(allocated(&sparse) < 64 * 1024, "{}", allocated(&sparse));
        // tmpfs and ext4/xfs/btrfs support fallocate; others fall back.
        let f = allocated(&full);
        assert!(!(64 * 1024..100_000).contains(&f), "{f} bytes allocated");
    }

    /// Every path below `root`, folders included.
    fn tree(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.is_dir() {
                    todo.push(path.clone());
                }
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
        out.sort();
        out
    }

    #[test]
    fn files_appear_with_their_first_written_piece() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        assert!(
            !out.exists(),
            "opening creates nothing, not even the folder"
        );
        let g = info.geometry();
        for p in g.pieces() {
            assert!(s.piece_is_fresh(p));
            let mut buf = vec![0u8; 10];
            assert!(matches!(s.read(p, 0, &mut buf), Err(Error::Io { .. })));
        }
        // The last piece holds the end of c.bin only.
        let last = g.last_piece();
        s.write_piece(last, &piece_blocks(&info, &src, last, BLOCK))
            .unwrap();
        let c = Path::new("content/sub/deeper/c.bin");
        assert_eq!(
            tree(&out),
            [
                PathBuf::from("content"),
                PathBuf::from("content/sub"),
                PathBuf::from("content/sub/deeper"),
                c.to_path_buf(),
            ]
        );
        assert_eq!(std::fs::metadata(out.join(c)).unwrap().len(), 70_001);
        assert!(!s.piece_is_fresh(last));
        // Empty files come only when asked for (at completion).
        s.create_empty_files(|_| false).unwrap();
        assert!(!out.join("content/sub/empty").exists());
        s.create_empty_files(|_| true).unwrap();
        assert_eq!(
            std::fs::metadata(out.join("content/sub/empty"))
                .unwrap()
                .len(),
            0
        );
        assert!(!out.join("content/a.bin").exists());
    }

    #[test]
    fn existing_files_are_not_touched_until_written() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        write_all_pieces(&info, &src, &out, Allocation::Sparse, BLOCK);
        // A file one byte too long is kept as it is until a piece is written.
        let a = out.join("content/a.bin");
        let mut bytes = std::fs::read(&a).unwrap();
        bytes.push(7);
        std::fs::write(&a, &bytes).unwrap();
        let before = std::fs::metadata(&a).unwrap();
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        let mut buf = vec![0u8; 100];
        s.read(info.geometry().piece(0).unwrap(), 0, &mut buf)
            .unwrap();
        let after = std::fs::metadata(&a).unwrap();
        assert_eq!(after.len(), 100_001);
        assert_eq!(after.modified().unwrap(), before.modified().unwrap());
        let p = info.geometry().piece(0).unwrap();
        s.write_piece(p, &piece_blocks(&info, &src, p, BLOCK))
            .unwrap();
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 100_000);
        assert_files_equal(&info, &src, &out);
    }

    #[test]
    fn files_put_in_place_later_are_found_by_reopen_files() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        let p = info.geometry().piece(0).unwrap();
        assert!(s.piece_is_fresh(p));
        // The user copies a.bin in while the torrent runs.
        std::fs::create_dir_all(out.join("content")).unwrap();
        std::fs::copy(src.join("a.bin"), out.join("content/a.bin")).unwrap();
        assert!(s.piece_is_fresh(p), "not seen until asked");
        s.reopen_files().unwrap();
        assert!(!s.piece_is_fresh(p));
        let mut buf = vec![0u8; 16_384];
        s.read(p, 0, &mut buf).unwrap();
        assert_eq!(buf, std::fs::read(src.join("a.bin")).unwrap()[..16_384]);
        // Nothing else appeared, nothing else was created.
        assert!(!out.join("content/sub").exists());
    }

    /// A recheck sees the files by path: one deleted while open is
    /// closed (its pieces are fresh, reads fail, the next write creates it
    /// again at its full length), one replaced is read anew.
    #[test]
    fn reopen_files_sees_deleted_and_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        write_all_pieces(&info, &src, &out, Allocation::Sparse, 16_384);
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        let g = info.geometry();
        let first = g.piece(0).unwrap();
        let last = g.piece(g.num_pieces() - 1).unwrap();
        let mut buf = vec![0u8; 16_384];
        s.read(first, 0, &mut buf).unwrap();

        // a.bin deleted, c.bin (the last piece's file) replaced.
        std::fs::remove_file(out.join("content/a.bin")).unwrap();
        let c = out.join("content/sub/deeper/c.bin");
        let mut other = std::fs::read(&c).unwrap();
        for b in &mut other {
            *b = !*b;
        }
        std::fs::remove_file(&c).unwrap();
        std::fs::write(&c, &other).unwrap();
        // The open handles still read the unlinked files.
        s.read(first, 0, &mut buf).unwrap();
        assert!(!s.piece_is_fresh(first));

        s.reopen_files().unwrap();
        assert!(s.piece_is_fresh(first), "a.bin is gone");
        let err = s.read(first, 0, &mut buf).unwrap_err();
        assert!(err.to_string().contains("a.bin"), "{err}");
        let len = g.piece_len(last) as usize;
        let mut tail = vec![0u8; len];
        s.read(last, 0, &mut tail).unwrap();
        assert_eq!(tail, other[other.len() - len..], "the new c.bin is read");

        // Written again: a.bin is created at its full length.
        s.write_piece(first, &piece_blocks(&info, &src, first, 16_384))
            .unwrap();
        assert_eq!(
            std::fs::metadata(out.join("content/a.bin")).unwrap().len(),
            100_000
        );
        s.read(first, 0, &mut buf).unwrap();
        assert_eq!(buf, std::fs::read(src.join("a.bin")).unwrap()[..16_384]);
    }

    #[test]
    fn skipped_files_bytes_go_to_the_part_file_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        let g = info.geometry();
        let index = |name: &str| {
            info.files()
                .iter()
                .position(|f| f.path().file_name() == name)
                .unwrap()
        };
        let (a, b) = (index("a.bin"), index("b.bin"));
        let b_path = out.join("content/sub/b.bin");
        let part = out.join(".content.parts");
        // b.bin (5,000 bytes) lies inside piece 6 with the ends of a.bin
        // and c.bin.
        let shared = g.piece(6).unwrap();
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        s.set_wanted(b, false, || unreachable!()).unwrap();
        for p in g.pieces() {
            s.write_piece(p, &piece_blocks(&info, &src, p, BLOCK))
                .unwrap();
        }
        assert!(!b_path.exists(), "a skipped file is not created");
        assert!(part.exists());
        assert!(
            std::fs::metadata(&part).unwrap().len() <= 2 * 16384,
            "one slot per shared piece"
        );
        let mut back = vec![0u8; g.piece_len(shared) as usize];
        s.read(shared, 0, &mut back).unwrap();
        assert_eq!(back, piece_blocks(&info, &src, shared, BLOCK).concat());
        let state = s.disk_state();
        assert!(state.in_part[b] && state.files[b].is_none() && state.part_file.is_some());
        drop(s);

        // Opened again: b.bin's bytes are found in the part file.
        let s = Storage::open(Arc::clone(&info), &out).unwrap();
        assert!(!s.piece_is_fresh(shared));
        let mut again = vec![0u8; back.len()];
        s.read(shared, 0, &mut again).unwrap();
        assert_eq!(again, back);
        // Wanted: moved into b.bin, the part file goes.
        s.set_wanted(b, true, || Bitfield::full(g.num_pieces()))
            .unwrap();
        assert!(!part.exists());
        assert_eq!(
            std::fs::read(&b_path).unwrap(),
            std::fs::read(src.join("sub/b.bin")).unwrap()
        );
        s.read(shared, 0, &mut again).unwrap();
        assert_eq!(again, back);
        s.create_empty_files(|_| true).unwrap();
        assert_files_equal(&info, &src, &out);

        // A piece of a skipped file alone has no slot: the file is made.
        let out2 = dir.path().join("out2");
        let s = Storage::open(Arc::clone(&info), &out2).unwrap();
        s.set_wanted(a, false, || unreachable!()).unwrap();
        let first = g.piece(0).unwrap();
        s.write_piece(first, &piece_blocks(&info, &src, first, BLOCK))
            .unwrap();
        assert!(out2.join("content/a.bin").exists());
        assert!(!out2.join(".content.parts").exists());
        // Wanted again with nothing verified: no file appears.
        let out3 = dir.path().join("out3");
        let s = Storage::open(Arc::clone(&info), &out3).unwrap();
        s.set_wanted(b, false, || unreachable!()).unwrap();
        s.write_piece(shared, &piece_blocks(&info, &src, shared, BLOCK))
            .unwrap();
        s.set_wanted(b, true, || Bitfield::new(g.num_pieces()))
            .unwrap();
        assert!(!out3.join("content/sub/b.bin").exists());
        assert!(!out3.join(".content.parts").exists());
    }

    #[test]
    fn existing_data_is_kept_by_either_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let (src, info) = content(dir.path(), TorrentVersion::V1);
        let out = dir.path().join("out");
        write_all_pieces(&info, &src, &out, Allocation::Sparse, BLOCK);
        for a in [Allocation::Preallocate, Allocation::Sparse] {
            let s = Storage::open_with(Arc::clone(&info), &out, a).unwrap();
            let first = info.geometry().piece(0).unwrap();
            assert!(!s.piece_is_fresh(first));
            assert_files_equal(&info, &src, &out);
        }
    }
}
