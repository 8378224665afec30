//! v2 (BEP 52): the leaves of `file tree`.

use bytes::Bytes;
use seedbed_bencode::{Entry, Kind, Value};

use crate::error::Error;
use crate::files::{FileAttr, FileEntry};
use crate::options::ParseOptions;
use crate::path::FilePath;

use super::parse::{build_path, invalid};

/// A v2 file-tree leaf before layout.
pub(super) struct TreeFile<'a> {
    pub(super) raw_path: Vec<&'a [u8]>,
    pub(super) length: u64,
    pub(super) attr: FileAttr,
    pub(super) root: Option<[u8; 32]>,
    pub(super) symlink: Option<Vec<&'a [u8]>>,
    pub(super) mtime: Option<i64>,
}

/// v2: the leaves of `file tree`, in tree (sorted key) order.
pub(super) fn parse_file_tree<'a>(
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

/// Whether a v2 `file tree` holds a single file at its top.
pub(super) fn single_tree_file(info: &Entry<'_, '_, '_>) -> Result<bool, Error> {
    let tree = info.key("file tree")?;
    let d = tree.dict()?;
    let mut it = d.iter();
    Ok(match (it.next(), it.next()) {
        (Some((_, v)), None) => v.as_dict().is_some_and(|c| c.get("").is_some()),
        _ => false,
    })
}

pub(super) fn tree_entry(
    buf: &Bytes,
    tf: &TreeFile<'_>,
    multi: bool,
    name: &FilePath,
) -> FileEntry {
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
