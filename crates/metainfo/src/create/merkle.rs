//! BEP 52 merkle hashing: the `pieces root` of a file and its `piece layers`
//! entry.
//!
//! A file is split into 16 KiB blocks ([`BLOCK_SIZE`], the last one may be
//! shorter); each block's SHA-256 is a leaf. The leaves are padded with
//! all-zero hashes to a power of two and hashed pairwise up to the root,
//! the file's `pieces root`. The layer `log2(piece length / 16 KiB)` above
//! the leaves is the file's piece layer: one hash per piece, each the root
//! of that piece's (zero-padded) blocks. Files no larger than one piece
//! have no piece layer entry. Empty files have neither.
//!
//! Used by the creator; also what a reader or a session needs to check a
//! `piece layers` entry against its `pieces root` ([`verify_piece_layer`])
//! and a downloaded piece against its layer hash ([`piece_root`]).
//!
//! ```
//! use seedbed_metainfo::create::merkle::{piece_root, FileHasher, BLOCK_SIZE};
//!
//! let piece_length = 32 * 1024;
//! let data = vec![7u8; 3 * BLOCK_SIZE + 100]; // 2 pieces
//! let mut h = FileHasher::new(piece_length)?;
//! h.update(&data[..1000]);
//! h.update(&data[1000..]);
//! let file = h.finish();
//! assert_eq!(file.piece_layer.len(), 2);
//! assert_eq!(file.piece_layer[1], piece_root(&data[32 * 1024..], piece_length)?);
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The merkle leaf size, 16 KiB (BEP 52).
pub const BLOCK_SIZE: usize = 16 * 1024;

/// A SHA-256 hash: a leaf, an inner node or a root.
pub type Hash256 = [u8; 32];

/// SHA-256 of `left || right`.
pub fn hash_pair(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The leaf hashes of `data`: SHA-256 of each 16 KiB block, the last block
/// possibly shorter. Empty data has no leaves.
pub fn block_hashes(data: &[u8]) -> Vec<Hash256> {
    data.chunks(BLOCK_SIZE)
        .map(|b| Sha256::digest(b).into())
        .collect()
}

/// The root of a subtree of `leaves` all-zero leaves (`leaves` a power of
/// two; 1 gives the zero hash). This is the pad value at the piece layer
/// for `leaves` = blocks per piece.
pub fn pad_hash(leaves: usize) -> Hash256 {
    let mut pad = [0u8; 32];
    let mut n = 1;
    while n < leaves {
        pad = hash_pair(&pad, &pad);
        n *= 2;
    }
    pad
}

/// The root of a tree whose bottom layer is `hashes` padded with `pad` to
/// a power of two of at least `min_width` entries. `pad` is the value of a
/// missing node at the bottom layer (zero for leaves, [`pad_hash`] for a
/// piece layer); missing nodes above are hashes of two pads. With no
/// hashes and `min_width` ≤ 1 the root is `pad`.
pub fn merkle_root(hashes: &[Hash256], min_width: usize, pad: &Hash256) -> Hash256 {
    let width = hashes.len().max(min_width).max(1).next_power_of_two();
    let mut pad = *pad;
    let mut level: Vec<Hash256> = hashes.to_vec();
    let mut w = width;
    while w > 1 {
        if level.is_empty() {
            level.push(pad);
        }
        if level.len() % 2 == 1 {
            level.push(pad);
        }
        level = level
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
        pad = hash_pair(&pad, &pad);
        w /= 2;
    }
    level.first().copied().unwrap_or(pad)
}

fn blocks_per_piece(piece_length: u32) -> Result<usize, Error> {
    let pl = piece_length as usize;
    if !piece_length.is_power_of_two() || pl < BLOCK_SIZE {
        return Err(Error::InvalidPieceLength {
            piece_length: i64::from(piece_length),
            reason: "v2 piece length must be a power of two of at least 16 KiB",
        });
    }
    Ok(pl / BLOCK_SIZE)
}

/// The piece layer hash of one piece: the root of its blocks padded with
/// zero leaves to `piece_length / 16 KiB` leaves. `data` is the piece (the
/// last piece of a file may be shorter).
///
/// # Errors
/// [`Error::InvalidPieceLength`] unless `piece_length` is a power of two of
/// at least 16 KiB; [`Error::InvalidLength`] if `data` is longer than a
/// piece.
pub fn piece_root(data: &[u8], piece_length: u32) -> Result<Hash256, Error> {
    let bpp = blocks_per_piece(piece_length)?;
    if data.len() > piece_length as usize {
        return Err(Error::InvalidLength {
            expected: piece_length as usize,
            found: data.len(),
        });
    }
    Ok(merkle_root(&block_hashes(data), bpp, &[0; 32]))
}

/// The `pieces root` of a file of at most one piece, from all its data:
/// the leaves padded only to the next power of two. `None` for empty data.
pub fn small_file_root(data: &[u8]) -> Option<Hash256> {
    (!data.is_empty()).then(|| merkle_root(&block_hashes(data), 1, &[0; 32]))
}

/// The `pieces root` from a file's piece layer (files larger than one
/// piece): the layer padded with [`pad_hash`] of a piece to a power of two.
///
/// # Errors
/// [`Error::InvalidPieceLength`] unless `piece_length` is a power of two of
/// at least 16 KiB.
pub fn root_from_piece_layer(layer: &[Hash256], piece_length: u32) -> Result<Hash256, Error> {
    let bpp = blocks_per_piece(piece_length)?;
    Ok(merkle_root(layer, 1, &pad_hash(bpp)))
}

/// Checks a `piece layers` value (concatenated 32-byte hashes) for a file
/// of `file_length` bytes against its `pieces root`: it must hold exactly
/// `ceil(file_length / piece_length)` hashes and hash up to the root.
/// Files of at most one piece have no layer, so this is false for them.
pub fn verify_piece_layer(
    layer: &[u8],
    file_length: u64,
    piece_length: u32,
    pieces_root: &Hash256,
) -> bool {
    if blocks_per_piece(piece_length).is_err() || file_length <= u64::from(piece_length) {
        return false;
    }
    let pieces = file_length.div_ceil(u64::from(piece_length));
    if layer.len() as u64 != pieces * 32 {
        return false;
    }
    let hashes: Vec<Hash256> = layer
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32-byte chunk"))
        .collect();
    root_from_piece_layer(&hashes, piece_length).is_ok_and(|r| &r == pieces_root)
}

/// What [`FileHasher::finish`] returns for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHashes {
    /// The file length in bytes.
    pub length: u64,
    /// The `pieces root`; `None` for an empty file.
    pub root: Option<Hash256>,
    /// The piece layer, one hash per piece; empty for files of at most one
    /// piece (they have no `piece layers` entry).
    pub piece_layer: Vec<Hash256>,
}

