//! The `info` dictionary: name, pieces, files (BEP 3 v1, BEP 52 v2 and
//! hybrid, BEP 47 attributes and pad files), and the info hashes of its
//! exact bytes.

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use seedbed_bencode::{decode_with, DecodeOptions, Document, Entry};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::{FileEntry, FileSpans};
use crate::geometry::{Geometry, PieceIndex};
use crate::id::{InfoHash, InfoHashV2};
use crate::options::ParseOptions;

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
/// bytes; every file path is safe ([`FilePath`](crate::FilePath)); files are contiguous in
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

mod consistency;
mod file_list;
mod file_tree;
mod parse;

pub(crate) use parse::parse_info;
