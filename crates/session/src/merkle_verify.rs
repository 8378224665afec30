//! Piece verification for every torrent version: SHA-1 piece hashes (BEP 3)
//! and SHA-256 merkle trees per file (BEP 52), both on hybrids.
//!
//! A v2 piece lies in one file (files start on piece boundaries; the gap
//! after a file is a pad the storage never writes). Its hash is the merkle
//! root of the SHA-256 of its 16 KiB blocks that hold file data, padded with
//! zero leaves to the piece's width. That hash comes from the file's piece
//! layer (from the `.torrent` file, or from peers with BEP 52 `hashes`,
//! `hash_exchange.rs`); for a file of at most one piece it is the file's
//! `pieces root` itself, whose tree is only as wide as its blocks need.
//!
//! Every layer is checked against the file's `pieces root` before it is
//! stored, so nothing a peer says is trusted before it is proven. Layers
//! are stored per chunk of [`LAYER_CHUNK`] hashes in `OnceLock`s: the
//! hashing threads read them without a lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use seedbed_metainfo::create::merkle::{self, Hash256, PieceTree};
use seedbed_metainfo::{Info, PieceIndex, BLOCK_SIZE};
use seedbed_peer_wire::{Bitfield, BlockRequest};
use sha2::{Digest, Sha256};

use crate::handle::{Event, Status};
use crate::hash_exchange::Inflight;
use crate::torrent::{PeerCmd, TorrentShared};

/// Hashes of a piece layer fetched with one `hash request`: BEP 52 says a
/// request SHOULD NOT ask for more than 512, and libtorrent asks in chunks
/// of 512 too.
pub(crate) const LAYER_CHUNK: u32 = 512;

/// What checking a complete piece found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every hash the torrent has for the piece matches.
    Pass,
    /// The data is wrong.
    Fail,
    /// A hybrid torrent whose v1 and v2 hashes disagree: the data matches
    /// one and not the other, so the torrent itself is bad (BEP 52,
    /// "Upgrade Path").
    Inconsistent,
}

/// The verification state of one torrent: its v2 hashes, if any, and the
/// time spent hashing.
#[derive(Debug, Default)]
pub(crate) struct Verifier {
    /// The BEP 52 hashes of v2 and hybrid torrents.
    pub(crate) v2: Option<V2Hashes>,
    /// Nanoseconds the hashing threads spent hashing this torrent's pieces.
    nanos: AtomicU64,
}

impl Verifier {
    /// The state for `info`: v2 hashes with every `pieces root` and no
    /// piece layer yet ([`V2Hashes::load_layer`] adds them).
    pub(crate) fn new(info: &Info) -> Verifier {
        Verifier {
            v2: info.has_v2().then(|| V2Hashes::new(info)),
            nanos: AtomicU64::new(0),
        }
    }

    /// Checks a complete piece given as consecutive blocks (any sizes)
    /// against the torrent's SHA-1 hash and its merkle hash, whichever it
    /// has (both on hybrids; a hybrid piece whose layer is not known yet is
    /// checked with SHA-1 alone). Runs on a hashing thread.
    pub(crate) fn verify(&self, info: &Info, piece: PieceIndex, blocks: &[Bytes]) -> Verdict {
        let started = Instant::now();
        let v1 = info
            .piece_hash_v1(piece)
            .map(|h| *h == crate::verify::sha1_blocks(blocks));
        let v2 = self.v2.as_ref().and_then(|v| v.check(info, piece, blocks));
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        match (v1, v2) {
            (Some(a), Some(b)) if a != b => Verdict::Inconsistent,
            (Some(true), _) | (None, Some(true)) => Verdict::Pass,
            _ => Verdict::Fail,
        }
    }

