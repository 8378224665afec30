//! The `info` dictionary: name, pieces, files (BEP 3 v1, BEP 52 v2 and
//! hybrid, BEP 47 attributes and pad files), and the info hashes of its
//! exact bytes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use seedbed_bencode::{decode_with, DecodeOptions, Dict, Document, Entry, Kind, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::{FileAttr, FileEntry, FileSpans};
use crate::geometry::{Geometry, PieceIndex, BLOCK_SIZE};
use crate::id::{InfoHash, InfoHashV2};
use crate::options::ParseOptions;
use crate::path::{sanitize_name, FilePath, PathBuilder};

/// Which BitTorrent versions a torrent supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// BEP 3 only: `pieces` and `length`/`files`; SHA-1 info hash.
    V1,
    /// BEP 52 only (`meta version` 2, `file tree`, no `pieces`); SHA-256
    /// info hash.
    V2,
    /// Both (BEP 52 "Upgrade path"): one info dict with a v1 file list,
    /// padded to v2 alignment, and a v2 file tree; both hashes.
    Hybrid,
}

/// Something that lenient reading accepted or repaired. See
/// [`Info::warnings`] and [`Info::check_strict`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// A key of the `info` dictionary appears more than once; the first
    /// value was used (as libtorrent does).
    DuplicateKey {
        /// The key, lossy UTF-8.
        key: String,
    },
    /// A file's sanitised path repeated an earlier one; it was renamed
    /// (`a.txt` → `a.1.txt`, as libtorrent does).
    RenamedDuplicate {
        /// Index in [`Info::files`].
        file: usize,
        /// The new path.
        path: String,
    },
    /// Every element of a file's path was empty, `.` or `..` (libtorrent
    /// turns them into `_` or drops them; Transmission rejects the file).
    EmptyPath {
        /// Index in [`Info::files`].
        file: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::DuplicateKey { key } => write!(f, "duplicate info key {key:?}"),
            Warning::RenamedDuplicate { file, path } => {
                write!(f, "file {file} has a duplicate path, renamed to {path}")
            }
            Warning::EmptyPath { file } => write!(f, "file {file} has an empty path"),
        }
    }
}

/// A validated `info` dictionary with its exact bytes.
///
/// Everything here is derived from [`raw`](Info::raw), the bytes hashed for
/// the info hashes and served over `ut_metadata` (BEP 9). Build one with
/// [`Info::from_bytes`] (bytes from `ut_metadata`) or get it from a
/// [`Torrent`](crate::Torrent).
///
/// Invariants, checked when parsing: piece length > 0 (v2: a power of two,
/// at least 16 KiB); v1 `pieces` is 20 × [`num_pieces`](Geometry::num_pieces)
/// bytes; every file path is safe ([`FilePath`]); files are contiguous in
/// the torrent's byte space (v2 files start on piece boundaries); a hybrid's
/// v1 and v2 file lists agree; a non-empty v2 file has a non-zero `pieces
/// root`.
#[derive(Clone)]
pub struct Info {
    raw: Bytes,
    version: Version,
    name: String,
    name_raw: Bytes,
    piece_length: u32,
    pieces: Option<Bytes>,
    files: Vec<FileEntry>,
    multi_file: bool,
    private: bool,
    geometry: Geometry,
    total_size: u64,
    num_real_files: usize,
    hash_v1: Option<InfoHash>,
    /// SHA-256 of `raw` for v2 and hybrid torrents: computed while parsing
    /// a v2-only torrent (it is the wire hash), on first use for a hybrid.
    pub(crate) hash_v2: OnceLock<InfoHashV2>,
    wire_hash: InfoHash,
    warnings: Vec<Warning>,
}

