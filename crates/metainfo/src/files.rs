//! The files of a torrent, where each sits in the torrent's byte space, and
//! the mapping from a byte range to file spans (BEP 3 "files", BEP 47
//! attributes, BEP 52 alignment).

use std::fmt;

use bytes::Bytes;

use crate::path::FilePath;

/// BEP 47 file attributes (`attr`): pad `p`, executable `x`, hidden `h`,
/// symlink `l`. Unknown letters are ignored.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FileAttr {
    bits: u8,
}

impl FileAttr {
    const PAD: u8 = 1;
    const EXECUTABLE: u8 = 2;
    const HIDDEN: u8 = 4;
    const SYMLINK: u8 = 8;

    /// Parses an `attr` string.
    ///
    /// ```
    /// use seedbed_metainfo::FileAttr;
    /// let a = FileAttr::parse(b"xlq");
    /// assert!(a.is_executable() && a.is_symlink() && !a.is_pad());
    /// ```
    pub fn parse(attr: &[u8]) -> FileAttr {
        let mut bits = 0;
        for c in attr {
            bits |= match c {
                b'p' => Self::PAD,
                b'x' => Self::EXECUTABLE,
                b'h' => Self::HIDDEN,
                b'l' => Self::SYMLINK,
                _ => 0,
            };
        }
        FileAttr { bits }
    }

    /// `p`: a pad file (zeros, never written to disk).
    pub const fn is_pad(&self) -> bool {
        self.bits & Self::PAD != 0
    }

    /// `x`: executable.
    pub const fn is_executable(&self) -> bool {
        self.bits & Self::EXECUTABLE != 0
    }

    /// `h`: hidden.
    pub const fn is_hidden(&self) -> bool {
        self.bits & Self::HIDDEN != 0
    }

    /// `l`: a symbolic link (see [`FileEntry::symlink_target`]).
    pub const fn is_symlink(&self) -> bool {
        self.bits & Self::SYMLINK != 0
    }

    pub(crate) fn set_pad(&mut self) {
        self.bits |= Self::PAD;
    }
}

impl fmt::Debug for FileAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (bit, c) in [
            (Self::PAD, 'p'),
            (Self::EXECUTABLE, 'x'),
            (Self::HIDDEN, 'h'),
            (Self::SYMLINK, 'l'),
        ] {
            if self.bits & bit != 0 {
                s.push(c);
            }
        }
        write!(f, "FileAttr({s:?})")
    }
}

/// One file of a torrent.
///
/// `path` is the sanitised relative path where the file goes under the
/// download folder: for multi-file torrents it starts with the torrent's
/// (sanitised) name, as libtorrent lays files out. `raw_path` keeps the
/// elements as they were in the torrent (`path.utf-8` when present).
#[derive(Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub(crate) path: FilePath,
    pub(crate) raw_path: Vec<Bytes>,
    pub(crate) length: u64,
    pub(crate) offset: u64,
    pub(crate) attr: FileAttr,
    pub(crate) symlink: Option<FilePath>,
    pub(crate) pieces_root: Option<[u8; 32]>,
    pub(crate) mtime: Option<i64>,
    pub(crate) synthetic: bool,
}

impl FileEntry {
    /// Sanitised relative path (see [`FilePath`]).
    pub fn path(&self) -> &FilePath {
        &self.path
    }

    /// The path elements exactly as the torrent gave them (for multi-file
    /// torrents, without the torrent name). May be non-UTF-8 or unsafe:
    /// never use them to build a file system path.
    pub fn raw_path(&self) -> &[Bytes] {
        &self.raw_path
    }

    /// Length in bytes (0 for symlinks, whatever the torrent declared).
    pub const fn length(&self) -> u64 {
        self.length
    }

    /// Byte offset of the file's first byte in the torrent (pad files and
    /// BEP 52 alignment included). The pieces holding the file are
    /// [`Geometry::pieces_in`](crate::Geometry::pieces_in)`(offset, length)`.
    pub const fn offset(&self) -> u64 {
        self.offset
    }

    /// BEP 47 attributes.
    pub const fn attr(&self) -> FileAttr {
        self.attr
    }

    /// Whether this is a pad file: `attr` has `p`, the name follows the
    /// BitComet convention (`_____padding_file_…` or a `.____padding_file`
    /// folder), or it is an alignment gap of a v2-only torrent made by this
    /// crate ([`is_synthetic`](Self::is_synthetic)). Pad data is zeros and
    /// is never written.
    pub const fn is_pad(&self) -> bool {
        self.attr.is_pad()
    }

    /// Whether this pad entry was made by this crate for a BEP 52 alignment
    /// gap of a v2-only torrent rather than read from the torrent.
    pub const fn is_synthetic(&self) -> bool {
        self.synthetic
    }

    /// For a symlink, its target: a sanitised path relative to the same
    /// folder as [`path`](Self::path) (so it includes the torrent name for
    /// multi-file torrents).
    pub fn symlink_target(&self) -> Option<&FilePath> {
        self.symlink.as_ref()
    }