    /// Time spent hashing pieces so far.
    pub(crate) fn hashing_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

impl TorrentShared {
    /// Whether `r` asks for a block of a v2-only torrent's last piece that
    /// lies (partly) past the torrent's end but within a whole piece.
    /// libtorrent pads a v2-only torrent's last file to a piece boundary, as
    /// it pads the others (BEP 52 aligns files to pieces), so it asks for
    /// the last piece's blocks at full size; those bytes read as zeros.
    pub(crate) fn v2_tail_block(&self, r: &BlockRequest) -> bool {
        let g = self.info.geometry();
        !self.info.has_v1()
            && r.piece + 1 == g.num_pieces()
            && r.begin % BLOCK_SIZE == 0
            && r.length > 0
            && u64::from(r.begin) + u64::from(r.length) <= u64::from(g.piece_length())
            && r.begin < g.last_piece_length().next_multiple_of(BLOCK_SIZE)
    }

    /// A hybrid torrent's piece matched one of its two hashes and not the
    /// other: the torrent is bad (BEP 52, "Upgrade Path"). Reported with
    /// [`Event::InconsistentHashes`] and [`Status::Failed`]; the torrent
    /// stops (no peer is blamed: the data was fine for one hash).
    pub(crate) fn inconsistent_hashes(&self, piece: PieceIndex) {
        let msg = format!(
            "bad hybrid torrent: piece {piece} matches one of its v1 (SHA-1) and \
             v2 (SHA-256) hashes and not the other"
        );
        tracing::error!("{msg}");
        let mut st = self.lock();
        st.picker.piece_checked(piece, false);
        st.closed = true;
        for p in st.peers.values() {
            let _ = p.tx.send(PeerCmd::Disconnect);
        }
        drop(st);
        self.emit(Event::InconsistentHashes { piece: piece.get() });
        self.set_status(Status::Failed(msg));
    }
}

/// One file of a v2 (or hybrid) torrent that holds data.
#[derive(Debug)]
pub(crate) struct V2File {
    /// Index in [`Info::files`].
    pub(crate) file: usize,
    /// The piece holding the file's first byte.
    pub(crate) first_piece: u32,
    /// Pieces holding the file's bytes.
    pub(crate) num_pieces: u32,
    /// Length in bytes.
    pub(crate) length: u64,
    /// BEP 52 `pieces root`.
    pub(crate) root: Hash256,
    /// The piece layer, in chunks of [`LAYER_CHUNK`] hashes (none for a
    /// file of one piece).
    chunks: Box<[OnceLock<Box<[Hash256]>>]>,
    /// The tree from the piece layer up, once the whole layer is known.
    tree: OnceLock<Option<PieceTree>>,
}

impl V2File {
    /// Whether the file fits in one piece: its piece hash is its root.
    pub(crate) fn is_small(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Number of piece-layer chunks.
    pub(crate) fn num_chunks(&self) -> u32 {
        self.chunks.len() as u32
    }

    /// Whether chunk `c` of the layer is known.
    pub(crate) fn has_chunk(&self, c: u32) -> bool {
        self.chunks
            .get(c as usize)
            .is_some_and(|x| x.get().is_some())
    }

    /// Whether every piece hash of the file is known.
    pub(crate) fn has_layer(&self) -> bool {
        self.chunks.iter().all(|c| c.get().is_some())
    }

    /// The hash of the file's `i`-th piece, if known.
    pub(crate) fn piece_hash(&self, i: u32) -> Option<Hash256> {
        if self.is_small() {
            return (i == 0).then_some(self.root);
        }
        let chunk = self.chunks.get((i / LAYER_CHUNK) as usize)?.get()?;
        chunk.get((i % LAYER_CHUNK) as usize).copied()
    }

    /// The tree above the piece layer, built on first use once the whole
    /// layer is known; `None` before that and for files of one piece.
    pub(crate) fn tree(&self, piece_length: u32) -> Option<&PieceTree> {
        if self.is_small() || !self.has_layer() {
            return None;
        }
        self.tree
            .get_or_init(|| {
                let layer: Vec<Hash256> = self
                    .chunks
                    .iter()
                    .filter_map(|c| c.get())
                    .flat_map(|c| c.iter().copied())
                    .collect();
                PieceTree::new(&layer, piece_length)
                    .ok()
                    .filter(|t| t.root() == self.root)
            })
            .as_ref()
    }

    /// The pieces (torrent indices) of chunk `c`.
    pub(crate) fn chunk_pieces(&self, c: u32) -> std::ops::Range<u32> {
        let start = c * LAYER_CHUNK;
        let end = ((c + 1) * LAYER_CHUNK).min(self.num_pieces);
        self.first_piece + start..self.first_piece + end
    }
}

/// The BEP 52 hashes of one torrent: every data file's `pieces root` and
/// the piece layers known so far.
#[derive(Debug)]
pub(crate) struct V2Hashes {
    piece_length: u32,
    /// Data files in torrent order (so by `first_piece`).
    pub(crate) files: Vec<V2File>,
    /// `pieces root` to indices in `files`: identical files share a root.
    by_root: HashMap<Hash256, Vec<usize>>,
    /// Layer chunks not known yet, over all files.
    missing: AtomicUsize,
    /// Pieces whose hash is known (kept while chunks are missing).
    known: Mutex<Bitfield>,
    /// v2-only: a piece is picked only once its hash is known (a hybrid
    /// piece can always be checked with SHA-1).
    pub(crate) gate: bool,
    /// Layer chunks being fetched from peers.
    pub(crate) inflight: Mutex<Inflight>,
}

impl V2Hashes {
    /// Every data file of `info` with its `pieces root`, no piece layer.
    pub(crate) fn new(info: &Info) -> V2Hashes {
        let g = info.geometry();
        let pl = u64::from(g.piece_length());
        let mut files = Vec::new();
        let mut by_root: HashMap<Hash256, Vec<usize>> = HashMap::new();
        let mut known = Bitfield::new(g.num_pieces());
        let mut missing = 0;
        for (i, f) in info.files().iter().enumerate() {
            let Some(root) = f.pieces_root() else {
                continue;
            };
            if f.is_pad() || f.length() == 0 {
                continue;
            }
            let first_piece = (f.offset() / pl) as u32;
            let num_pieces = f.length().div_ceil(pl) as u32;
            let chunks = if f.length() <= pl {
                known.set(first_piece, true);
                0
            } else {
                num_pieces.div_ceil(LAYER_CHUNK)
            };
            missing += chunks as usize;
            by_root.entry(*root).or_default().push(files.len());
            files.push(V2File {
                file: i,
                first_piece,
                num_pieces,
                length: f.length(),
                root: *root,
                chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
                tree: OnceLock::new(),
            });
        }
        V2Hashes {
            piece_length: g.piece_length(),
            files,
            by_root,
            missing: AtomicUsize::new(missing),
            known: Mutex::new(known),
            gate: !info.has_v1(),
            inflight: Mutex::new(Inflight::default()),
        }
    }