impl Info {
    /// Parses a bencoded `info` dictionary (for example the bytes assembled
    /// from `ut_metadata`, BEP 9) with the default [`ParseOptions`]. Trailing
    /// bytes after the dictionary are an error here.
    ///
    /// # Errors
    /// As [`Torrent::from_bytes`](crate::Torrent::from_bytes).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Info, Error> {
        Self::from_bytes_with(bytes, &ParseOptions::new())
    }

    /// [`Info::from_bytes`] with options.
    ///
    /// # Errors
    /// As [`Torrent::from_bytes`](crate::Torrent::from_bytes).
    pub fn from_bytes_with(bytes: impl Into<Bytes>, opts: &ParseOptions) -> Result<Info, Error> {
        let bytes = bytes.into();
        if bytes.len() > opts.max_torrent_size {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: opts.max_torrent_size,
            });
        }
        let doc = decode_with(&bytes, &opts.decode_options().allow_trailing(false))?;
        let root = doc.root();
        if root.as_dict().is_none() {
            return Err(Error::NotADictionary {
                path: "info",
                found: root.type_name(),
            });
        }
        let info = Entry::root(root);
        parse_info(&bytes, &info, opts)
    }

    /// The exact bytes of the `info` dictionary, as in the `.torrent` file:
    /// the input of both info hashes and the payload of `ut_metadata`.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Decodes [`raw`](Self::raw) again, to reach keys this type does not
    /// interpret (BEP 38 `similar`, `source`, ...). Keys are in source order.
    ///
    /// # Errors
    /// None in practice: the bytes decoded once already.
    pub fn decode(&self) -> Result<Document<'_>, Error> {
        Ok(decode_with(
            &self.raw,
            &DecodeOptions::new().max_depth(usize::MAX),
        )?)
    }

    /// v1, v2 or hybrid.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// Whether there is a v1 part (v1 or hybrid).
    pub const fn has_v1(&self) -> bool {
        !matches!(self.version, Version::V2)
    }

    /// Whether there is a v2 part (v2 or hybrid).
    pub const fn has_v2(&self) -> bool {
        !matches!(self.version, Version::V1)
    }

    /// SHA-1 of [`raw`](Self::raw) (BEP 3), for v1 and hybrid torrents.
    pub const fn info_hash_v1(&self) -> Option<InfoHash> {
        self.hash_v1
    }

    /// SHA-256 of [`raw`](Self::raw) (BEP 52), for v2 and hybrid torrents.
    ///
    /// For a hybrid torrent it is computed on the first call (the wire
    /// hash is the v1 hash), so readers that only need the v1 hash do not
    /// pay for a second pass over the `info` bytes.
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        if !self.has_v2() {
            return None;
        }
        Some(
            *self
                .hash_v2
                .get_or_init(|| InfoHashV2(Sha256::digest(&self.raw).into())),
        )
    }

    /// The 20-byte hash used in handshakes, at trackers and in the DHT: the
    /// v1 hash when there is one, else the truncated v2 hash (BEP 52).
    pub const fn info_hash(&self) -> InfoHash {
        self.wire_hash
    }

    /// The sanitised name (`name.utf-8` preferred over `name`): one safe
    /// path component. A name that sanitises to nothing (`..`) is replaced
    /// by the hex of [`info_hash`](Self::info_hash), as libtorrent does.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name bytes exactly as in the torrent. Use
    /// `String::from_utf8_lossy` to display them.
    pub fn name_bytes(&self) -> &[u8] {
        &self.name_raw
    }

    /// Nominal piece length in bytes.
    pub const fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces.
    pub const fn num_pieces(&self) -> u32 {
        self.geometry.num_pieces()
    }

    /// Piece and block geometry. For v1 and hybrid torrents it covers pad
    /// files; for v2-only torrents, alignment gaps.
    pub const fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Sum of the lengths of the files that are not pad files, in bytes.
    pub const fn total_size(&self) -> u64 {
        self.total_size
    }

    /// Every file, in torrent order, pad files included (v1 and hybrid: as
    /// listed; v2-only: file-tree leaves with alignment pads added after each
    /// file that does not end on a piece boundary and is followed by more
    /// data).
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The files that are not pad files, with their index in
    /// [`files`](Self::files).
    pub fn real_files(&self) -> impl Iterator<Item = (usize, &FileEntry)> {
        self.files.iter().enumerate().filter(|(_, f)| !f.is_pad())
    }

    /// Number of files that are not pad files.
    pub const fn num_files(&self) -> usize {
        self.num_real_files
    }

    /// Whether the torrent is a folder (v1 `files`, or a v2 `file tree`
    /// with more than one entry or a folder at the top). File paths then
    /// start with [`name`](Self::name).
    pub const fn is_multi_file(&self) -> bool {
        self.multi_file
    }

    /// BEP 27: `private` is 1 in the info dictionary.
    pub const fn is_private(&self) -> bool {
        self.private
    }

    /// The SHA-1 hash of piece `p` (BEP 3), 20 bytes; `None` for v2-only
    /// torrents.
    pub fn piece_hash_v1(&self, p: PieceIndex) -> Option<&[u8; 20]> {
        let pieces = self.pieces.as_ref()?;
        let start = p.as_usize() * 20;
        pieces.get(start..start + 20)?.try_into().ok()
    }

    /// The parts of files covering bytes `offset..offset + len` of the
    /// torrent, in order; clipped at the end of the torrent. Spans never
    /// overlap and their lengths add up to the clipped range. Pad files
    /// appear too: skip them when writing, read them as zeros.
    pub fn file_spans(&self, offset: u64, len: u64) -> FileSpans<'_> {
        FileSpans::new(&self.files, offset, len)
    }

    /// The file spans of piece `p`.
    pub fn piece_spans(&self, p: PieceIndex) -> FileSpans<'_> {
        let r = self.geometry.piece_range(p);
        self.file_spans(r.start, r.end - r.start)
    }

    /// What lenient reading accepted or repaired.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// A validation step stricter than libtorrent, like Transmission: fails
    /// on the first [`Warning`] (duplicate `info` keys, duplicate file
    /// paths, paths with no usable element).
    ///
    /// # Errors
    /// [`Error::Strict`] with the first warning.
    pub fn check_strict(&self) -> Result<(), Error> {
        match self.warnings.first() {
            Some(w) => Err(Error::Strict(w.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Info")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("info_hash_v1", &self.hash_v1)
            .field("info_hash_v2", &self.info_hash_v2())
            .field("geometry", &self.geometry)
            .field("files", &self.files.len())
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

/// A v2 file-tree leaf before layout.
struct TreeFile<'a> {
    raw_path: Vec<&'a [u8]>,
    length: u64,
    attr: FileAttr,
    root: Option<[u8; 32]>,
    symlink: Option<Vec<&'a [u8]>>,
    mtime: Option<i64>,
}

/// A v1 `files` entry (or the single file) before layout.
#[cfg_attr(test, derive(Debug, PartialEq))]
struct ListFile<'a> {
    raw_path: Option<Vec<&'a [u8]>>,
    length: u64,
    attr: FileAttr,
    symlink: Option<Vec<&'a [u8]>>,
    mtime: Option<i64>,
}

fn invalid(e: &Entry<'_, '_, '_>, reason: &'static str) -> Error {
    Error::Invalid {
        path: e.path(),
        reason,
    }
}

/// Parses the `info` entry whose bytes lie inside `buf`.
pub(crate) fn parse_info(
    buf: &Bytes,
    info: &Entry<'_, '_, '_>,
    opts: &ParseOptions,
) -> Result<Info, Error> {
    let value = info.value();
    let dict = info.dict()?;
    let raw = buf.slice_ref(value.raw());

    // BEP 52: check `meta version` first.
    let v2 = match info.opt_key("meta version")? {
        None => false,
        Some(e) => match e.int()? {
            2 => true,
            version => return Err(Error::UnsupportedMetaVersion { version }),
        },
    };
    if v2 {
        // The v2 hash must be that of canonical bencode (BEP 52 "infohash");
        // libtorrent rejects unsorted file trees and leading zeros here.
        let strict = DecodeOptions::new().canonical(true).max_depth(usize::MAX);
        if let Err(e) = decode_with(&raw, &strict) {
            return Err(Error::NonCanonicalV2 {
                offset: value.span().start + e.offset().unwrap_or(0),
            });
        }
    }

    let pl_entry = info.key("piece length")?;
    let pl = pl_entry.int()?;
    if pl <= 0 {
        return Err(Error::InvalidPieceLength {
            piece_length: pl,
            reason: "not positive",
        });
    }
    let piece_length = u32::try_from(pl).map_err(|_| Error::InvalidPieceLength {
        piece_length: pl,
        reason: "over 4 GiB",
    })?;
    if v2 && (!piece_length.is_power_of_two() || piece_length < BLOCK_SIZE) {
        return Err(Error::InvalidPieceLength {
            piece_length: pl,
            reason: "v2 needs a power of two of at least 16 KiB",
        });
    }

    let name_entry = match info.opt_key("name.utf-8")? {
        Some(e) if e.value().as_bytes().is_some() => e,
        _ => info.key("name")?,
    };
    let name_raw = buf.slice_ref(name_entry.bytes()?);
    let private = info
        .opt_key("private")?
        .is_some_and(|e| e.value().as_int() == Some(1));

    let mut warnings = Vec::new();
    // Sorted keys (canonical bencode, nearly every torrent) cannot repeat;
    // only unsorted ones need the set.
    let mut prev: Option<&[u8]> = None;
    let sorted = dict.iter().all(|(k, _)| {
        let ok = prev.is_none_or(|p| p < k);
        prev = Some(k);
        ok
    });
    if !sorted {
        let mut seen = HashSet::new();
        for (k, _) in dict.iter() {
            if !seen.insert(k) {
                warnings.push(Warning::DuplicateKey {
                    key: String::from_utf8_lossy(k).into_owned(),
                });
            }
        }
    }

    let has_v1 = dict.get("files").is_some() || dict.get("length").is_some();
    let version = match (has_v1, v2) {
        (true, false) => Version::V1,
        (false, true) => Version::V2,
        (true, true) => Version::Hybrid,
        (false, false) => return Err(invalid(info, "neither 'length' nor 'files'")),
    };
    let hash_v1 = has_v1.then(|| InfoHash(Sha1::digest(&raw).into()));
    // A hybrid's v2 hash waits for `info_hash_v2`; a v2-only torrent needs
    // it now, for the wire hash.
    let hash_v2 = OnceLock::new();
    let wire_hash = match hash_v1 {
        Some(h) => h,
        None => {
            let h2 = InfoHashV2(Sha256::digest(&raw).into());
            // `set` cannot fail: the cell is new.
            let _ = hash_v2.set(h2);
            h2.truncated()
        }
    };
    let multi_file_hint = match dict.get("files") {
        Some(_) => true,
        None if has_v1 => false,
        None => !single_tree_file(info)?,
    };

    // Name: one component; nothing left → the info hash in hex.
    // Name: one component. libtorrent rejects a single file without a usable
    // name, and names a folder after the info hash instead.
    let name = match sanitize_name(name_raw.as_ref()) {
        Some(n) => n,
        None if !multi_file_hint => {
            return Err(Error::Invalid {
                path: name_entry.path(),
                reason: "the file name is empty after sanitising",
            })
        }
        None => wire_hash.to_hex(),
    };
    let name_path = FilePath::from_safe(name.clone());

    let tree = if v2 {
        Some(parse_file_tree(info, opts)?)
    } else {
        None
    };
    let list = if has_v1 {
        Some(parse_file_list(info, opts)?)
    } else {
        None
    };

    let mut files: Vec<FileEntry> = Vec::new();
    let multi_file;
    match (&list, &tree) {
        (Some((list, is_multi)), _) => {
            multi_file = *is_multi;
            for (i, lf) in list.iter().enumerate() {
                let (path, empty) = if !*is_multi {
                    (name_path.clone(), false)
                } else {
                    match &lf.raw_path {
                        None => (FilePath::from_safe(format!(".pad/{}", lf.length)), false),
                        Some(raw) => (build_path(Some(&name_path), raw), no_name(raw)),
                    }
                };
                if empty {
                    warnings.push(Warning::EmptyPath { file: i });
                }
                let symlink = lf
                    .symlink
                    .as_ref()
                    .map(|s| build_path(is_multi.then_some(&name_path), s));
                files.push(FileEntry {
                    path,
                    raw_path: match &lf.raw_path {
                        Some(raw) => raw.iter().map(|c| buf.slice_ref(c)).collect(),
                        None if !*is_multi => vec![name_raw.clone()],
                        None => Vec::new(),
                    },
                    length: lf.length,
                    offset: 0,
                    attr: lf.attr,
                    symlink,
                    pieces_root: None,
                    mtime: lf.mtime,
                    synthetic: false,
                });
            }
        }
        (None, Some(tree)) => {
            multi_file = !(tree.len() == 1 && tree[0].raw_path.len() == 1);
            let last_data = tree.iter().rposition(|f| f.length > 0);
            for (k, tf) in tree.iter().enumerate() {
                let file = tree_entry(buf, tf, multi_file, &name_path);
                if no_name(&tf.raw_path) {
                    warnings.push(Warning::EmptyPath { file: files.len() });
                }
                files.push(file);
                let gap = gap_after(tf.length, piece_length);
                if gap > 0 && last_data.is_some_and(|l| k < l) {
                    let mut attr = FileAttr::default();
                    attr.set_pad();
                    files.push(FileEntry {
                        path: FilePath::from_safe(format!(".pad/{gap}")),
                        raw_path: Vec::new(),
                        length: gap,
                        offset: 0,
                        attr,
                        symlink: None,
                        pieces_root: None,
                        mtime: None,
                        synthetic: true,
                    });
                }
            }
        }
        (None, None) => unreachable!("version checked above"),
    }

    if let (Some(_), Some(tree)) = (&list, &tree) {
        check_hybrid(&mut files, tree, multi_file, &name_path, piece_length)?;
    }

    // Offsets, sizes, piece count.
    let mut offset = 0u64;
    let mut total_size = 0u64;
    let mut num_real_files = 0;
    for f in &mut files {
        f.offset = offset;
        offset = offset
            .checked_add(f.length)
            .filter(|&o| o <= i64::MAX as u64)
            .ok_or(Error::InvalidTotalSize {
                reason: "over 2^63 - 1 bytes",
            })?;
        if !f.is_pad() {
            total_size += f.length;
            num_real_files += 1;
        }
    }
    if offset == 0 {
        return Err(Error::InvalidTotalSize { reason: "zero" });
    }
    let count = offset.div_ceil(u64::from(piece_length));
    if count > u64::from(opts.max_pieces) {
        return Err(Error::TooManyPieces {
            count,
            limit: opts.max_pieces,
        });
    }
    let geometry = Geometry::new(offset, piece_length)?;

    let pieces = if has_v1 {
        let e = info.key("pieces")?;
        let p = e.bytes()?;
        if p.len() % 20 != 0 {
            return Err(Error::PiecesNotMultipleOf20 { len: p.len() });
        }
        let found = (p.len() / 20) as u64;
        if found != u64::from(geometry.num_pieces()) {
            return Err(Error::PieceCountMismatch {
                expected: u64::from(geometry.num_pieces()),
                found,
            });
        }
        Some(buf.slice_ref(p))
    } else {
        None
    };

    rename_duplicates(&mut files, &mut warnings, opts.max_duplicate_names)?;
    resolve_symlinks(&mut files, multi_file.then_some(&name_path));

    Ok(Info {
        raw,
        version,
        name,
        name_raw,
        piece_length,
        pieces,
        files,
        multi_file,
        private,
        geometry,
        total_size,
        num_real_files,
        hash_v1,
        hash_v2,
        wire_hash,
        warnings,
    })
}

/// Whether a v2 `file tree` holds a single file at its top.
fn single_tree_file(info: &Entry<'_, '_, '_>) -> Result<bool, Error> {
    let tree = info.key("file tree")?;
    let d = tree.dict()?;
    let mut it = d.iter();
    Ok(match (it.next(), it.next()) {
        (Some((_, v)), None) => v.as_dict().is_some_and(|c| c.get("").is_some()),
        _ => false,
    })
}

/// Bytes of alignment after a file of `len` bytes (BEP 52).
fn gap_after(len: u64, piece_length: u32) -> u64 {
    let pl = u64::from(piece_length);
    if len == 0 {
        0
    } else {
        (pl - len % pl) % pl
    }
}

/// Whether every element is empty, `.` or `..` (Transmission rejects such
/// paths; libtorrent turns them into `_`).
fn no_name(raw: &[&[u8]]) -> bool {
    raw.iter()
        .all(|c| c.is_empty() || *c == b"." || *c == b"..")
}

/// A sanitised path (`_` when nothing usable is left), under `prefix`
/// (the torrent name of a multi-file torrent) if given.
fn build_path(prefix: Option<&FilePath>, raw: &[&[u8]]) -> FilePath {
    let extra = raw.iter().map(|c| c.len() + 1).sum();
    let mut b = match prefix {
        Some(p) => PathBuilder::with_prefix(p, extra),
        None => PathBuilder::default(),
    };
    for c in raw {
        b.push(c);
    }
    b.finish()
}

fn tree_entry(buf: &Bytes, tf: &TreeFile<'_>, multi: bool, name: &FilePath) -> FileEntry {
    let prefix = multi.then_some(name);
    FileEntry {
        path: build_path(prefix, &tf.raw_path),
        raw_path: tf.raw_path.iter().map(|c| buf.slice_ref(c)).collect(),
        length: tf.length,
        offset: 0,
        attr: tf.attr,
        symlink: tf.symlink.as_ref().map(|s| build_path(prefix, s)),
        pieces_root: tf.root,
        mtime: tf.mtime,
        synthetic: false,
    }
}

/// Whether BitComet-style naming marks a pad file.
fn named_like_pad(raw_path: &[&[u8]]) -> bool {
    raw_path.iter().any(|c| c.starts_with(b".____padding_file"))
        || raw_path
            .last()
            .is_some_and(|c| c.starts_with(b"_____padding_file_"))
}

fn string_list<'a>(e: &Entry<'_, '_, 'a>) -> Result<Vec<&'a [u8]>, Error> {
    let mut out = Vec::new();
    for item in e.items()? {
        out.push(
            item.bytes()
                .map_err(|_| invalid(&item, "expected a string"))?,
        );
    }
    Ok(out)
}

