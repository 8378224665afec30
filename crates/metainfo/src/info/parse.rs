//! Parsing an `info` dictionary (BEP 3, BEP 52, BEP 47): the checks and
//! layout shared by v1, v2 and hybrid torrents.

use std::collections::HashSet;
use std::sync::OnceLock;

use bytes::Bytes;
use seedbed_bencode::{decode_with, DecodeOptions, Entry};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::{FileAttr, FileEntry};
use crate::geometry::{Geometry, BLOCK_SIZE};
use crate::id::{InfoHash, InfoHashV2};
use crate::options::ParseOptions;
use crate::path::{sanitize_name, FilePath, PathBuilder};

use super::consistency::{check_hybrid, rename_duplicates, resolve_symlinks};
use super::file_list::parse_file_list;
use super::file_tree::{parse_file_tree, single_tree_file, tree_entry};
use super::{Info, Version, Warning};

pub(super) fn invalid(e: &Entry<'_, '_, '_>, reason: &'static str) -> Error {
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

/// Bytes of alignment after a file of `len` bytes (BEP 52).
pub(super) fn gap_after(len: u64, piece_length: u32) -> u64 {
    let pl = u64::from(piece_length);
    if len == 0 {
        0
    } else {
        (pl - len % pl) % pl
    }
}

/// Whether every element is empty, `.` or `..` (Transmission rejects such
/// paths; libtorrent turns them into `_`).
pub(super) fn no_name(raw: &[&[u8]]) -> bool {
    raw.iter()
        .all(|c| c.is_empty() || *c == b"." || *c == b"..")
}

/// A sanitised path (`_` when nothing usable is left), under `prefix`
/// (the torrent name of a multi-file torrent) if given.
pub(super) fn build_path(prefix: Option<&FilePath>, raw: &[&[u8]]) -> FilePath {
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

/// Whether BitComet-style naming marks a pad file.
pub(super) fn named_like_pad(raw_path: &[&[u8]]) -> bool {
    raw_path.iter().any(|c| c.starts_with(b".____padding_file"))
        || raw_path
            .last()
            .is_some_and(|c| c.starts_with(b"_____padding_file_"))
}

pub(super) fn string_list<'a>(e: &Entry<'_, '_, 'a>) -> Result<Vec<&'a [u8]>, Error> {
    let mut out = Vec::new();
    for item in e.items()? {
        out.push(
            item.bytes()
                .map_err(|_| invalid(&item, "expected a string"))?,
        );
    }
    Ok(out)
}

pub(super) fn parse_attr(e: &Entry<'_, '_, '_>) -> Result<FileAttr, Error> {
    Ok(e.opt_key("attr")?
        .and_then(|a| a.value().as_bytes())
        .map(FileAttr::parse)
        .unwrap_or_default())
}

pub(super) fn parse_symlink<'a>(
    e: &Entry<'_, '_, 'a>,
    attr: FileAttr,
) -> Result<Option<Vec<&'a [u8]>>, Error> {
    if !attr.is_symlink() {
        return Ok(None);
    }
    let target = e.key("symlink path")?;
    Ok(Some(string_list(&target)?))
}