    /// Piece length in bytes.
    pub(crate) fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// The data file holding piece `piece`.
    pub(crate) fn file_of(&self, piece: u32) -> Option<&V2File> {
        let i = self.files.partition_point(|f| f.first_piece <= piece);
        let f = self.files.get(i.checked_sub(1)?)?;
        (piece < f.first_piece + f.num_pieces).then_some(f)
    }

    /// Indices in `files` of the files with this `pieces root`.
    pub(crate) fn files_with_root(&self, root: &Hash256) -> &[usize] {
        self.by_root.get(root).map_or(&[], Vec::as_slice)
    }

    /// Whether every piece hash is known.
    pub(crate) fn complete(&self) -> bool {
        self.missing.load(Ordering::Acquire) == 0
    }

    /// `has` restricted to pieces whose hash is known, for the picker of a
    /// v2-only torrent; `None` when nothing needs hiding.
    pub(crate) fn pickable(&self, has: &Bitfield) -> Option<Bitfield> {
        if !self.gate || self.complete() {
            return None;
        }
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: Vec<u8> = has
            .as_bytes()
            .iter()
            .zip(known.as_bytes())
            .map(|(a, b)| a & b)
            .collect();
        Bitfield::from_payload(&bytes, has.len()).ok()
    }

    /// Stores a whole piece layer for data file `file` (index in
    /// [`Info::files`]) after checking it against the file's `pieces root`:
    /// `ceil(length / piece length)` hashes of 32 bytes. `false` (nothing
    /// stored) when it does not match or the file has no layer.
    pub(crate) fn load_layer(&self, file: usize, layer: &[u8]) -> bool {
        let Some(k) = self.files.iter().position(|f| f.file == file) else {
            return false;
        };
        let f = &self.files[k];
        if f.is_small() || !merkle::verify_piece_layer(layer, f.length, self.piece_length, &f.root)
        {
            return false;
        }
        let hashes: Vec<Hash256> = layer
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32-byte chunk"))
            .collect();
        for c in 0..f.num_chunks() {
            let start = (c * LAYER_CHUNK) as usize;
            let end = (start + LAYER_CHUNK as usize).min(hashes.len());
            self.set_chunk(k, c, hashes[start..end].into());
        }
        true
    }