/// Streaming BEP 52 hasher for one file: feed its bytes in any chunking
/// with [`update`](FileHasher::update), then [`finish`](FileHasher::finish).
#[derive(Debug)]
pub struct FileHasher {
    piece_length: u32,
    blocks_per_piece: usize,
    length: u64,
    block: Sha256,
    block_fill: usize,
    /// Leaves of the current piece.
    leaves: Vec<Hash256>,
    layer: Vec<Hash256>,
}

impl FileHasher {
    /// A hasher for a torrent with this piece length (bytes).
    ///
    /// # Errors
    /// [`Error::InvalidPieceLength`] unless `piece_length` is a power of
    /// two of at least 16 KiB.
    pub fn new(piece_length: u32) -> Result<Self, Error> {
        let bpp = blocks_per_piece(piece_length)?;
        Ok(FileHasher {
            piece_length,
            blocks_per_piece: bpp,
            length: 0,
            block: Sha256::new(),
            block_fill: 0,
            leaves: Vec::with_capacity(bpp),
            layer: Vec::new(),
        })
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_fill).min(data.len());
            self.block.update(&data[..take]);
            self.block_fill += take;
            data = &data[take..];
            if self.block_fill == BLOCK_SIZE {
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        let leaf = std::mem::take(&mut self.block).finalize().into();
        self.block_fill = 0;
        self.leaves.push(leaf);
        if self.leaves.len() == self.blocks_per_piece {
            self.end_piece();
        }
    }

    fn end_piece(&mut self) {
        let root = merkle_root(&self.leaves, self.blocks_per_piece, &[0; 32]);
        self.layer.push(root);
        self.leaves.clear();
    }