    /// BEP 52 `pieces root`: the SHA-256 merkle root of the file's 16 KiB
    /// blocks, 32 bytes. `None` for v1-only torrents, empty files,
    /// symlinks and pad files.
    pub const fn pieces_root(&self) -> Option<&[u8; 32]> {
        self.pieces_root.as_ref()
    }

    /// BEP 47 `mtime`, seconds since the Unix epoch, if given.
    pub const fn mtime(&self) -> Option<i64> {
        self.mtime
    }
}

impl fmt::Debug for FileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FileEntry");
        d.field("path", &self.path)
            .field("length", &self.length)
            .field("offset", &self.offset);
        if self.attr != FileAttr::default() {
            d.field("attr", &self.attr);
        }
        if let Some(s) = &self.symlink {
            d.field("symlink", s);
        }
        d.finish_non_exhaustive()
    }
}

/// A contiguous part of one file inside a byte range of the torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileSpan {
    /// Index of the file in [`Info::files`](crate::Info::files) (pad files
    /// included: check [`FileEntry::is_pad`] before writing).
    pub file: usize,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes, at least 1.
    pub len: u64,
}

/// Iterator of [`FileSpan`]s, from [`Info::file_spans`](crate::Info::file_spans).
#[derive(Clone, Debug)]
pub struct FileSpans<'a> {
    files: &'a [FileEntry],
    next_file: usize,
    pos: u64,
    end: u64,
}

impl<'a> FileSpans<'a> {
    /// Spans of `files` (sorted by offset, contiguous) that cover
    /// `offset..offset + len`, clipped to the end of the last file.
    pub(crate) fn new(files: &'a [FileEntry], offset: u64, len: u64) -> Self {
        let total = files.last().map_or(0, |f| f.offset + f.length);
        let end = offset.saturating_add(len).min(total);
        // First file whose end is past `offset`; empty files are skipped by
        // `next`.
        let next_file = files.partition_point(|f| f.offset + f.length <= offset);
        FileSpans {
            files,
            next_file,
            pos: offset,
            end,
        }
    }
}

impl Iterator for FileSpans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.pos < self.end {
            let i = self.next_file;
            let f = self.files.get(i)?;
            self.next_file += 1;
            let f_end = f.offset + f.length;
            if f.length == 0 || f_end <= self.pos {
                continue;
            }
            let take = f_end.min(self.end) - self.pos;
            let span = FileSpan {
                file: i,
                offset: self.pos - f.offset,
                len: take,
            };
            self.pos += take;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn layout(lengths: &[u64]) -> Vec<FileEntry> {
        let mut offset = 0;
        lengths
            .iter()
            .enumerate()
            .map(|(i, &length)| {
                let f = FileEntry {
                    path: FilePath::from_components([format!("f{i}")]),
                    raw_path: Vec::new(),
                    length,
                    offset,
                    attr: FileAttr::default(),
                    symlink: None,
                    pieces_root: None,
                    mtime: None,
                    synthetic: false,
                };
                offset += length;
                f
            })
            .collect()
    }

    #[test]
    fn worked_example() {
        // Files of 5, 0, 3 and 10 bytes; bytes 4..10 touch three of them.
        let files = layout(&[5, 0, 3, 10]);
        let spans: Vec<_> = FileSpans::new(&files, 4, 6).collect();
        assert_eq!(
            spans,
            [
                FileSpan {
                    file: 0,
                    offset: 4,
                    len: 1
                },
                FileSpan {
                    file: 2,
                    offset: 0,
                    len: 3
                },
                FileSpan {
                    file: 3,
                    offset: 0,
                    len: 2
                },
            ]
        );
        assert_eq!(FileSpans::new(&files, 18, 5).count(), 0);
        assert_eq!(
            FileSpans::new(&files, 17, 5).collect::<Vec<_>>(),
            [FileSpan {
                file: 3,
                offset: 9,
                len: 1
            }]
        );
        assert_eq!(FileSpans::new(&files, 0, 0).count(), 0);
    }

    #[test]
    fn attr_letters() {
        assert_eq!(
            format!("{:?}", FileAttr::parse(b"phxl")),
            "FileAttr(\"pxhl\")"
        );
        assert_eq!(FileAttr::parse(b""), FileAttr::default());
    }

    proptest! {
        #[test]
        fn spans_cover_range_exactly(
            lengths in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..50, 1u64..5000], 1..20),
            off in 0u64..40_000,
            len in 0u64..40_000,
        ) {
            let files = layout(&lengths);
            let total: u64 = lengths.iter().sum();
            let spans: Vec<_> = FileSpans::new(&files, off, len).collect();
            let want = off.saturating_add(len).min(total).saturating_sub(off);
            prop_assert_eq!(spans.iter().map(|s| s.len).sum::<u64>(), want);
            // In order, contiguous in torrent space, inside their files, no overlap.
            let mut pos = off;
            let mut last_file = None;
            for s in &spans {
                let f = &files[s.file];
                prop_assert!(s.len >= 1);
                prop_assert!(s.offset + s.len <= f.length);
                prop_assert_eq!(f.offset + s.offset, pos);
                prop_assert!(last_file.is_none_or(|l| l < s.file));
                last_file = Some(s.file);
                pos += s.len;
            }
        }
    }
}