    /// Checks the piece-layer hashes of a BEP 52 `hashes` answer to our
    /// request (`base` the piece layer, `index` a chunk start) against the
    /// `pieces root` of every file with that root, with the `uncles`, and
    /// stores the chunk for each file they prove. Returns how many files
    /// it proved; 0 means the hashes are wrong (a lying or broken peer).
    pub(crate) fn accept_hashes(
        &self,
        root: &Hash256,
        base: u32,
        index: u32,
        hashes: &[Hash256],
        uncles: &[Hash256],
    ) -> usize {
        let count = hashes.len() as u32;
        if count < 2 || !count.is_power_of_two() || index % LAYER_CHUNK != 0 {
            return 0;
        }
        let piece_layer = (self.piece_length / BLOCK_SIZE).trailing_zeros();
        if base != piece_layer {
            return 0;
        }
        let mut proved = 0;
        for &k in self.files_with_root(root) {
            let f = &self.files[k];
            if f.is_small() {
                continue;
            }
            let height = merkle::tree_height(f.length);
            let reached = base + count.trailing_zeros() + uncles.len() as u32;
            if reached != height
                || merkle::root_from_proof(hashes, u64::from(index), uncles) != Some(f.root)
            {
                continue;
            }
            let c = index / LAYER_CHUNK;
            let real = f.chunk_pieces(c).len();
            if c >= f.num_chunks() || real > hashes.len() {
                continue;
            }
            self.set_chunk(k, c, hashes[..real].into());
            proved += 1;
        }
        proved
    }

    fn set_chunk(&self, k: usize, c: u32, hashes: Box<[Hash256]>) {
        let f = &self.files[k];
        if f.chunks[c as usize].set(hashes).is_ok() {
            self.missing.fetch_sub(1, Ordering::AcqRel);
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            for p in f.chunk_pieces(c) {
                known.set(p, true);
            }
        }
    }

