//! Files on disk: created at their final sizes, read and written with
//! positioned IO (`pread`/`pwrite`), pad files never touched.
//!
//! Storage is synchronous; the engine calls it from blocking threads, never
//! from async tasks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use seedbed_metainfo::{Info, PieceIndex};

use crate::error::Error;

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
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
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
fn write_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_write(buf, offset)?;
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

impl Storage {
    /// Opens (creating where missing) every non-pad file of `info` under
    /// `root`, with folders, at its final length. Existing data is kept;
    /// a file of the wrong length is extended or cut to it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when a folder or file cannot be
    /// created, opened or sized.
    pub fn open(info: Arc<Info>, root: &Path) -> Result<Storage, Error> {
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
            if len != entry.length() {
                file.set_len(entry.length())
                    .map_err(|e| Error::io(format!("size {}", path.display()), e))?;
            }
            files.push(Some(StorageFile { path, file, fresh }));
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
        for span in self.info.file_spans(start, len) {
            let mut remaining = span.len as usize;
            let mut file_off = span.offset;
            while remaining > 0 {
                let data = blocks.get(block).ok_or_else(|| {
                    Error::io(
                        format!("write piece {piece}: blocks shorter than the piece"),
                        io::ErrorKind::InvalidInput.into(),
                    )
                })?;
                let take = remaining.min(data.len() - in_block);
                if let Some(f) = &self.files[span.file] {
                    write_at(&f.file, &data[in_block..in_block + take], file_off)
                        .map_err(|e| Error::io(format!("write {}", f.path.display()), e))?;
                }
                remaining -= take;
                file_off += take as u64;
                in_block += take;
                if in_block == data.len() {
                    block += 1;
                    in_block = 0;
                }
            }
        }
        Ok(())
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
