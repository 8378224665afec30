//! The content of a new torrent: its files, their paths and lengths, from
//! a list or from a walk of the disk.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::Error;

/// One file of the content: its path inside the torrent (one or more
/// components, raw bytes, usually UTF-8), its length and whether it is
/// executable (BEP 47 `attr` `x`, written in v2 and hybrid torrents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentFile {
    pub(super) path: Vec<Bytes>,
    pub(super) length: u64,
    pub(super) executable: bool,
}

impl ContentFile {
    /// A file at `path` (components) of `length` bytes.
    pub fn new<C: Into<Bytes>>(path: impl IntoIterator<Item = C>, length: u64) -> Self {
        ContentFile {
            path: path.into_iter().map(Into::into).collect(),
            length,
            executable: false,
        }
    }

    /// Marks the file executable.
    #[must_use]
    pub fn executable(mut self, yes: bool) -> Self {
        self.executable = yes;
        self
    }

    /// The path components.
    pub fn path(&self) -> &[Bytes] {
        &self.path
    }

    /// The length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Whether the file is executable.
    pub fn is_executable(&self) -> bool {
        self.executable
    }
}

fn check_component(c: &[u8]) -> Result<(), Error> {
    let bad = if c.is_empty() {
        Some("an empty path component")
    } else if c == b"." || c == b".." {
        Some("a `.` or `..` path component")
    } else if c.contains(&b'/') || c.contains(&0) {
        Some("a path component with `/` or NUL")
    } else {
        None
    };
    match bad {
        Some(reason) => Err(Error::InvalidCreateInput {
            reason: format!("{reason}: {:?}", String::from_utf8_lossy(c)),
        }),
        None => Ok(()),
    }
}

/// What a torrent is made of: a name and either one file or a list of
/// files. Invariants: the name and every path component are non-empty,
/// not `.` or `..`, without `/` or NUL; paths are unique and no file is
/// also a directory of another; there is at least one byte of data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub(super) name: Bytes,
    pub(super) single: bool,
    pub(super) files: Vec<ContentFile>,
    /// Where the files are on disk, for [`TorrentBuilder::build_from_path`].
    pub(super) disk: Option<Vec<PathBuf>>,
}

impl Content {
    /// A single-file torrent: `name` is the file name.
    ///
    /// # Errors
    /// [`Error::InvalidCreateInput`] for an invalid name or zero length.
    pub fn single_file(name: impl Into<Bytes>, length: u64) -> Result<Self, Error> {
        Self::single_file_with(ContentFile::new([name.into()], length))
    }

    fn single_file_with(file: ContentFile) -> Result<Self, Error> {
        let name = file.path[0].clone();
        let c = Content {
            name,
            single: true,
            files: vec![file],
            disk: None,
        };
        c.check()?;
        Ok(c)
    }

    /// A multi-file torrent: `name` is the top directory, each file's path
    /// is relative to it. The order given does not matter: files are
    /// sorted the way each torrent version needs.
    ///
    /// # Errors
    /// [`Error::InvalidCreateInput`] when the invariants of [`Content`]
    /// do not hold.
    pub fn multi_file(name: impl Into<Bytes>, files: Vec<ContentFile>) -> Result<Self, Error> {
        let c = Content {
            name: name.into(),
            single: false,
            files,
            disk: None,
        };
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), Error> {
        check_component(&self.name)?;
        if self.files.is_empty() {
            return Err(Error::InvalidCreateInput {
                reason: "no files".into(),
            });
        }
        for f in &self.files {
            if f.path.is_empty() {
                return Err(Error::InvalidCreateInput {
                    reason: "a file with an empty path".into(),
                });
            }
            f.path.iter().try_for_each(|c| check_component(c))?;
        }
        if self.total_length() == 0 {
            return Err(Error::InvalidCreateInput {
                reason: "no data: every file is empty".into(),
            });
        }
        let mut paths: Vec<&[Bytes]> = self.files.iter().map(|f| &f.path[..]).collect();
        paths.sort();
        for w in paths.windows(2) {
            if w[1].starts_with(w[0]) {
                return Err(Error::InvalidCreateInput {
                    reason: format!(
                        "path {:?} is given twice or is both a file and a directory",
                        join(w[0])
                    ),
                });
            }
        }
        Ok(())
    }

    /// Scans a file or a directory: a file gives a single-file torrent, a
    /// directory a multi-file one with every regular file below it
    /// (symbolic links followed, hidden files included, empty directories
    /// and special files left out). The name is the last component of
    /// `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when something cannot be read;
    /// [`Error::InvalidCreateInput`] when the result breaks the invariants
    /// of [`Content`] (for example a directory with no data).
    pub fn scan(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
        let name = match path.file_name() {
            Some(n) => os_bytes(n),
            None => {
                let canon = path.canonicalize().map_err(|e| io_error(path, &e))?;
                canon
                    .file_name()
                    .map(os_bytes)
                    .ok_or_else(|| Error::InvalidCreateInput {
                        reason: format!("{} has no name", path.display()),
                    })?
            }
        };
        if meta.is_file() {
            let file = ContentFile::new([name], meta.len()).executable(is_executable(&meta));
            let mut c = Self::single_file_with(file)?;
            c.disk = Some(vec![path.to_path_buf()]);
            return Ok(c);
        }
        if !meta.is_dir() {
            return Err(Error::InvalidCreateInput {
                reason: format!("{} is neither a file nor a directory", path.display()),
            });
        }
        let mut files = Vec::new();
        let mut disk = Vec::new();
        walk(path, &mut Vec::new(), &mut files, &mut disk, 0)?;
        let mut c = Self::multi_file(name, files)?;
        c.disk = Some(disk);
        Ok(c)
    }

    /// The torrent's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Whether this is a single-file torrent.
    pub fn is_single_file(&self) -> bool {
        self.single
    }

    /// The files, in the order given (or found when scanning).
    pub fn files(&self) -> &[ContentFile] {
        &self.files
    }

    /// The sum of the file lengths in bytes.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }
}

const MAX_SCAN_DEPTH: usize = 256;

fn walk(
    dir: &Path,
    prefix: &mut Vec<Bytes>,
    files: &mut Vec<ContentFile>,
    disk: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_SCAN_DEPTH {
        return Err(Error::InvalidCreateInput {
            reason: format!(
                "directories nested deeper than {MAX_SCAN_DEPTH} (a symbolic link loop?) at {}",
                dir.display()
            ),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let p = entry.path();
        // Follow symbolic links, like mktorrent and libtorrent.
        let meta = std::fs::metadata(&p).map_err(|e| io_error(&p, &e))?;
        prefix.push(os_bytes(&entry.file_name()));
        if meta.is_dir() {
            walk(&p, prefix, files, disk, depth + 1)?;
        } else if meta.is_file() {
            files.push(
                ContentFile::new(prefix.clone(), meta.len()).executable(is_executable(&meta)),
            );
            disk.push(p);
        }
        prefix.pop();
    }
    Ok(())
}

fn os_bytes(s: &std::ffi::OsStr) -> Bytes {
    Bytes::copy_from_slice(s.as_encoded_bytes())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

pub(super) fn io_error(path: &Path, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

pub(super) fn join(path: &[Bytes]) -> String {
    path.iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