fn parse_attr(e: &Entry<'_, '_, '_>) -> Result<FileAttr, Error> {
    Ok(e.opt_key("attr")?
        .and_then(|a| a.value().as_bytes())
        .map(FileAttr::parse)
        .unwrap_or_default())
}

fn parse_symlink<'a>(
    e: &Entry<'_, '_, 'a>,
    attr: FileAttr,
) -> Result<Option<Vec<&'a [u8]>>, Error> {
    if !attr.is_symlink() {
        return Ok(None);
    }
    let target = e.key("symlink path")?;
    Ok(Some(string_list(&target)?))
}

/// v1: the `files` list (multi-file) or `length` (single file).
fn parse_file_list<'a>(
    info: &Entry<'_, '_, 'a>,
    opts: &ParseOptions,
) -> Result<(Vec<ListFile<'a>>, bool), Error> {
    let Some(files) = info.opt_key("files")? else {
        let length = info.key("length")?.uint()?;
        let attr = parse_attr(info)?;
        return Ok((
            vec![ListFile {
                raw_path: None,
                length,
                attr,
                symlink: None,
                mtime: None,
            }],
            false,
        ));
    };
    let mut out = Vec::new();
    for fe in files.items()? {
        if out.len() == opts.max_files {
            return Err(Error::TooManyFiles {
                limit: opts.max_files,
            });
        }
        if let Some(lf) = fe.value().as_dict().and_then(list_file_fast) {
            out.push(lf);
            continue;
        }
        // Something is off: the keyed reads give the error with its key
        // path.
        out.push(list_file_slow(&fe)?);
    }
    if out.is_empty() {
        return Err(Error::NoFiles);
    }
    Ok((out, true))
}