    /// The file's root and piece layer.
    pub fn finish(mut self) -> FileHashes {
        if self.block_fill > 0 {
            self.end_block();
        }
        let length = self.length;
        if length == 0 {
            return FileHashes {
                length,
                root: None,
                piece_layer: Vec::new(),
            };
        }
        if length <= u64::from(self.piece_length) {
            // One piece: the tree is only as wide as its leaves need.
            let leaves = if self.layer.is_empty() {
                self.leaves
            } else {
                // Exactly one full piece was already folded into the layer.
                return FileHashes {
                    length,
                    root: Some(self.layer[0]),
                    piece_layer: Vec::new(),
                };
            };
            return FileHashes {
                length,
                root: Some(merkle_root(&leaves, 1, &[0; 32])),
                piece_layer: Vec::new(),
            };
        }
        if !self.leaves.is_empty() {
            self.end_piece();
        }
        let root = merkle_root(&self.layer, 1, &pad_hash(self.blocks_per_piece));
        FileHashes {
            length,
            root: Some(root),
            piece_layer: self.layer,
        }
    }
}

/// The number of layers above the leaves in the merkle tree of a file of
/// `length` bytes (BEP 52): `log2` of its leaf count, the 16 KiB blocks
/// rounded up to a power of two. The root is at this layer; 0 for a file
/// of at most one block (its root is its only leaf).
pub fn tree_height(length: u64) -> u32 {
    let blocks = length.div_ceil(BLOCK_SIZE as u64).max(1);
    blocks.next_power_of_two().trailing_zeros()
}

/// Where the proof ("uncle") hashes of a BEP 52 `hashes` message sit in a
/// file's tree, in message order (bottom up): `(layer, position)`, layers
/// counted from the leaves (0), positions from the left of that layer.
///
/// The message carries `count` hashes of layer `base` from position
/// `index`, then one uncle for each of the `proof_layers` ancestor layers
/// whose node the base hashes cannot give: the first `log2(count) - 1` are
/// omitted (BEP 52, "hashes"). So the uncles are the siblings of the
/// subtree's root and of its ancestors, at layers `base + log2(count)` up to
/// `base + proof_layers`: `max(0, proof_layers + 1 - log2(count))` of them.
/// `count` must be a power of two of at least 2 (the BEP's rule; checked by
/// the caller); for other counts nothing is yielded.
pub fn uncle_positions(
    base: u32,
    index: u64,
    count: u64,
    proof_layers: u32,
) -> impl Iterator<Item = (u32, u64)> {
    let valid = count >= 2 && count.is_power_of_two();
    let k = count.trailing_zeros();
    let n = if valid {
        proof_layers.saturating_add(1).saturating_sub(k)
    } else {
        0
    };
    let top = index >> k.min(63);
    (0..n).map(move |j| {
        (
            base.saturating_add(k).saturating_add(j),
            (top >> j.min(63)) ^ 1,
        )
    })
}

/// The root reached from a run of `hashes` of one layer, starting at
/// position `index` of that layer, and the `uncles` of a BEP 52 `hashes`
/// message (bottom up, as [`uncle_positions`] orders them): the subtree of
/// the hashes is hashed up to its root, then each uncle is joined on the
/// side the position says. Compare the result with the file's `pieces
/// root`; the caller also checks that `log2(hashes.len()) + uncles.len()`
/// layers lead from the base layer to the root.
///
/// `None` unless `hashes.len()` is a power of two and `index` a multiple of
/// it.
///
/// ```
/// use seedbed_metainfo::create::merkle::{hash_pair, root_from_proof, uncle_positions};
///
/// let leaves: Vec<[u8; 32]> = (0..8u8).map(|i| [i; 32]).collect();
/// let pair = |a: usize, b: usize| hash_pair(&leaves[a], &leaves[b]);
/// let l1 = [pair(0, 1), pair(2, 3), pair(4, 5), pair(6, 7)];
/// let l2 = [hash_pair(&l1[0], &l1[1]), hash_pair(&l1[2], &l1[3])];
/// let root = hash_pair(&l2[0], &l2[1]);
/// // Leaves 4 and 5, proven by their uncles at layers 1 and 2.
/// let uncles: Vec<_> = uncle_positions(0, 4, 2, 2).collect();
/// assert_eq!(uncles, [(1, 3), (2, 0)]);
/// assert_eq!(root_from_proof(&leaves[4..6], 4, &[l1[3], l2[0]]), Some(root));
/// ```
pub fn root_from_proof(hashes: &[Hash256], index: u64, uncles: &[Hash256]) -> Option<Hash256> {
    let n = hashes.len();
    if n == 0 || !n.is_power_of_two() || index % n as u64 != 0 {
        return None;
    }
    let mut h = merkle_root(hashes, 1, &[0; 32]);
    let mut pos = index >> n.trailing_zeros();
    for u in uncles {
        h = if pos & 1 == 0 {
            hash_pair(&h, u)
        } else {
            hash_pair(u, &h)
        };
        pos >>= 1;
    }
    Some(h)
}

