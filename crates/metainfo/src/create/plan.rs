//! Planning: the order of files, pad files, and the pieces to hash.

use super::builder::TorrentVersion;
use super::content::Content;

#[derive(Clone, Copy, Debug)]
pub(super) enum V1Entry {
    File(usize),
    Pad(u64),
}

/// One piece to hash: `len` bytes of data, read from the files in
/// `Plan::read_order` in sequence. For v1, the hash covers `len` bytes plus
/// `v1_pad` zero bytes. For v2, the piece lies inside file `v2_file`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PieceSpec {
    pub(super) len: u32,
    pub(super) v1_pad: u32,
    pub(super) v2_file: Option<usize>,
    /// The file has a single piece: its v2 root is the tree over the
    /// piece's leaves padded only to a power of two.
    pub(super) v2_single: bool,
}

#[derive(Debug)]
pub(super) struct Plan {
    pub(super) version: TorrentVersion,
    pub(super) piece_length: u32,
    /// Content file indices, in the order their bytes are read.
    pub(super) read_order: Vec<usize>,
    pub(super) v1_entries: Vec<V1Entry>,
    pub(super) pieces: Vec<PieceSpec>,
}

impl Plan {
    pub(super) fn new(content: &Content, version: TorrentVersion, piece_length: u32) -> Plan {
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
