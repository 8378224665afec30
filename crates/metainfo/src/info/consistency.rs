//! Checks and repairs across the parsed file list: a hybrid torrent's v1
//! list against its v2 tree, symlink targets, duplicate paths.

use std::collections::{HashMap, HashSet};

use crate::error::Error;
use crate::files::FileEntry;
use crate::path::FilePath;

use super::file_tree::TreeFile;
use super::parse::build_path;
use super::Warning;

/// BEP 52 hybrid: the v1 list must describe the v2 tree's files in the
/// same order (same sanitised paths and lengths), with pad files only where
/// they fill the gap to the next piece boundary and every non-empty file
/// starting on a piece boundary (libtorrent may put a pad after empty files;
/// the pad after the last file is optional). Copies each `pieces root` to
/// its v1 entry.
pub(super) fn check_hybrid(
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
pub(super) fn resolve_symlinks(files: &mut [FileEntry], name: Option<&FilePath>) {
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
pub(super) fn rename_duplicates(
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
