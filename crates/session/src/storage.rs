//! Files on disk: created at their final sizes (preallocated by default),
//! read and written with positioned IO (`pread`, and `pwritev` of up to
//! 128 KiB of a piece's blocks), pad files never touched.
//!
//! Storage is synchronous; the engine calls it from blocking threads, never
//! from async tasks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use seedbed_metainfo::{Info, PieceIndex};

use crate::error::Error;

/// How [`Storage::open`] sizes new files (as libtorrent's `storage_mode_t`).
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

/// One torrent's files under a download folder.
#[derive(Debug)]
pub struct Storage {
    info: Arc<Info>,
    files: Vec<Option<StorageFile>>,
}

#[derive(Debug)]
struct StorageFile {
    path: PathBuf,
    file: File,
    /// The file did not exist (or was empty) when opened: none of its
    /// bytes can be valid yet.
    fresh: bool,
    /// Held while writing. Buffered writes to one file are serialised by
    /// the kernel anyway (ext4 takes the inode lock); waiting here sleeps
    /// instead of spinning on that lock.
    write_lock: Mutex<()>,
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

/// Reads all of `buf` at `offset` if the page cache holds it: `Ok(false)`
/// if the kernel would have to wait for the disk, or the file ends first.
#[cfg(target_os = "linux")]
fn read_at_nowait(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<bool> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    while !buf.is_empty() {
        let mut slices = [io::IoSliceMut::new(buf)];
        match preadv2(f, &mut slices, offset, ReadWriteFlags::NOWAIT) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            // EAGAIN: not cached; EOPNOTSUPP/EINVAL: no RWF_NOWAIT here.
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
fn read_at_nowait(_f: &File, _buf: &mut [u8], _offset: u64) -> io::Result<bool> {
    Ok(false)
}

/// Most buffers in one `pwritev` call (POSIX guarantees `IOV_MAX` >= 16;
/// Linux allows 1024).
#[cfg(unix)]
const MAX_IOVECS: usize = 512;

/// Most bytes per `pwritev` call; calls also end at multiples of it in the
/// file. Linux 6.x page-caches a write in folios as large as the write, and
/// on a VM whose balloon hands idle free memory back to the host, filling
/// 1 MiB folios in memory that had been idle cost ten times the CPU
/// (1 GiB written in 1 MiB calls: 1.5-1.6 s after 5 s idle, 0.15 s right
/// after other writes; in 128 KiB calls: 0.18-0.27 s either way; in 16 KiB
/// calls 0.4 s). See `scripts/page_cache_probe.py`.
#[cfg(unix)]
const WRITE_CHUNK: u64 = 128 * 1024;

/// Writes all of `bufs`, back to back, at `offset`: `pwritev` calls of at
/// most [`WRITE_CHUNK`] bytes and [`MAX_IOVECS`] buffers, repeated after
/// short writes.
#[cfg(unix)]
fn write_all_vectored_at(f: &File, bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
    use std::io::IoSlice;
    let mut group: Vec<IoSlice<'_>> = Vec::with_capacity(16);
    let (mut i, mut within) = (0usize, 0usize);
    while i < bufs.len() {
        // Gather up to the next WRITE_CHUNK boundary of the file.
        let limit = (WRITE_CHUNK - offset % WRITE_CHUNK) as usize;
        let mut total = 0usize;
        group.clear();
        while i < bufs.len() && total < limit && group.len() < MAX_IOVECS {
            let b = &bufs[i][within..];
            let take = b.len().min(limit - total);
            if take > 0 {
                group.push(IoSlice::new(&b[..take]));
            }
            total += take;
            if take == b.len() {
                i += 1;
                within = 0;
            } else {
                within += take;
            }
        }
        let mut rest = &mut group[..];
        while !rest.is_empty() {
            match rustix::io::pwritev(f, rest, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    offset += written as u64;
                    IoSlice::advance_slices(&mut rest, written);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Reserves disk blocks for `len` bytes of `f` and sets its length;
/// `false` when the file system cannot (the caller sizes it sparsely).
#[cfg(target_os = "linux")]
fn preallocate(f: &File, len: u64) -> bool {
    len > 0 && rustix::fs::fallocate(f, rustix::fs::FallocateFlags::empty(), 0, len).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn preallocate(_f: &File, _len: u64) -> bool {
    false
}

#[cfg(windows)]
fn read_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_all_vectored_at(f: &File, bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    for mut buf in bufs.iter().copied() {
        while !buf.is_empty() {
            let n = f.seek_write(buf, offset)?;
            buf = &buf[n..];
            offset += n as u64;
        }
    }
    Ok(())
}

#[cfg(windows)]
fn preallocate(_f: &File, _len: u64) -> bool {
    false
}

impl Storage {
    /// Opens (creating where missing) every non-pad file of `info` under
    /// `root`, with folders, at its final length, preallocating new files
    /// ([`Allocation::Preallocate`]). Existing data is kept; a file of the
    /// wrong length is extended or cut to it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when a folder or file cannot be
    /// created, opened or sized.
    pub fn open(info: Arc<Info>, root: &Path) -> Result<Storage, Error> {
        Storage::open_with(info, root, Allocation::default())
    }

    /// [`Storage::open`] with a choice of [`Allocation`] for files that are
    /// created or were empty. Files that already hold data are never
    /// preallocated (their data is kept either way).
    ///
    /// # Errors
    /// As [`Storage::open`].
    pub fn open_with(
        info: Arc<Info>,
        root: &Path,
        allocation: Allocation,
    ) -> Result<Storage, Error> {
        let mut files = Vec::with_capacity(info.files().len());
        for entry in info.files() {
            if entry.is_pad() || entry.symlink_target().is_some() {
                files.push(None);
                continue;
            }
            let path = entry.path().to_path_buf_under(root);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("create folder {}", dir.display()), e))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            let len = file
                .metadata()
                .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
                .len();
            let fresh = len == 0 && entry.length() > 0;
            let preallocated = fresh
                && allocation == Allocation::Preallocate
                && preallocate(&file, entry.length());
            if !preallocated && len != entry.length() {
                file.set_len(entry.length())
                    .map_err(|e| Error::io(format!("size {}", path.display()), e))?;
            }
            files.push(Some(StorageFile {
                path,
                file,
                fresh,
                write_lock: Mutex::new(()),
            }));
        }
        Ok(Storage { info, files })
    }

    /// Whether every byte of `piece` lies in pad files or in files that were
    /// created empty by [`Storage::open`]: such a piece cannot hold valid
    /// data, so checking it can be skipped.
    pub fn piece_is_fresh(&self, piece: PieceIndex) -> bool {
        self.info
            .piece_spans(piece)
            .all(|span| match &self.files[span.file] {
                Some(f) => f.fresh,
                None => true,
            })
    }

    /// Reads `buf.len()` bytes at byte `offset` of `piece`; pad files read
    /// as zeros.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read(&self, piece: PieceIndex, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        let geometry = self.info.geometry();
        let start = geometry.piece_offset(piece) + u64::from(offset);
        let mut pos = 0usize;
        for span in self.info.file_spans(start, buf.len() as u64) {
            let out = &mut buf[pos..pos + span.len as usize];
            match &self.files[span.file] {
                Some(f) => read_at(&f.file, out, span.offset)
                    .map_err(|e| Error::io(format!("read {}", f.path.display()), e))?,
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

    /// Writes a whole piece given as consecutive blocks; bytes that fall in
    /// pad files are skipped.
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
            if let Some(f) = &self.files[span.file] {
                let _guard = f.write_lock.lock().unwrap_or_else(|e| e.into_inner());
                write_all_vectored_at(&f.file, &parts, span.offset)
                    .map_err(|e| Error::io(format!("write {}", f.path.display()), e))?;
            }
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
        for span in self.info.file_spans(start, buf.len() as u64) {
            let out = &mut buf[pos..pos + span.len as usize];
            match &self.files[span.file] {
                Some(f) => match read_at_nowait(&f.file, out, span.offset) {
                    Ok(true) => {}
                    Ok(false) => return Ok(false),
                    Err(e) => return Err(Error::io(format!("read {}", f.path.display()), e)),
                },
                None => out.fill(0),
            }
            pos += span.len as usize;
        }
        Ok(pos == buf.len())
    }

    /// Flushes written data of every file to the disk (`fsync`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn sync(&self) -> Result<(), Error> {
        for f in self.files.iter().flatten() {
            f.file
                .sync_data()
                .map_err(|e| Error::io(format!("sync {}", f.path.display()), e))?;
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
        storage.sync().unwrap();
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
        let (_, info) = content(dir.path(), TorrentVersion::V1);
        let file = info.files().iter().find(|f| f.length() == 100_000).unwrap();
        let allocated = |root: &Path| {
            let m = std::fs::metadata(file.path().to_path_buf_under(root)).unwrap();
            assert_eq!(m.len(), 100_000, "final length either way");
            m.blocks() * 512
        };
        let full = dir.path().join("full");
        Storage::open_with(Arc::clone(&info), &full, Allocation::Preallocate).unwrap();
        let sparse = dir.path().join("sparse");
        Storage::open_with(Arc::clone(&info), &sparse, Allocation::Sparse).unwrap();
        assert_eq!(allocated(&sparse), 0);
        // tmpfs and ext4/xfs/btrfs support fallocate; others fall back.
        let f = allocated(&full);
        assert!(f == 0 || f >= 100_000, "{f} bytes allocated");
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