    /// Checks piece `piece` (consecutive blocks of any sizes) against its
    /// merkle hash; `None` when the hash is not known.
    pub(crate) fn check(&self, info: &Info, piece: PieceIndex, blocks: &[Bytes]) -> Option<bool> {
        let f = self.file_of(piece.get())?;
        let expected = f.piece_hash(piece.get() - f.first_piece)?;
        let g = info.geometry();
        let entry = &info.files()[f.file];
        let end = entry.offset() + entry.length();
        let data = (end - g.piece_offset(piece)).min(u64::from(g.piece_len(piece))) as usize;
        let leaves = leaf_hashes(blocks, data);
        let width = if f.is_small() {
            1
        } else {
            (self.piece_length / BLOCK_SIZE) as usize
        };
        Some(merkle::merkle_root(&leaves, width, &[0; 32]) == expected)
    }
}

/// SHA-256 of each 16 KiB block of the first `len` bytes of `blocks` (the
/// last block may be shorter): the merkle leaves (BEP 52). Blocks that are
/// 16 KiB each (as peers send them) are hashed in place; others are
/// streamed across their boundaries.
pub(crate) fn leaf_hashes(blocks: &[Bytes], len: usize) -> Vec<Hash256> {
    let leaf = BLOCK_SIZE as usize;
    let mut out = Vec::with_capacity(len.div_ceil(leaf));
    let mut h = Sha256::new();
    let mut fill = 0usize;
    let mut left = len;
    for b in blocks {
        let mut b = &b[..b.len().min(left)];
        left -= b.len();
        while !b.is_empty() {
            if fill == 0 && b.len() >= leaf {
                out.push(Sha256::digest(&b[..leaf]).into());
                b = &b[leaf..];
                continue;
            }
            let take = (leaf - fill).min(b.len());
            h.update(&b[..take]);
            fill += take;
            b = &b[take..];
            if fill == leaf {
                out.push(std::mem::take(&mut h).finalize().into());
                fill = 0;
            }
        }
        if left == 0 {
            break;
        }
    }
    if fill > 0 {
        out.push(h.finalize().into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedbed_metainfo::{Torrent, TorrentBuilder, TorrentVersion};

    /// Files that straddle pieces, one smaller than a block, an empty one,
    /// one of exactly one piece and one over 512 pieces (two layer chunks).
    fn content(dir: &std::path::Path) -> std::path::PathBuf {
        let base = dir.join("content");
        std::fs::create_dir_all(base.join("sub")).unwrap();
        let bytes = |n: usize, seed: u8| -> Vec<u8> {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 11) as u8)
                .collect()
        };
        std::fs::write(base.join("a.bin"), bytes(100_000, 1)).unwrap();
        std::fs::write(base.join("sub/b.bin"), bytes(5_000, 2)).unwrap();
        std::fs::write(base.join("sub/c.bin"), bytes(32_768, 3)).unwrap();
        std::fs::write(base.join("sub/empty"), b"").unwrap();
        std::fs::write(base.join("z.bin"), bytes(513 * 32_768 + 77, 4)).unwrap();
        base
    }

    fn torrent(dir: &std::path::Path, version: TorrentVersion) -> Torrent {
        let created = TorrentBuilder::new(version)
            .piece_length(32_768)
            .build_from_path(content(dir), |_, _| {})
            .unwrap();
        Torrent::from_bytes(created.into_bytes()).unwrap()
    }

    /// Piece `p` of the torrent's byte stream (pads as zeros) in blocks of
    /// `block` bytes.
    fn piece(info: &Info, root: &std::path::Path, p: PieceIndex, block: usize) -> Vec<Bytes> {
        let g = info.geometry();
        let mut data = vec![0u8; g.piece_len(p) as usize];
        let mut pos = 0;
        for span in info.file_spans(g.piece_offset(p), data.len() as u64) {
            let entry = &info.files()[span.file];
            if !entry.is_pad() {
                let whole = std::fs::read(entry.path().to_path_buf_under(root)).unwrap();
                let at = span.offset as usize;
                data[pos..pos + span.len as usize]
                    .copy_from_slice(&whole[at..at + span.len as usize]);
            }
            pos += span.len as usize;
        }
        data.chunks(block).map(Bytes::copy_from_slice).collect()
    }

    fn loaded(t: &Torrent) -> Verifier {
        let v = Verifier::new(t.info());
        let v2 = v.v2.as_ref().unwrap();
        for (i, _) in t.info().files().iter().enumerate() {
            if let Some(layer) = t.piece_layer(i) {
                assert!(v2.load_layer(i, layer), "file {i}");
            }
        }
        assert!(v2.complete());
        v
    }

    #[test]
    fn every_piece_of_v2_and_hybrid_passes_and_a_flipped_byte_fails() {
        for version in [TorrentVersion::V2, TorrentVersion::Hybrid] {
            let dir = tempfile::tempdir().unwrap();
            let t = torrent(dir.path(), version);
            let info = t.info();
            let v = loaded(&t);
            let v2 = v.v2.as_ref().unwrap();
            for p in info.geometry().pieces() {
                // The big file's middle pieces are like its others (and
                // slow to hash in a debug build): its ends and chunk edge.
                let f = v2.file_of(p.get()).unwrap();
                let i = p.get() - f.first_piece;
                if f.num_chunks() == 2 && ![0, 1, 511, 512, f.num_pieces - 1].contains(&i) {
                    continue;
                }
                for block in [16_384, 1_000, 32_768] {
                    let blocks = piece(info, dir.path(), p, block);
                    assert_eq!(v.verify(info, p, &blocks), Verdict::Pass, "{version:?} {p}");
                }
                let mut blocks = piece(info, dir.path(), p, 16_384);
                let mut first = blocks[0].to_vec();
                first[7] ^= 0x40;
                blocks[0] = first.into();
                assert_eq!(v.verify(info, p, &blocks), Verdict::Fail, "{version:?} {p}");
            }
            assert!(v.hashing_time() > std::time::Duration::ZERO);
        }
    }

    #[test]
    fn pad_bytes_are_not_part_of_a_v2_hash() {
        // v2-only: the bytes after a file's end in its last piece are not
        // hashed (a hybrid's SHA-1 covers them as zeros).
        let dir = tempfile::tempdir().unwrap();
        let t = torrent(dir.path(), TorrentVersion::V2);
        let info = t.info();
        let v = loaded(&t);
        let first = info.geometry().piece(3).unwrap(); // a.bin's last piece
        let mut blocks = piece(info, dir.path(), first, 16_384);
        let last = blocks.len() - 1;
        blocks[last] = Bytes::from(vec![0xee; blocks[last].len()]);
        assert_eq!(v.verify(info, first, &blocks), Verdict::Pass);
    }

    #[test]
    fn hybrid_whose_hashes_disagree_is_inconsistent() {
        // The same content, but piece 0's SHA-1 taken from other data: the
        // piece matches its v2 hash and not its v1 hash.
        let dir = tempfile::tempdir().unwrap();
        let t = torrent(dir.path(), TorrentVersion::Hybrid);
        let info = t.info();
        let v = loaded(&t);
        let p = info.geometry().piece(0).unwrap();
        let good = piece(info, dir.path(), p, 16_384);
        assert_eq!(v.verify(info, p, &good), Verdict::Pass);
        // Data that matches neither is plain bad data.
        let bad: Vec<Bytes> = good.iter().map(|b| Bytes::from(vec![1; b.len()])).collect();
        assert_eq!(v.verify(info, p, &bad), Verdict::Fail);
        // Swap the v1 piece hashes of pieces 0 and 1 in the info dict:
        // piece 0's data then matches its v2 hash only.
        let raw = info.raw().to_vec();
        let h0 = info.piece_hash_v1(p).unwrap().to_vec();
        let h1 = info
            .piece_hash_v1(info.geometry().piece(1).unwrap())
            .unwrap()
            .to_vec();
        let at = raw
            .windows(40)
            .position(|w| w[..20] == h0[..] && w[20..] == h1[..])
            .unwrap();
        let mut swapped = raw.clone();
        swapped[at..at + 20].copy_from_slice(&h1);
        swapped[at + 20..at + 40].copy_from_slice(&h0);
        let bad_info = Info::from_bytes(swapped).unwrap();
        let v2 = Verifier::new(&bad_info);
        for (i, _) in bad_info.files().iter().enumerate() {
            if let Some(layer) = t.piece_layer(i) {
                assert!(v2.v2.as_ref().unwrap().load_layer(i, layer));
            }
        }
        assert_eq!(v2.verify(&bad_info, p, &good), Verdict::Inconsistent);
    }

    #[test]
    fn v2_pieces_wait_for_their_layer_and_layers_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let t = torrent(dir.path(), TorrentVersion::V2);
        let info = t.info();
        let v = Verifier::new(info);
        let v2 = v.v2.as_ref().unwrap();
        assert!(v2.gate && !v2.complete());
        // Small files' pieces are known from their roots, the others not.
        let n = info.geometry().num_pieces();
        let picked = v2.pickable(&Bitfield::full(n)).unwrap();
        let big = v2.files.iter().find(|f| f.num_chunks() == 2).unwrap();
        assert!(!picked.get(big.first_piece));
        let small = v2.files.iter().find(|f| f.is_small()).unwrap();
        assert!(picked.get(small.first_piece));
        let p = info.geometry().piece(big.first_piece).unwrap();
        let blocks = piece(info, dir.path(), p, 16_384);
        assert_eq!(v.verify(info, p, &blocks), Verdict::Fail, "unknown hash");
        // A layer with one wrong hash is refused; the right one is kept.
        let layer = t.piece_layer(big.file).unwrap().to_vec();
        let mut wrong = layer.clone();
        wrong[100] ^= 1;
        assert!(!v2.load_layer(big.file, &wrong));
        assert!(!v2.load_layer(big.file, &layer[32..]));
        assert!(v2.load_layer(big.file, &layer));
        assert_eq!(v.verify(info, p, &blocks), Verdict::Pass);
        assert!(big.tree(32_768).is_some_and(|t| t.root() == big.root));
        let a = v2.files.iter().find(|f| f.num_chunks() == 1).unwrap();
        assert!(v2.load_layer(a.file, t.piece_layer(a.file).unwrap()));
        assert!(v2.complete() && v2.pickable(&Bitfield::full(n)).is_none());
    }