/// A v1 `files` entry, key by key, with error paths
/// (`info.files[3].length`).
fn list_file_slow<'a>(fe: &Entry<'_, '_, 'a>) -> Result<ListFile<'a>, Error> {
    fe.dict()?;
    let mut attr = parse_attr(fe)?;
    let utf8 = match fe.opt_key("path.utf-8")? {
        Some(p) => string_list(&p).ok(),
        None => None,
    };
    let raw_path = match utf8 {
        Some(p) => Some(p),
        None => match fe.opt_key("path")? {
            Some(p) => Some(string_list(&p)?),
            None if attr.is_pad() => None,
            None => {
                return Err(Error::Bencode(seedbed_bencode::Error::MissingKey {
                    path: format!("{}.path", fe.path()),
                }))
            }
        },
    };
    if raw_path.as_deref().is_some_and(named_like_pad) {
        attr.set_pad();
    }
    let symlink = parse_symlink(fe, attr)?;
    let length = if symlink.is_some() {
        0
    } else {
        fe.key("length")?.uint()?
    };
    let mtime = fe.opt_key("mtime")?.and_then(|m| m.value().as_int());
    Ok(ListFile {
        raw_path,
        length,
        attr,
        symlink,
        mtime,
    })
}

/// A well-formed v1 `files` entry in one pass over its keys (the first
/// value of each key, as the keyed reads take it). `None` when anything
/// would be an error or needs a fallback: [`parse_file_list`] then reads
/// the entry again key by key, with error paths. Same result as that
/// slow path on every input it accepts.
fn list_file_fast<'a>(d: Dict<'_, 'a>) -> Option<ListFile<'a>> {
    let (mut length, mut path, mut path_utf8, mut attr, mut mtime, mut symlink) =
        (None, None, None, None, None, None);
    for (k, v) in d.iter() {
        let slot = match k {
            b"length" => &mut length,
            b"path" => &mut path,
            b"path.utf-8" => &mut path_utf8,
            b"attr" => &mut attr,
            b"mtime" => &mut mtime,
            b"symlink path" => &mut symlink,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v);
        }
    }
    let strings = |v: Value<'_, 'a>| -> Option<Vec<&'a [u8]>> {
        let mut out = Vec::new();
        for item in v.as_list()?.iter() {
            out.push(item.as_bytes()?);
        }
        Some(out)
    };
    let mut attr = attr
        .and_then(|a| a.as_bytes())
        .map(FileAttr::parse)
        .unwrap_or_default();
    let raw_path = match path_utf8.and_then(strings) {
        Some(p) => Some(p),
        None => match path {
            Some(p) => Some(strings(p)?),
            None if attr.is_pad() => None,
            None => return None,
        },
    };
    if raw_path.as_deref().is_some_and(named_like_pad) {
        attr.set_pad();
    }
    let symlink = if attr.is_symlink() {
        Some(strings(symlink?)?)
    } else {
        None
    };
    let length = if symlink.is_some() {
        0
    } else {
        u64::try_from(length?.as_int()?).ok()?
    };
    Some(ListFile {
        raw_path,
        length,
        attr,
        symlink,
        mtime: mtime.and_then(|m| m.as_int()),
    })
}

