//! Creating torrents: v1 (BEP 3), v2 (BEP 52) and hybrid, from a file, a
//! directory, or any list of files with readers.
//!
//! The `info` dictionary is byte-identical to the one of an independent
//! creator for the same content and piece length: mktorrent for v1 (files
//! sorted by their full path, no attributes) and libtorrent for v2 and
//! hybrid (files sorted by path components, `attr` `x` on executable files,
//! and in hybrid torrents a BEP 47 pad file `.pad/<length>` with `attr` `p`
//! after every file that does not end on a piece boundary, the last one
//! included, except for single-file torrents).
//!
//! Hashing runs on all cores ([`TorrentBuilder::threads`]) and reports
//! progress to a callback on the calling thread. From disk
//! ([`TorrentBuilder::build_from_path`], Unix) every hashing thread reads
//! its own batches of pieces with positional reads; from readers
//! ([`TorrentBuilder::build`]) the calling thread reads and the workers
//! hash. Without a creation date
//! the output depends only on the content and the options.
//!
//! ```
//! use seedbed_metainfo::{Content, ContentFile, TorrentBuilder, TorrentVersion};
//!
//! let content = Content::multi_file(
//!     "photos",
//!     vec![
//!         ContentFile::new(["a.jpg"], 40_000),
//!         ContentFile::new(["raw", "b.nef"], 5),
//!     ],
//! )?;
//! let data: [&[u8]; 2] = [&[1; 40_000], b"hello"];
//! let created = TorrentBuilder::new(TorrentVersion::Hybrid)
//!     .piece_length(32 * 1024)
//!     .tracker("udp://tracker.example:6969/announce")
//!     .build(&content, |i| Ok(data[i]), |_hashed, _total| {})?;
//! assert!(created.info_hash_v1().is_some() && created.info_hash_v2().is_some());
//! println!("{}", created.magnet());
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```

pub mod merkle;

use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

use bytes::Bytes;
use seedbed_bencode::{Encode, OwnedValue};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::id::{InfoHash, InfoHashV2};
use crate::magnet::Magnet;
use crate::torrent::Torrent;
use merkle::Hash256;

/// Which kind of torrent to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TorrentVersion {
    /// BEP 3 only: `pieces` over the concatenated files.
    V1,
    /// BEP 52 only: `file tree`, `piece layers`.
    V2,
    /// Both, with BEP 47 pad files so that v1 pieces line up with files
    /// (BEP 52 "Upgrade path"). The default, as in libtorrent.
    #[default]
    Hybrid,
}

/// The smallest piece length accepted, 16 KiB (BEP 52).
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// The largest piece length accepted, 256 MiB (mktorrent's limit).
pub const MAX_PIECE_LENGTH: u32 = 256 * 1024 * 1024;

/// The automatic piece length for `total` bytes of content, libtorrent's
/// rule: 16 KiB, doubled for each of these sizes the content exceeds:
/// 2.56 MiB × 4ⁱ (i = 0…9, rounded as libtorrent rounds them), so at most
/// 16 MiB. This keeps a torrent at roughly 160 to 1300 pieces below
/// 650 GiB.
pub fn auto_piece_length(total: u64) -> u32 {
    const STEPS: [u64; 10] = [
        2_684_355,
        10_737_418,
        42_949_673,
        171_798_692,
        687_194_767,
        2_748_779_069,
        10_995_116_278,
        43_980_465_111,
        175_921_860_444,
        703_687_441_777,
    ];
    let doublings = STEPS.iter().filter(|&&s| total > s).count();
    MIN_PIECE_LENGTH << doublings
}

/// One file of the content: its path inside the torrent (one or more
/// components, raw bytes, usually UTF-8), its length and whether it is
/// executable (BEP 47 `attr` `x`, written in v2 and hybrid torrents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentFile {
    path: Vec<Bytes>,
    length: u64,
    executable: bool,
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
    name: Bytes,
    single: bool,
    files: Vec<ContentFile>,
    /// Where the files are on disk, for [`TorrentBuilder::build_from_path`].
    disk: Option<Vec<PathBuf>>,
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

fn io_error(path: &Path, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

fn join(path: &[Bytes]) -> String {
    path.iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Options for a new torrent; [`build`](TorrentBuilder::build) or
/// [`build_from_path`](TorrentBuilder::build_from_path) hash the content
/// and write the `.torrent`.
#[derive(Clone, Debug, Default)]
pub struct TorrentBuilder {
    version: TorrentVersion,
    piece_length: Option<u32>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    private: bool,
    source: Option<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    threads: Option<usize>,
}

impl TorrentBuilder {
    /// A builder for this kind of torrent, everything else unset.
    pub fn new(version: TorrentVersion) -> Self {
        TorrentBuilder {
            version,
            ..Default::default()
        }
    }

    /// The piece length in bytes: a power of two from [`MIN_PIECE_LENGTH`]
    /// to [`MAX_PIECE_LENGTH`]. Unset: [`auto_piece_length`].
    #[must_use]
    pub fn piece_length(mut self, bytes: u32) -> Self {
        self.piece_length = Some(bytes);
        self
    }

    /// Adds a tracker as a new BEP 12 tier of its own.
    #[must_use]
    pub fn tracker(mut self, url: impl Into<String>) -> Self {
        self.trackers.push(vec![url.into()]);
        self
    }

    /// Adds a BEP 12 tier of trackers (ignored if empty).
    #[must_use]
    pub fn tracker_tier<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        let tier: Vec<String> = urls.into_iter().map(Into::into).collect();
        if !tier.is_empty() {
            self.trackers.push(tier);
        }
        self
    }

    /// Adds a web seed (BEP 19 `url-list`).
    #[must_use]
    pub fn web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets the BEP 27 private flag (`private` = 1 in `info`).
    #[must_use]
    pub fn private(mut self, yes: bool) -> Self {
        self.private = yes;
        self
    }

    /// Sets `source` in `info` (as mktorrent's `-s`; changes the info hash).
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the `comment`.
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }

    /// Sets `created by` (default `seedbed/<version>`).
    #[must_use]
    pub fn created_by(mut self, text: impl Into<String>) -> Self {
        self.created_by = Some(text.into());
        self
    }

    /// Sets `creation date`, seconds since the Unix epoch. Left unset, the
    /// key is not written and the output is deterministic.
    #[must_use]
    pub fn creation_date(mut self, unix_seconds: i64) -> Self {
        self.creation_date = Some(unix_seconds);
        self
    }

    /// Hashing threads (default: the available parallelism).
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Scans `path` ([`Content::scan`]) and hashes the files from disk.
    /// `progress(bytes_hashed, total_bytes)` is called on this thread as
    /// hashing advances.
    ///
    /// # Errors
    /// See [`Content::scan`] and [`TorrentBuilder::build`].
    pub fn build_from_path(
        &self,
        path: impl AsRef<Path>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        let content = Content::scan(path)?;
        let disk = content.disk.clone().unwrap_or_default();
        #[cfg(unix)]
        {
            let (plan, threads) = self.plan(&content)?;
            let hashes = disk::hash_files(&plan, &content, &disk, threads, progress)?;
            Ok(self.assemble(&content, &plan, hashes))
        }
        #[cfg(not(unix))]
        self.build_inner(
            &content,
            |i| {
                let p = &disk[i];
                std::fs::File::open(p).map_err(|e| io_error(p, &e))
            },
            progress,
        )
    }

    /// Hashes `content`, reading file `i` (index into
    /// [`Content::files`]) from `open(i)`, and writes the torrent.
    /// `progress(bytes_hashed, total_bytes)` is called on this thread.
    ///
    /// # Errors
    /// [`Error::InvalidPieceLength`] for a bad piece length;
    /// [`Error::Io`] when opening or reading fails;
    /// [`Error::InvalidCreateInput`] when a reader gives fewer or more
    /// bytes than the file's length.
    pub fn build<R: Read>(
        &self,
        content: &Content,
        mut open: impl FnMut(usize) -> io::Result<R>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        self.build_inner(
            content,
            |i| open(i).map_err(|e| io_error(Path::new(&join(&content.files[i].path)), &e)),
            progress,
        )
    }

    fn build_inner<R: Read>(
        &self,
        content: &Content,
        open: impl FnMut(usize) -> Result<R, Error>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        let (plan, threads) = self.plan(content)?;
        let hashes = hash_content(&plan, content, threads, open, progress)?;
        Ok(self.assemble(content, &plan, hashes))
    }

    /// The piece plan and the number of hashing threads.
    fn plan(&self, content: &Content) -> Result<(Plan, usize), Error> {
        let piece_length = match self.piece_length {
            Some(pl) => {
                if !pl.is_power_of_two() || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&pl) {
                    return Err(Error::InvalidPieceLength {
                        piece_length: i64::from(pl),
                        reason: "must be a power of two from 16 KiB to 256 MiB",
                    });
                }
                pl
            }
            None => auto_piece_length(content.total_length()),
        };
        let plan = Plan::new(content, self.version, piece_length);
        let threads = self
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        Ok((plan, threads))
    }

    fn assemble(&self, content: &Content, plan: &Plan, hashes: Hashes) -> CreatedTorrent {
        let version = plan.version;
        let mut info = OwnedValue::dict();
        info.insert("name", content.name.clone());
        info.insert("piece length", i64::from(plan.piece_length));
        if self.private {
            info.insert("private", 1);
        }
        if let Some(s) = &self.source {
            info.insert("source", s.clone());
        }
        if version != TorrentVersion::V2 {
            info.insert("pieces", hashes.v1.concat());
            if content.single {
                let f = &content.files[0];
                info.insert("length", f.length as i64);
                if f.executable && version == TorrentVersion::Hybrid {
                    // libtorrent: a single file's attributes sit in `info`.
                    info.insert("attr", "x");
                }
            } else {
                let list = plan
                    .v1_entries
                    .iter()
                    .map(|e| match *e {
                        V1Entry::File(i) => {
                            let f = &content.files[i];
                            let mut d = OwnedValue::dict();
                            d.insert("length", f.length as i64);
                            d.insert("path", path_list(&f.path));
                            if f.executable && version == TorrentVersion::Hybrid {
                                d.insert("attr", "x");
                            }
                            d
                        }
                        V1Entry::Pad(len) => {
                            let mut d = OwnedValue::dict();
                            d.insert("attr", "p");
                            d.insert("length", len as i64);
                            d.insert(
                                "path",
                                path_list(&[Bytes::from_static(b".pad"), len.to_string().into()]),
                            );
                            d
                        }
                    })
                    .collect();
                info.insert("files", OwnedValue::List(list));
            }
        }
        let mut piece_layers = OwnedValue::dict();
        if version != TorrentVersion::V1 {
            info.insert("meta version", 2);
            let mut tree = OwnedValue::dict();
            for (i, f) in content.files.iter().enumerate() {
                let file_hashes = &hashes.v2_files[i];
                let mut leaf = OwnedValue::dict();
                leaf.insert("length", f.length as i64);
                if let Some(root) = file_hashes.root {
                    leaf.insert("pieces root", root.to_vec());
                    if !file_hashes.piece_layer.is_empty() {
                        piece_layers.insert(root.to_vec(), file_hashes.piece_layer.concat());
                    }
                }
                if f.executable {
                    leaf.insert("attr", "x");
                }
                insert_tree(&mut tree, &f.path, leaf);
            }
            info.insert("file tree", tree);
        }

        let mut root = OwnedValue::dict();
        let mut all_trackers = self.trackers.iter().flatten();
        if let Some(first) = all_trackers.next() {
            root.insert("announce", first.clone());
            if all_trackers.next().is_some() {
                let tiers = self
                    .trackers
                    .iter()
                    .map(|t| OwnedValue::List(t.iter().map(|u| u.clone().into()).collect()))
                    .collect();
                root.insert("announce-list", OwnedValue::List(tiers));
            }
        }
        if let Some(c) = &self.comment {
            root.insert("comment", c.clone());
        }
        root.insert(
            "created by",
            self.created_by
                .clone()
                .unwrap_or_else(|| concat!("seedbed/", env!("CARGO_PKG_VERSION")).to_owned()),
        );
        if let Some(d) = self.creation_date {
            root.insert("creation date", d);
        }
        let info_bytes = info.to_bencode();
        root.insert("info", info);
        if version != TorrentVersion::V1 {
            root.insert("piece layers", piece_layers);
        }
        match self.web_seeds.as_slice() {
            [] => {}
            [one] => {
                root.insert("url-list", one.clone());
            }
            many => {
                root.insert(
                    "url-list",
                    OwnedValue::List(many.iter().map(|u| u.clone().into()).collect()),
                );
            }
        }
        let bytes = root.to_bencode();
        let start = info_offset(&root);
        assert_eq!(
            bytes.get(start..start + info_bytes.len()),
            Some(&info_bytes[..]),
            "info offset"
        );
        let v1 =
            (version != TorrentVersion::V2).then(|| InfoHash(Sha1::digest(&info_bytes).into()));
        let v2 =
            (version != TorrentVersion::V1).then(|| InfoHashV2(Sha256::digest(&info_bytes).into()));
        CreatedTorrent {
            info: start..start + info_bytes.len(),
            bytes,
            v1,
            v2,
            name: String::from_utf8_lossy(&content.name).into_owned(),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            web_seeds: self.web_seeds.clone(),
        }
    }
}

/// Where the encoded `info` value starts in the canonical encoding of
/// `root`: after `d`, every entry whose key sorts before `info`, and the
/// key `4:info` itself.
fn info_offset(root: &OwnedValue) -> usize {
    let OwnedValue::Dict(map) = root else {
        unreachable!("the torrent root is a dict")
    };
    let before: usize = map
        .range(..Bytes::from_static(b"info"))
        .map(|(k, v)| OwnedValue::Bytes(k.clone()).encoded_len() + v.encoded_len())
        .sum();
    1 + before + b"4:info".len()
}

fn path_list(path: &[Bytes]) -> OwnedValue {
    OwnedValue::List(path.iter().map(|c| OwnedValue::Bytes(c.clone())).collect())
}

fn insert_tree(tree: &mut OwnedValue, path: &[Bytes], leaf: OwnedValue) {
    let OwnedValue::Dict(map) = tree else {
        unreachable!("file tree nodes are dicts")
    };
    let node = map.entry(path[0].clone()).or_insert_with(OwnedValue::dict);
    if path.len() == 1 {
        node.insert("", leaf);
    } else {
        insert_tree(node, &path[1..], leaf);
    }
}

/// A created torrent: the `.torrent` bytes, where its `info` is, and its
/// info hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTorrent {
    bytes: Vec<u8>,
    info: Range<usize>,
    v1: Option<InfoHash>,
    v2: Option<InfoHashV2>,
    name: String,
    trackers: Vec<String>,
    web_seeds: Vec<String>,
}

impl CreatedTorrent {
    /// The whole `.torrent` file (canonical bencode).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole `.torrent` file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bencoded `info` dictionary (what the info hashes are of, and
    /// what ut_metadata serves).
    pub fn info_bytes(&self) -> &[u8] {
        &self.bytes[self.info.clone()]
    }

    /// SHA-1 of the info dictionary, for v1 and hybrid torrents.
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.v1
    }

    /// SHA-256 of the info dictionary, for v2 and hybrid torrents.
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.v2
    }

    /// Parses the created bytes with the reader, [`Torrent::from_bytes`].
    ///
    /// # Errors
    /// None expected: the reader accepts what the creator writes.
    pub fn to_torrent(&self) -> Result<Torrent, Error> {
        Torrent::from_bytes(self.bytes.clone())
    }

    /// A magnet link with the info hashes, name, trackers and web seeds.
    pub fn magnet(&self) -> Magnet {
        let mut m = Magnet::from_hashes(self.v1, self.v2)
            .expect("a created torrent has an info hash")
            .with_name(self.name.clone())
            .with_trackers(self.trackers.iter().cloned());
        for w in &self.web_seeds {
            m = m.with_web_seed(w.clone());
        }
        m
    }
}

// ---------------------------------------------------------------------------
// Planning: the order of files, pad files, and the pieces to hash.

#[derive(Clone, Copy, Debug)]
enum V1Entry {
    File(usize),
    Pad(u64),
}

/// One piece to hash: `len` bytes of data, read from the files in
/// `Plan::read_order` in sequence. For v1, the hash covers `len` bytes plus
/// `v1_pad` zero bytes. For v2, the piece lies inside file `v2_file`.
#[derive(Clone, Copy, Debug)]
struct PieceSpec {
    len: u32,
    v1_pad: u32,
    v2_file: Option<usize>,
    /// The file has a single piece: its v2 root is the tree over the
    /// piece's leaves padded only to a power of two.
    v2_single: bool,
}

#[derive(Debug)]
struct Plan {
    version: TorrentVersion,
    piece_length: u32,
    /// Content file indices, in the order their bytes are read.
    read_order: Vec<usize>,
    v1_entries: Vec<V1Entry>,
    pieces: Vec<PieceSpec>,
}

impl Plan {
    fn new(content: &Content, version: TorrentVersion, piece_length: u32) -> Plan {
        let files = &content.files;
        let mut order: Vec<usize> = (0..files.len()).collect();
        match version {
            // mktorrent: by the full path as one string.
            TorrentVersion::V1 => order.sort_by_key(|&i| {
                let mut p = Vec::new();
                for (n, c) in files[i].path.iter().enumerate() {
                    if n > 0 {
                        p.push(b'/');
                    }
                    p.extend_from_slice(c);
                }
                p
            }),
            // libtorrent: by path components (the file tree's order).
            _ => order.sort_by(|&a, &b| files[a].path.cmp(&files[b].path)),
        }
        let pl = u64::from(piece_length);
        let mut v1_entries = Vec::new();
        let mut pieces = Vec::new();
        match version {
            TorrentVersion::V1 => {
                v1_entries.extend(order.iter().map(|&i| V1Entry::File(i)));
                let total = content.total_length();
                let mut off = 0;
                while off < total {
                    let len = (total - off).min(pl);
                    pieces.push(PieceSpec {
                        len: len as u32,
                        v1_pad: 0,
                        v2_file: None,
                        v2_single: false,
                    });
                    off += len;
                }
            }
            TorrentVersion::V2 | TorrentVersion::Hybrid => {
                let hybrid = version == TorrentVersion::Hybrid;
                for &i in &order {
                    v1_entries.push(V1Entry::File(i));
                    let length = files[i].length;
                    let tail = length % pl;
                    let pad = if tail == 0 || content.single {
                        0
                    } else {
                        pl - tail
                    };
                    if hybrid && pad > 0 {
                        v1_entries.push(V1Entry::Pad(pad));
                    }
                    let n = length.div_ceil(pl);
                    for p in 0..n {
                        let len = (length - p * pl).min(pl);
                        pieces.push(PieceSpec {
                            len: len as u32,
                            v1_pad: if hybrid && p + 1 == n { pad as u32 } else { 0 },
                            v2_file: Some(i),
                            v2_single: n == 1,
                        });
                    }
                }
            }
        }
        Plan {
            version,
            piece_length,
            read_order: order,
            v1_entries,
            pieces,
        }
    }
}

// ---------------------------------------------------------------------------
// Hashing: this thread reads, worker threads hash batches of pieces.

struct Hashes {
    v1: Vec<[u8; 20]>,
    /// Indexed like `Content::files`.
    v2_files: Vec<merkle::FileHashes>,
}

struct Job {
    first: usize,
    count: usize,
    buf: Vec<u8>,
}

struct Done {
    first: usize,
    v1: Vec<[u8; 20]>,
    v2: Vec<Hash256>,
    bytes: u64,
    buf: Vec<u8>,
}

/// Pieces per job: about 1 MiB of data, so that small pieces do not cost a
/// channel message each.
fn batch_size(piece_length: u32) -> usize {
    ((1 << 20) / piece_length as usize).max(1)
}

fn hash_job(plan: &Plan, first: usize, count: usize, buf: &[u8]) -> (Vec<[u8; 20]>, Vec<Hash256>) {
    const ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];
    let want_v1 = plan.version != TorrentVersion::V2;
    let want_v2 = plan.version != TorrentVersion::V1;
    let bpp = plan.piece_length as usize / merkle::BLOCK_SIZE;
    let mut v1 = Vec::with_capacity(if want_v1 { count } else { 0 });
    let mut v2 = Vec::with_capacity(if want_v2 { count } else { 0 });
    let mut off = 0;
    for spec in &plan.pieces[first..first + count] {
        let data = &buf[off..off + spec.len as usize];
        off += spec.len as usize;
        if want_v1 {
            let mut h = Sha1::new();
            h.update(data);
            let mut pad = spec.v1_pad as usize;
            while pad > 0 {
                let n = pad.min(ZEROS.len());
                h.update(&ZEROS[..n]);
                pad -= n;
            }
            v1.push(h.finalize().into());
        }
        if want_v2 {
            let leaves = merkle::block_hashes(data);
            let width = if spec.v2_single { 1 } else { bpp };
            v2.push(merkle::merkle_root(&leaves, width, &[0; 32]));
        }
    }
    (v1, v2)
}

fn hash_content<R: Read>(
    plan: &Plan,
    content: &Content,
    threads: usize,
    mut open: impl FnMut(usize) -> Result<R, Error>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Hashes, Error> {
    let total = content.total_length();
    let batch = batch_size(plan.piece_length);
    let n_pieces = plan.pieces.len();
    let mut v1 = vec![
        [0u8; 20];
        if plan.version == TorrentVersion::V2 {
            0
        } else {
            n_pieces
        }
    ];
    let mut v2 = vec![
        [0u8; 32];
        if plan.version == TorrentVersion::V1 {
            0
        } else {
            n_pieces
        }
    ];
    let mut hashed = 0u64;
    progress(0, total);

    let mut reader = FileReader {
        content,
        order: &plan.read_order,
        next: 0,
        current: None,
    };
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|scope| -> Result<(), Error> {
        for _ in 0..threads {
            let job_rx = &job_rx;
            let done_tx = done_tx.clone();
            scope.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let (h1, h2) = hash_job(plan, job.first, job.count, &job.buf);
                let bytes = job.buf.len() as u64;
                let done = Done {
                    first: job.first,
                    v1: h1,
                    v2: h2,
                    bytes,
                    buf: job.buf,
                };
                if done_tx.send(done).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        let mut free: Vec<Vec<u8>> = Vec::new();
        let mut buffers = 0;
        let max_buffers = threads * 2 + 1;
        let mut in_flight = 0;
        let mut collect = |d: Done, free: &mut Vec<Vec<u8>>| {
            for (k, h) in d.v1.into_iter().enumerate() {
                v1[d.first + k] = h;
            }
            for (k, h) in d.v2.into_iter().enumerate() {
                v2[d.first + k] = h;
            }
            hashed += d.bytes;
            progress(hashed, total);
            free.push(d.buf);
        };
        let mut first = 0;
        let result = (|| {
            while first < n_pieces {
                let count = batch.min(n_pieces - first);
                let len: usize = plan.pieces[first..first + count]
                    .iter()
                    .map(|p| p.len as usize)
                    .sum();
                let mut buf = match free.pop() {
                    Some(b) => b,
                    None if buffers < max_buffers => {
                        buffers += 1;
                        Vec::new()
                    }
                    None => {
                        let d = done_rx.recv().expect("workers are alive");
                        in_flight -= 1;
                        collect(d, &mut free);
                        free.pop().expect("a buffer came back")
                    }
                };
                buf.resize(len, 0);
                reader.fill(&mut buf, &mut open)?;
                job_tx
                    .send(Job { first, count, buf })
                    .expect("workers are alive");
                in_flight += 1;
                first += count;
                while let Ok(d) = done_rx.try_recv() {
                    in_flight -= 1;
                    collect(d, &mut free);
                }
            }
            reader.finish()
        })();
        drop(job_tx);
        while in_flight > 0 {
            let Ok(d) = done_rx.recv() else { break };
            in_flight -= 1;
            collect(d, &mut free);
        }
        result
    })?;

    Ok(finish_hashes(plan, content, v1, &v2))
}

/// Groups the per-piece v2 hashes by file into roots and piece layers.
fn finish_hashes(plan: &Plan, content: &Content, v1: Vec<[u8; 20]>, v2: &[Hash256]) -> Hashes {
    let v2_files = if plan.version == TorrentVersion::V1 {
        Vec::new()
    } else {
        let mut layers: Vec<Vec<Hash256>> = vec![Vec::new(); content.files.len()];
        for (spec, h) in plan.pieces.iter().zip(v2) {
            if let Some(f) = spec.v2_file {
                layers[f].push(*h);
            }
        }
        content
            .files
            .iter()
            .zip(layers)
            .map(|(f, layer)| file_hashes(f.length, layer, plan.piece_length))
            .collect()
    };
    Hashes { v1, v2_files }
}

fn file_hashes(length: u64, layer: Vec<Hash256>, piece_length: u32) -> merkle::FileHashes {
    match layer.len() {
        0 => merkle::FileHashes {
            length,
            root: None,
            piece_layer: Vec::new(),
        },
        // A single piece's hash is already the file's root.
        1 => merkle::FileHashes {
            length,
            root: Some(layer[0]),
            piece_layer: Vec::new(),
        },
        _ => merkle::FileHashes {
            length,
            root: Some(
                merkle::root_from_piece_layer(&layer, piece_length).expect("piece length checked"),
            ),
            piece_layer: layer,
        },
    }
}

/// Reads the files' bytes in plan order, checking each file has exactly
/// its declared length.
struct FileReader<'c, R> {
    content: &'c Content,
    order: &'c [usize],
    next: usize,
    /// (file index, reader, bytes left)
    current: Option<(usize, R, u64)>,
}

impl<R: Read> FileReader<'_, R> {
    fn fill(
        &mut self,
        mut buf: &mut [u8],
        open: &mut impl FnMut(usize) -> Result<R, Error>,
    ) -> Result<(), Error> {
        while !buf.is_empty() {
            let (i, r, left) = match &mut self.current {
                Some(c) if c.2 > 0 => c,
                _ => {
                    self.finish_current()?;
                    let Some(&i) = self.order.get(self.next) else {
                        unreachable!("the plan reads no more than the content holds")
                    };
                    self.next += 1;
                    let len = self.content.files[i].length;
                    self.current = Some((i, open(i)?, len));
                    continue;
                }
            };
            let want = (*left).min(buf.len() as u64) as usize;
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::InvalidCreateInput {
                        reason: format!(
                            "{} is shorter than its length {} (changed while hashing?)",
                            join(&self.content.files[*i].path),
                            self.content.files[*i].length
                        ),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(Path::new(&join(&self.content.files[*i].path)), &e)),
            };
            *left -= n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Checks the current file has no bytes beyond its length.
    fn finish_current(&mut self) -> Result<(), Error> {
        if let Some((i, mut r, 0)) = self.current.take() {
            let mut byte = [0u8; 1];
            loop {
                match r.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => {
                        return Err(Error::InvalidCreateInput {
                            reason: format!(
                                "{} is longer than its length {} (changed while hashing?)",
                                join(&self.content.files[i].path),
                                self.content.files[i].length
                            ),
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(io_error(Path::new(&join(&self.content.files[i].path)), &e))
                    }
                }
            }
        }
        Ok(())
    }

    /// After the last piece: every file must have been read to its end.
    fn finish(&mut self) -> Result<(), Error> {
        self.finish_current()?;
        // Trailing empty files are never opened; that is fine.
        Ok(())
    }
}

/// Hashing files from disk: each worker reads its own batches with
/// positional reads (`pread`), so no thread waits on a single reader.
#[cfg(unix)]
mod disk {
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::{batch_size, finish_hashes, hash_job, io_error, join, Hashes, Plan};
    use crate::create::{Content, TorrentVersion};
    use crate::error::Error;

    struct Done {
        first: usize,
        v1: Vec<[u8; 20]>,
        v2: Vec<super::Hash256>,
        bytes: u64,
    }

    /// Reads `buf.len()` bytes of the content stream (files in plan order,
    /// no pads) starting at `offset`.
    fn read_range(
        content: &Content,
        plan: &Plan,
        disk: &[PathBuf],
        file_starts: &[u64],
        mut offset: u64,
        mut buf: &mut [u8],
    ) -> Result<(), Error> {
        // The last file (in plan order) starting at or before `offset`
        // with data at `offset`.
        let mut k = file_starts.partition_point(|&s| s <= offset) - 1;
        while !buf.is_empty() {
            let i = plan.read_order[k];
            let f = &content.files[i];
            let in_file = offset - file_starts[k];
            if in_file >= f.length {
                k += 1;
                continue;
            }
            let path = &disk[i];
            let file = File::open(path).map_err(|e| io_error(path, &e))?;
            let len = file.metadata().map_err(|e| io_error(path, &e))?.len();
            if len != f.length {
                return Err(Error::InvalidCreateInput {
                    reason: format!(
                        "{} is {len} bytes, not {} (changed while hashing?)",
                        join(&f.path),
                        f.length
                    ),
                });
            }
            let n = (f.length - in_file).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], in_file)
                .map_err(|e| io_error(path, &e))?;
            buf = &mut buf[n..];
            offset += n as u64;
            k += 1;
        }
        Ok(())
    }

    pub(super) fn hash_files(
        plan: &Plan,
        content: &Content,
        disk: &[PathBuf],
        threads: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Hashes, Error> {
        let total = content.total_length();
        let n = plan.pieces.len();
        // Where each file starts in the stream, in plan order.
        let mut file_starts = Vec::with_capacity(plan.read_order.len());
        let mut at = 0;
        for &i in &plan.read_order {
            file_starts.push(at);
            at += content.files[i].length;
        }
        // Jobs: (first piece, piece count, stream offset, bytes).
        let batch = batch_size(plan.piece_length);
        let mut jobs = Vec::with_capacity(n.div_ceil(batch));
        let mut offset = 0u64;
        let mut first = 0;
        while first < n {
            let count = batch.min(n - first);
            let len: u64 = plan.pieces[first..first + count]
                .iter()
                .map(|p| u64::from(p.len))
                .sum();
            jobs.push((first, count, offset, len as usize));
            offset += len;
            first += count;
        }

        let mut v1 = vec![
            [0u8; 20];
            if plan.version == TorrentVersion::V2 {
                0
            } else {
                n
            }
        ];
        let mut v2 = vec![
            [0u8; 32];
            if plan.version == TorrentVersion::V1 {
                0
            } else {
                n
            }
        ];
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<Result<Done, Error>>();
        let mut error = None;
        progress(0, total);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (jobs, next, stop, file_starts) = (&jobs, &next, &stop, &file_starts);
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(first, count, offset, len)) = jobs.get(j) else {
                            return;
                        };
                        buf.resize(len, 0);
                        let read = read_range(content, plan, disk, file_starts, offset, &mut buf);
                        let msg = read.map(|()| {
                            let (v1, v2) = hash_job(plan, first, count, &buf);
                            Done {
                                first,
                                v1,
                                v2,
                                bytes: len as u64,
                            }
                        });
                        let failed = msg.is_err();
                        if tx.send(msg).is_err() || failed {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            let mut hashed = 0;
            for msg in rx {
                match msg {
                    Ok(d) => {
                        // One of the two is empty when the torrent has
                        // only one version.
                        for (k, h) in d.v1.into_iter().enumerate() {
                            v1[d.first + k] = h;
                        }
                        for (k, h) in d.v2.into_iter().enumerate() {
                            v2[d.first + k] = h;
                        }
                        hashed += d.bytes;
                        progress(hashed, total);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        error.get_or_insert(e);
                    }
                }
            }
        });
        match error {
            Some(e) => Err(e),
            None => Ok(finish_hashes(plan, content, v1, &v2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedbed_bencode::decode;

    fn content() -> (Content, Vec<Vec<u8>>) {
        let lens = [70_000usize, 100, 0, 40_000, 16_384, 5, 32_768];
        let names: [&[&str]; 7] = [
            &["big.bin"],
            &["small.txt"],
            &["empty"],
            &["sub", "mid.bin"],
            &["sub", "deeper", "exact16k"],
            &["a", "z"],
            &["B.bin"],
        ];
        let data: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| (i * 7 + k * 13) as u8).collect())
            .collect();
        let files = names
            .iter()
            .zip(lens)
            .map(|(p, n)| ContentFile::new(p.iter().map(|s| Bytes::from(s.to_string())), n as u64))
            .collect();
        (Content::multi_file("d", files).unwrap(), data)
    }

    fn build(v: TorrentVersion, threads: usize) -> CreatedTorrent {
        let (c, data) = content();
        TorrentBuilder::new(v)
            .piece_length(32 * 1024)
            .threads(threads)
            .tracker("http://t/a")
            .build(&c, |i| Ok(&data[i][..]), |_, _| {})
            .unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn disk_reader_matches_generic_reader_and_sees_changes() {
        let (c, data) = content();
        let dir = std::env::temp_dir().join(format!("seedbed-create-unit-{}", std::process::id()));
        let root = dir.join("d");
        // Several jobs per file: a 3 MiB file beside the small ones.
        let mut files = c.files().to_vec();
        let mut data = data;
        files.push(ContentFile::new(
            [Bytes::from_static(b"large.bin")],
            3 << 20,
        ));
        data.push((0..3u32 << 20).map(|i| (i % 251) as u8).collect());
        let c = Content::multi_file("d", files).unwrap();
        for (f, bytes) in c.files().iter().zip(&data) {
            let mut p = root.clone();
            for comp in f.path() {
                p.push(std::str::from_utf8(comp).unwrap());
            }
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        for v in [
            TorrentVersion::V1,
            TorrentVersion::V2,
            TorrentVersion::Hybrid,
        ] {
            let b = TorrentBuilder::new(v).piece_length(16 * 1024).threads(2);
            let mut last = 0;
            let from_disk = b.build_from_path(&root, |done, _| last = done).unwrap();
            assert_eq!(last, c.total_length());
            let scanned = Content::scan(&root).unwrap();
            let disk = scanned.disk.clone().unwrap();
            let generic = b
                .build(&scanned, |i| std::fs::File::open(&disk[i]), |_, _| {})
                .unwrap();
            assert_eq!(from_disk, generic, "{v:?}");
        }
        // A file that changes size after the scan is an error, not a
        // wrong torrent.
        let scanned = Content::scan(&root).unwrap();
        let disk = scanned.disk.clone().unwrap();
        let big = disk.iter().position(|p| p.ends_with("big.bin")).unwrap();
        std::fs::write(&disk[big], [1u8; 10]).unwrap();
        let b = TorrentBuilder::new(TorrentVersion::Hybrid).piece_length(16 * 1024);
        let (plan, threads) = b.plan(&scanned).unwrap();
        let r = disk::hash_files(&plan, &scanned, &disk, threads, |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })));
        std::fs::remove_file(&disk[big]).unwrap();
        let r = disk::hash_files(&plan, &scanned, &disk, threads, |_, _| {});
        assert!(matches!(r, Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn thread_count_does_not_change_output() {
        for v in [
            TorrentVersion::V1,
            TorrentVersion::V2,
            TorrentVersion::Hybrid,
        ] {
            let a = build(v, 1);
            let b = build(v, 3);
            assert_eq!(a, b);
            let doc = decode(a.as_bytes()).unwrap();
            let info = doc.root().as_dict().unwrap().get("info").unwrap();
            assert_eq!(info.raw(), a.info_bytes());
        }
    }

    #[test]
    fn v2_roots_match_streaming_hasher() {
        let (c, data) = content();
        let t = build(TorrentVersion::V2, 2);
        let doc = decode(t.as_bytes()).unwrap();
        let info = doc.root().as_dict().unwrap().get("info").unwrap();
        let tree = info.as_dict().unwrap().get("file tree").unwrap();
        let layers = doc.root().as_dict().unwrap().get("piece layers").unwrap();
        for (f, bytes) in c.files().iter().zip(&data) {
            let mut node = tree;
            for comp in f.path() {
                node = node.as_dict().unwrap().get(comp).unwrap();
            }
            let leaf = node.as_dict().unwrap().get("").unwrap().as_dict().unwrap();
            let mut h = merkle::FileHasher::new(32 * 1024).unwrap();
            h.update(bytes);
            let want = h.finish();
            let root = leaf
                .get("pieces root")
                .map(|v| v.as_bytes().unwrap().to_vec());
            assert_eq!(root, want.root.map(|r| r.to_vec()));
            if !want.piece_layer.is_empty() {
                let layer = layers
                    .as_dict()
                    .unwrap()
                    .get(want.root.unwrap())
                    .unwrap()
                    .as_bytes()
                    .unwrap();
                assert_eq!(layer, want.piece_layer.concat());
                assert!(merkle::verify_piece_layer(
                    layer,
                    f.length(),
                    32 * 1024,
                    &want.root.unwrap()
                ));
            }
        }
    }

    #[test]
    fn progress_reaches_total() {
        let (c, data) = content();
        let mut last = (0, 0);
        let mut calls = 0;
        TorrentBuilder::new(TorrentVersion::Hybrid)
            .piece_length(16 * 1024)
            .build(
                &c,
                |i| Ok(&data[i][..]),
                |done, total| {
                    assert!(done >= last.0 && done <= total);
                    last = (done, total);
                    calls += 1;
                },
            )
            .unwrap();
        assert_eq!(last, (c.total_length(), c.total_length()));
        assert!(calls >= 2);
    }

    #[test]
    fn short_and_long_readers_are_errors() {
        let (c, mut data) = content();
        data[3].pop();
        let r = TorrentBuilder::new(TorrentVersion::V1).build(&c, |i| Ok(&data[i][..]), |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })), "{r:?}");
        data[3].extend([1, 2]);
        let r = TorrentBuilder::new(TorrentVersion::V2).build(&c, |i| Ok(&data[i][..]), |_, _| {});
        assert!(matches!(r, Err(Error::InvalidCreateInput { .. })), "{r:?}");
    }

    #[test]
    fn content_invariants() {
        let f = |p: &[&str]| ContentFile::new(p.iter().map(|s| Bytes::from(s.to_string())), 1);
        assert!(Content::multi_file("x", vec![f(&["a"]), f(&["a", "b"])]).is_err());
        assert!(Content::multi_file("x", vec![f(&["a"]), f(&["a"])]).is_err());
        assert!(Content::multi_file("x", vec![f(&[".."])]).is_err());
        assert!(Content::multi_file("x", vec![f(&["a/b"])]).is_err());
        assert!(Content::multi_file("x", vec![]).is_err());
        assert!(Content::multi_file("", vec![f(&["a"])]).is_err());
        assert!(Content::single_file("x", 0).is_err());
        assert!(Content::multi_file("x", vec![f(&["a", "b"]), f(&["ab"])]).is_ok());
        let r = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(1000)
            .build(
                &Content::single_file("x", 1).unwrap(),
                |_| Ok(&b"a"[..]),
                |_, _| {},
            );
        assert!(matches!(r, Err(Error::InvalidPieceLength { .. })));
    }

    #[test]
    fn auto_piece_length_follows_libtorrent() {
        // Values observed with python3-libtorrent 2.0.8.
        for (size, pl) in [
            (1, 16384),
            (2_684_355, 16384),
            (2_684_356, 32768),
            (10_737_418, 32768),
            (10_737_419, 65536),
            (687_194_768, 524_288),
            (703_687_441_777, 8 << 20),
            (703_687_441_778, 16 << 20),
            (u64::MAX, 16 << 20),
        ] {
            assert_eq!(auto_piece_length(size), pl, "{size}");
        }
    }

    #[test]
    fn single_file_hybrid_has_no_pad_and_magnet_works() {
        let data = vec![9u8; 50_000];
        let c = Content::single_file("one.bin", data.len() as u64).unwrap();
        let t = TorrentBuilder::new(TorrentVersion::Hybrid)
            .piece_length(16 * 1024)
            .tracker("udp://t:1")
            .web_seed("http://w/")
            .private(true)
            .comment("c")
            .creation_date(5)
            .build(&c, |_| Ok(&data[..]), |_, _| {})
            .unwrap();
        let doc = decode(t.as_bytes()).unwrap();
        let info = doc
            .root()
            .as_dict()
            .unwrap()
            .get("info")
            .unwrap()
            .as_dict()
            .unwrap();
        assert_eq!(info.get("length").unwrap().as_int(), Some(50_000));
        assert!(info.get("files").is_none());
        assert_eq!(info.get("private").unwrap().as_int(), Some(1));
        assert_eq!(
            info.get("pieces").unwrap().as_bytes().unwrap().len(),
            4 * 20
        );
        let m = t.magnet();
        assert_eq!(Magnet::from(&t.to_torrent().unwrap()), m);
        assert_eq!(m.info_hash_v1(), t.info_hash_v1());
        assert_eq!(m.info_hash_v2(), t.info_hash_v2());
        assert_eq!(m.name(), Some("one.bin"));
        assert_eq!(m.trackers(), ["udp://t:1"]);
        assert_eq!(m.web_seeds(), ["http://w/"]);
    }
}