    #[test]
    fn hashes_answers_are_proven_chunk_by_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let t = torrent(dir.path(), TorrentVersion::V2);
        let v = Verifier::new(t.info());
        let v2 = v.v2.as_ref().unwrap();
        let k = v2.files.iter().position(|f| f.num_chunks() == 2).unwrap();
        let f = &v2.files[k];
        let layer: Vec<Hash256> = t
            .piece_layer(f.file)
            .unwrap()
            .chunks(32)
            .map(|c| c.try_into().unwrap())
            .collect();
        let tree = PieceTree::new(&layer, 32_768).unwrap();
        let base = tree.piece_layer();
        let height = merkle::tree_height(f.length);
        // Chunk 1: pieces 512.., asked as 2 hashes (513 pieces), proven up
        // to the root.
        let answer = |index: u32, count: u32| -> (Vec<Hash256>, Vec<Hash256>) {
            let hashes = (index..index + count)
                .map(|i| tree.node(base, u64::from(i)).unwrap())
                .collect();
            let uncles = merkle::uncle_positions(
                base,
                u64::from(index),
                u64::from(count),
                height - base - 1,
            )
            .map(|(l, p)| tree.node(l, p).unwrap())
            .collect();
            (hashes, uncles)
        };
        let (h, mut u) = answer(512, 2);
        u[0][3] ^= 1;
        assert_eq!(v2.accept_hashes(&f.root, base, 512, &h, &u), 0, "bad uncle");
        u[0][3] ^= 1;
        let mut bad = h.clone();
        bad[0][0] ^= 1;
        assert_eq!(
            v2.accept_hashes(&f.root, base, 512, &bad, &u),
            0,
            "bad hash"
        );
        assert_eq!(
            v2.accept_hashes(&f.root, base, 512, &h, &u[1..]),
            0,
            "short proof"
        );
        assert_eq!(
            v2.accept_hashes(&f.root, base + 1, 512, &h, &u),
            0,
            "wrong layer"
        );
        assert_eq!(
            v2.accept_hashes(&[9; 32], base, 512, &h, &u),
            0,
            "no such root"
        );
        assert!(!f.has_chunk(1));
        assert_eq!(v2.accept_hashes(&f.root, base, 512, &h, &u), 1);
        assert!(f.has_chunk(1) && !f.has_layer());
        let (h, u) = answer(0, 512);
        assert_eq!(v2.accept_hashes(&f.root, base, 0, &h, &u), 1);
        assert!(f.has_layer());
        assert_eq!(f.piece_hash(512), Some(layer[512]));
        assert_eq!(f.piece_hash(513), Some(layer[513]));
        assert_eq!(f.piece_hash(514), None);
    }

    #[test]
    fn leaves_over_any_block_sizes() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let want = merkle::block_hashes(&data[..70_001]);
        for size in [1, 999, 16_384, 20_000, 100_000] {
            let blocks: Vec<Bytes> = data.chunks(size).map(Bytes::copy_from_slice).collect();
            assert_eq!(leaf_hashes(&blocks, 70_001), want, "{size}");
        }
        assert!(leaf_hashes(&[], 0).is_empty());
    }
}