/// v2: the leaves of `file tree`, in tree (sorted key) order.
fn parse_file_tree<'a>(
    info: &Entry<'_, '_, 'a>,
    opts: &ParseOptions,
) -> Result<Vec<TreeFile<'a>>, Error> {
    let tree = info.key("file tree")?;
    let root = tree.dict()?;
    if root.get("").is_some() {
        return Err(invalid(&tree, "the file tree root is not a folder"));
    }
    let tree_path = |components: &[&[u8]]| {
        let mut s = String::from("info.file tree");
        for c in components {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(c));
        }
        s
    };
    let bad = |components: &[&[u8]], reason| Error::Invalid {
        path: tree_path(components),
        reason,
    };
    let mut out = Vec::new();
    // Depth-first in source order; depth is bounded by the bencode limit.
    let mut stack: Vec<(Value<'_, 'a>, Vec<&'a [u8]>)> = vec![(tree.value(), Vec::new())];
    while let Some((node, components)) = stack.pop() {
        let Some(d) = node.as_dict() else {
            return Err(bad(&components, "expected a dictionary"));
        };
        if let Some(leaf) = d.get("") {
            if components.is_empty() {
                return Err(bad(&components, "the file tree root is not a folder"));
            }
            if d.len() != 1 {
                return Err(bad(&components, "a file entry has siblings"));
            }
            let Some(ld) = leaf.as_dict() else {
                return Err(bad(&components, "file entry is not a dictionary"));
            };
            let Some(len) = ld.get("length") else {
                return Err(bad(&components, "empty file name"));
            };
            let length = match len.as_int() {
                Some(l) if l >= 0 => l as u64,
                _ => return Err(bad(&components, "invalid length")),
            };
            let attr = ld
                .get("attr")
                .and_then(|a| a.as_bytes())
                .map(FileAttr::parse)
                .unwrap_or_default();
            if attr.is_pad() {
                return Err(Error::PadFileInV2 {
                    path: tree_path(&components),
                });
            }
            let symlink = if attr.is_symlink() {
                let Some(t) = ld.get("symlink path").and_then(|t| t.as_list()) else {
                    return Err(bad(&components, "symlink without 'symlink path'"));
                };
                let mut target = Vec::new();
                for c in t.iter() {
                    match c.as_bytes() {
                        Some(b) => target.push(b),
                        None => return Err(bad(&components, "'symlink path' holds a non-string")),
                    }
                }
                Some(target)
            } else {
                None
            };
            let length = if symlink.is_some() { 0 } else { length };
            let root = match ld.get("pieces root").and_then(|r| r.as_bytes()) {
                Some(r) if r.len() == 32 && r.iter().any(|&b| b != 0) => {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(r);
                    Some(h)
                }
                _ => None,
            };
            if length > 0 && root.is_none() {
                return Err(Error::MissingPiecesRoot {
                    file: out.len(),
                    path: tree_path(&components),
                });
            }
            if out.len() == opts.max_files {
                return Err(Error::TooManyFiles {
                    limit: opts.max_files,
                });
            }
            out.push(TreeFile {
                raw_path: components,
                length,
                attr,
                root: if length > 0 { root } else { None },
                symlink,
                mtime: ld.get("mtime").and_then(|m| m.as_int()),
            });
            continue;
        }
        // A folder: push children so that they pop in source order.
        let children: Vec<(&'a [u8], Value<'_, 'a>)> = d.iter().collect();
        for (k, child) in children.into_iter().rev() {
            let mut c = components.clone();
            c.push(k);
            if k.is_empty() {
                return Err(bad(&c, "empty file name"));
            }
            if !matches!(child.kind(), Kind::Dict(_)) {
                return Err(bad(&c, "expected a dictionary"));
            }
            stack.push((child, c));
        }
    }
    if out.is_empty() {
        return Err(Error::NoFiles);
    }
    Ok(out)
}

/// BEP 52 hybrid: the v1 list must describe the v2 tree's files in the
/// same order (same sanitised paths and lengths), with pad files only where
/// they fill the gap to the next piece boundary and every non-empty file
/// starting on a piece boundary (libtorrent may put a pad after empty files;
/// the pad after the last file is optional). Copies each `pieces root` to
/// its v1 entry.
fn check_hybrid(
    v1: &mut [FileEntry],
    tree: &[TreeFile<'_>],
    multi: bool,
    name: &FilePath,
    piece_length: u32,
) -> Result<(), Error> {
    let pl = u64::from(piece_length);
    let mut offset = 0u64;
    let mut k = 0;
    for (j, f1) in v1.iter_mut().enumerate() {
        let fail = |reason| Error::InconsistentHybrid { file: j, reason };
        if f1.is_pad() {
            let gap = (pl - offset % pl) % pl;
            if gap == 0 || f1.length > gap {
                return Err(fail("pad file does not fill an alignment gap"));
            }
            offset += f1.length;
            continue;
        }
        let Some(tf) = tree.get(k) else {
            return Err(fail("the v1 file list has extra files"));
        };
        k += 1;
        if f1.path != build_path(multi.then_some(name), &tf.raw_path) {
            return Err(fail("file paths differ"));
        }
        if f1.length != tf.length {
            return Err(fail("file lengths differ"));
        }
        if f1.length > 0 && offset % pl != 0 {
            return Err(fail("file does not start on a piece boundary"));
        }
        f1.pieces_root = tf.root;
        offset = offset.saturating_add(f1.length);
    }
    if k != tree.len() {
        return Err(Error::InconsistentHybrid {
            file: v1.len(),
            reason: "the v1 file list is shorter",
        });
    }
    Ok(())
}

/// BEP 47 says a `symlink path` is relative to the torrent's root folder.
/// Some creators wrote it relative to the link's own folder instead
/// (libtorrent's `symlink2` test): when the root-relative target names
/// nothing in the torrent but the link-relative one does, use that.
fn resolve_symlinks(files: &mut [FileEntry], name: Option<&FilePath>) {
    if files.iter().all(|f| f.symlink.is_none()) {
        return;
    }
    let mut known: HashSet<&str> = HashSet::new();
    for f in files.iter() {
        let p = f.path.as_str();
        known.insert(p);
        for (i, c) in p.char_indices() {
            if c == '/' {
                known.insert(&p[..i]);
            }
        }
    }
    let mut fixes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (Some(target), Some((dir, _))) = (&f.symlink, f.path.as_str().rsplit_once('/')) else {
            continue;
        };
        if known.contains(target.as_str()) {
            continue;
        }
        let rel = match name {
            Some(n) => target
                .as_str()
                .strip_prefix(n.as_str())
                .and_then(|r| r.strip_prefix('/')),
            None => Some(target.as_str()),
        };
        if let Some(rel) = rel {
            let candidate = format!("{dir}/{rel}");
            if known.contains(candidate.as_str()) {
                fixes.push((i, FilePath::from_safe(candidate)));
            }
        }
    }
    for (i, p) in fixes {
        files[i].symlink = Some(p);
    }
}

/// libtorrent's rule: a later file whose path repeats an earlier one gets
/// `.1`, `.2`, ... before its extension.
fn rename_duplicates(
    files: &mut [FileEntry],
    warnings: &mut Vec<Warning>,
    limit: usize,
) -> Result<(), Error> {
    // Fast path: no two real files share a path (almost every torrent), so
    // one pass over borrowed paths settles it without cloning any.
    {
        let mut seen: HashSet<&str> = HashSet::with_capacity(files.len());
        if files
            .iter()
            .filter(|f| !f.is_pad())
            .all(|f| seen.insert(f.path.as_str()))
        {
            return Ok(());
        }
    }
    let mut seen: HashSet<FilePath> = HashSet::with_capacity(files.len());
    let mut next: HashMap<FilePath, usize> = HashMap::new();
    let mut renamed = 0;
    for (i, f) in files.iter_mut().enumerate() {
        if f.is_pad() {
            continue;
        }
        if seen.insert(f.path.clone()) {
            continue;
        }
        renamed += 1;
        if renamed > limit {
            return Err(Error::TooManyDuplicateNames { limit });
        }
        let n = next.entry(f.path.clone()).or_insert(1);
        let new = loop {
            let candidate = f.path.with_counter(*n);
            *n += 1;
            if !seen.contains(&candidate) {
                break candidate;
            }
        };
        seen.insert(new.clone());
        warnings.push(Warning::RenamedDuplicate {
            file: i,
            path: new.as_str().to_owned(),
        });
        f.path = new;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Vec<u8>> {
        let string = prop_oneof![
            Just(&b"a"[..]),
            Just(&b"p"[..]),
            Just(&b"xl"[..]),
            Just(&b""[..]),
            Just(&b".____padding_file"[..]),
        ]
        .prop_map(|s| {
            let mut v = format!("{}:", s.len()).into_bytes();
            v.extend_from_slice(s);
            v
        });
        let int = (-2i64..5).prop_map(|i| format!("i{i}e").into_bytes());
        let item = prop_oneof![4 => string.clone(), 1 => int.clone()];
        let list = proptest::collection::vec(item, 0..3).prop_map(|items| {
            let mut v = b"l".to_vec();
            items.iter().for_each(|i| v.extend_from_slice(i));
            v.push(b'e');
            v
        });
        prop_oneof![1 => string, 1 => int, 3 => list, 1 => Just(b"de".to_vec())]
    }

    proptest! {
        /// The one-pass read of a `files` entry agrees with the keyed
        /// read wherever it answers, on unsorted and repeated keys too.
        #[test]
        fn fast_file_entry_matches_slow(
            entries in proptest::collection::vec(
                (prop_oneof![
                    Just("length"), Just("path"), Just("path.utf-8"), Just("attr"),
                    Just("mtime"), Just("symlink path"), Just("other"),
                ], value()),
                0..7,
            )
        ) {
            let mut bytes = b"d".to_vec();
            for (k, v) in &entries {
                bytes.extend_from_slice(format!("{}:{k}", k.len()).as_bytes());
                bytes.extend_from_slice(v);
            }
            bytes.push(b'e');
            let doc = decode_with(&bytes, &ParseOptions::new().decode_options()).unwrap();
            let entry = Entry::root(doc.root());
            let slow = list_file_slow(&entry);
            if let Some(fast) = list_file_fast(doc.root().as_dict().unwrap()) {
                prop_assert_eq!(Some(fast), slow.ok());
            }
        }
    }
}