/// The nodes of a file's merkle tree from its piece layer up to the root
/// (BEP 52), for a file of more than one piece: what a peer that has the
/// piece layer can answer `hash request`s from.
///
/// Built from the piece layer (one hash per piece), padded with
/// [`pad_hash`] of a piece to a power of two, and hashed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceTree {
    /// The piece layer's index counted from the leaves: `log2(piece length
    /// / 16 KiB)`.
    piece_layer: u32,
    /// `levels[0]` is the padded piece layer, the last one the root.
    levels: Vec<Vec<Hash256>>,
}

impl PieceTree {
    /// The tree above `piece_layer` (a file's hashes, one per piece, at
    /// least one) for a torrent of `piece_length` bytes per piece.
    ///
    /// # Errors
    /// [`Error::InvalidPieceLength`] unless `piece_length` is a power of
    /// two of at least 16 KiB; [`Error::InvalidLength`] for an empty layer.
    pub fn new(piece_layer: &[Hash256], piece_length: u32) -> Result<Self, Error> {
        let bpp = blocks_per_piece(piece_length)?;
        if piece_layer.is_empty() {
            return Err(Error::InvalidLength {
                expected: 1,
                found: 0,
            });
        }
        let width = piece_layer.len().next_power_of_two();
        let mut level = piece_layer.to_vec();
        level.resize(width, pad_hash(bpp));
        let mut levels = vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = levels[levels.len() - 1]
                .chunks_exact(2)
                .map(|p| hash_pair(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Ok(PieceTree {
            piece_layer: bpp.trailing_zeros(),
            levels,
        })
    }

    /// The root: the file's `pieces root` if the layer was right.
    pub fn root(&self) -> Hash256 {
        self.levels[self.levels.len() - 1][0]
    }

    /// The layer of the piece hashes, counted from the leaves.
    pub fn piece_layer(&self) -> u32 {
        self.piece_layer
    }

    /// The node at `layer` (counted from the leaves, at least the piece
    /// layer) and `position` in it; `None` outside the tree.
    pub fn node(&self, layer: u32, position: u64) -> Option<Hash256> {
        let level = self
            .levels
            .get(layer.checked_sub(self.piece_layer)? as usize)?;
        level.get(usize::try_from(position).ok()?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> Hash256 {
        Sha256::digest(data).into()
    }

    #[test]
    fn small_trees_by_hand() {
        let z = [0u8; 32];
        // One block: the root is the leaf.
        assert_eq!(small_file_root(b"abc"), Some(sha(b"abc")));
        assert_eq!(small_file_root(b""), None);
        // Three blocks: padded to four with a zero leaf.
        let data = vec![1u8; 2 * BLOCK_SIZE + 5];
        let l: Vec<_> = data.chunks(BLOCK_SIZE).map(sha).collect();
        let want = hash_pair(&hash_pair(&l[0], &l[1]), &hash_pair(&l[2], &z));
        assert_eq!(small_file_root(&data), Some(want));
        assert_eq!(pad_hash(1), z);
        assert_eq!(
            pad_hash(4),
            hash_pair(&hash_pair(&z, &z), &hash_pair(&z, &z))
        );
    }

    #[test]
    fn streaming_matches_one_shot() {
        let pl = 32 * 1024;
        for len in [
            0,
            1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            2 * BLOCK_SIZE,
            2 * BLOCK_SIZE + 1,
            5 * BLOCK_SIZE + 7,
            8 * BLOCK_SIZE,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut h = FileHasher::new(pl).unwrap();
            for chunk in data.chunks(1000) {
                h.update(chunk);
            }
            let got = h.finish();
            assert_eq!(got.length, len as u64);
            if len <= pl as usize {
                assert_eq!(got.root, small_file_root(&data), "len {len}");
                assert!(got.piece_layer.is_empty());
            } else {
                let layer: Vec<_> = data
                    .chunks(pl as usize)
                    .map(|p| piece_root(p, pl).unwrap())
                    .collect();
                assert_eq!(got.piece_layer, layer);
                // The root equals the tree over all leaves padded to a
                // power of two.
                assert_eq!(got.root, small_file_root(&data), "len {len}");
                let bytes: Vec<u8> = layer.concat();
                assert!(verify_piece_layer(
                    &bytes,
                    len as u64,
                    pl,
                    &got.root.unwrap()
                ));
                assert!(!verify_piece_layer(
                    &bytes[32..],
                    len as u64,
                    pl,
                    &got.root.unwrap()
                ));
            }
        }
    }

    /// Every layer of a file's tree, from the zero-padded leaves up.
    fn full_tree(data: &[u8]) -> Vec<Vec<Hash256>> {
        let mut level = block_hashes(data);
        level.resize(level.len().max(1).next_power_of_two(), [0; 32]);
        let mut levels = vec![level];
        while levels.last().unwrap().len() > 1 {
            let next = levels
                .last()
                .unwrap()
                .chunks_exact(2)
                .map(|p| hash_pair(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        levels
    }

    #[test]
    fn proofs_lead_to_the_root_from_every_layer() {
        let pl = 64 * 1024;
        for len in [2 * BLOCK_SIZE, 5 * BLOCK_SIZE + 7, 37 * BLOCK_SIZE + 1] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let tree = full_tree(&data);
            let height = tree_height(len as u64);
            assert_eq!(tree.len() as u32, height + 1);
            let root = tree[height as usize][0];
            assert_eq!(small_file_root(&data), Some(root));
            for base in 0..height {
                let width = tree[base as usize].len() as u64;
                let mut count = 2;
                while count <= width {
                    for index in (0..width).step_by(count as usize) {
                        let hashes = &tree[base as usize][index as usize..(index + count) as usize];
                        for proof_layers in 0..height - base {
                            let uncles: Vec<Hash256> =
                                uncle_positions(base, index, count, proof_layers)
                                    .map(|(l, p)| tree[l as usize][p as usize])
                                    .collect();
                            let got = root_from_proof(hashes, index, &uncles).unwrap();
                            // Only a proof up to the root's children
                            // reaches the root.
                            let k = count.trailing_zeros();
                            let reached = base + k + uncles.len() as u32;
                            if reached == height {
                                assert_eq!(
                                    got, root,
                                    "{len} {base} {index} {count} {proof_layers}"
                                );
                            } else {
                                assert_ne!(got, root);
                            }
                            // A changed hash or uncle fails.
                            let mut bad = hashes.to_vec();
                            bad[0][0] ^= 1;
                            assert_ne!(root_from_proof(&bad, index, &uncles), Some(root));
                            if let Some(u) = uncles.first() {
                                let mut bad_u = uncles.clone();
                                bad_u[0] = hash_pair(u, u);
                                assert_ne!(root_from_proof(hashes, index, &bad_u), Some(root));
                            }
                        }
                    }
                    count *= 2;
                }
            }
            // The piece tree holds the same nodes from the piece layer up.
            if len > pl {
                let layer: Vec<_> = data
                    .chunks(pl)
                    .map(|p| piece_root(p, pl as u32).unwrap())
                    .collect();
                let pt = PieceTree::new(&layer, pl as u32).unwrap();
                assert_eq!(pt.root(), root);
                assert_eq!(pt.piece_layer(), 2);
                for l in 2..=height {
                    for (p, h) in tree[l as usize].iter().enumerate() {
                        assert_eq!(pt.node(l, p as u64), Some(*h));
                    }
                    assert_eq!(pt.node(l, tree[l as usize].len() as u64), None);
                }
                assert_eq!(pt.node(1, 0), None);
            }
        }
        assert_eq!(root_from_proof(&[[0; 32]; 3], 0, &[]), None);
        assert_eq!(root_from_proof(&[[0; 32]; 2], 1, &[]), None);
        assert_eq!(uncle_positions(0, 0, 3, 5).count(), 0);
        // A hostile `proof_layers` of u32::MAX (fuzz wire_hashes): no
        // overflow; the positions are still produced lazily, the layer
        // numbers saturate.
        let mut far = uncle_positions(0, 0, 2, u32::MAX);
        assert_eq!(far.next(), Some((1, 1)));
        assert_eq!(far.nth(1_000_000), Some((1_000_002, 1)));
        assert_eq!(
            uncle_positions(u32::MAX - 1, 0, 4, u32::MAX).nth(5),
            Some((u32::MAX, 1))
        );
        assert_eq!(tree_height(1), 0);
        assert_eq!(tree_height(BLOCK_SIZE as u64 + 1), 1);
        assert!(PieceTree::new(&[], 32768).is_err());
    }

    #[test]
    fn bad_piece_lengths() {
        assert!(FileHasher::new(8192).is_err());
        assert!(FileHasher::new(3 * BLOCK_SIZE as u32).is_err());
        assert!(piece_root(&[0; 40000], 32768).is_err());
    }
}
