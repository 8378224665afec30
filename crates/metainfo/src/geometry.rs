//! Piece and block geometry: how a torrent's bytes split into pieces
//! (BEP 3) and pieces into 16 KiB blocks (the unit of `request` messages).

use std::fmt;
use std::ops::Range;

use crate::error::Error;

/// Size of a block, the unit of `request` and `piece` messages: 16 KiB
/// (BEP 3, "request"; BEP 52 merkle leaves). The last block of a piece may be
/// shorter, and so are all blocks of a piece shorter than 16 KiB.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// The index of a piece that exists in one torrent.
///
/// Only a [`Geometry`] makes these ([`Geometry::piece`],
/// [`Geometry::pieces`]), so holding one means it is below that torrent's
/// piece count. Do not mix indices of different torrents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceIndex(u32);

impl PieceIndex {
    /// The index as a number, `0..num_pieces`.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The index as a `usize`, for indexing bitfields and vectors.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceIndex({})", self.0)
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<PieceIndex> for u32 {
    fn from(p: PieceIndex) -> u32 {
        p.0
    }
}

/// A block of a piece: `len` bytes at `offset` in piece `piece`. Made by
/// [`Geometry::blocks`] and [`Geometry::block`], so it always lies inside its
/// piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block {
    piece: PieceIndex,
    offset: u32,
    len: u32,
}

impl Block {
    /// The piece.
    pub const fn piece(&self) -> PieceIndex {
        self.piece
    }

    /// Byte offset of the block in its piece (`begin` on the wire).
    pub const fn offset(&self) -> u32 {
        self.offset
    }

    /// Length in bytes, 1..=[`BLOCK_SIZE`] for blocks from
    /// [`Geometry::blocks`].
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// Always `false`: blocks are at least one byte.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index of the block in its piece when it starts on a
    /// [`BLOCK_SIZE`] boundary.
    pub const fn index(&self) -> u32 {
        self.offset / BLOCK_SIZE
    }
}

/// The lengths of a torrent: total size, piece length, piece count. All
/// sizes are bytes.
///
/// Invariants: `total_length > 0`, `piece_length > 0`,
/// `num_pieces = ceil(total_length / piece_length)` and fits in `u32`.
/// For v1 and hybrid torrents `total_length` includes pad files; for
/// v2-only torrents it includes the alignment gaps between files (BEP 52),
/// so pieces never straddle two files there.
///
/// ```
/// use seedbed_metainfo::{Geometry, BLOCK_SIZE};
/// let g = Geometry::new(100_000, 32_768).unwrap();
/// assert_eq!(g.num_pieces(), 4);
/// let last = g.last_piece();
/// assert_eq!(g.piece_len(last), 100_000 - 3 * 32_768);
/// let blocks: Vec<_> = g.blocks(g.piece(0).unwrap()).collect();
/// assert_eq!(blocks.len(), 2);
/// assert_eq!(blocks[1].offset(), BLOCK_SIZE);
/// assert!(g.piece(4).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    total_length: u64,
    piece_length: u32,
    num_pieces: u32,
}

impl Geometry {
    /// Geometry of `total_length` bytes in pieces of `piece_length` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidTotalSize`] if `total_length` is 0 or above
    /// `i64::MAX`, [`Error::InvalidPieceLength`] if `piece_length` is 0,
    /// [`Error::TooManyPieces`] if the count does not fit in `u32`.
    pub fn new(total_length: u64, piece_length: u32) -> Result<Geometry, Error> {
        if total_length == 0 {
            return Err(Error::InvalidTotalSize { reason: "zero" });
        }
        if total_length > i64::MAX as u64 {
            return Err(Error::InvalidTotalSize {
                reason: "over 2^63 - 1 bytes",
            });
        }
        if piece_length == 0 {
            return Err(Error::InvalidPieceLength {
                piece_length: 0,
                reason: "zero",
            });
        }
        let n = total_length.div_ceil(u64::from(piece_length));
        let num_pieces = u32::try_from(n).map_err(|_| Error::TooManyPieces {
            count: n,
            limit: u32::MAX,
        })?;
        Ok(Geometry {
            total_length,
            piece_length,
            num_pieces,
        })
    }

    /// Total bytes covered by the pieces.
    pub const fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Nominal piece length in bytes.
    pub const fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces, at least 1.
    pub const fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// The index `i` if `i < num_pieces`.
    pub fn piece(&self, i: u32) -> Option<PieceIndex> {
        (i < self.num_pieces).then_some(PieceIndex(i))
    }

    /// All pieces, in order.
    pub fn pieces(&self) -> impl DoubleEndedIterator<Item = PieceIndex> + ExactSizeIterator {
        (0..self.num_pieces).map(PieceIndex)
    }

    /// The last piece.
    pub const fn last_piece(&self) -> PieceIndex {
        PieceIndex(self.num_pieces - 1)
    }

    /// Length of the last piece in bytes, 1..=piece_length.
    pub const fn last_piece_length(&self) -> u32 {
        let rem = (self.total_length % self.piece_length as u64) as u32;
        if rem == 0 {
            self.piece_length
        } else {
            rem
        }
    }

    /// Length of piece `p` in bytes: `piece_length`, except the last piece.
    pub const fn piece_len(&self, p: PieceIndex) -> u32 {
        if p.0 + 1 == self.num_pieces {
            self.last_piece_length()
        } else {
            self.piece_length
        }
    }

    /// Byte offset of piece `p` in the torrent.
    pub const fn piece_offset(&self, p: PieceIndex) -> u64 {
        p.0 as u64 * self.piece_length as u64
    }

    /// The byte range of piece `p` in the torrent.
    pub const fn piece_range(&self, p: PieceIndex) -> Range<u64> {
        let start = self.piece_offset(p);
        start..start + self.piece_len(p) as u64
    }

    /// The piece holding byte `offset`, if `offset < total_length`.
    pub fn piece_at(&self, offset: u64) -> Option<PieceIndex> {
        (offset < self.total_length)
            .then(|| PieceIndex((offset / u64::from(self.piece_length)) as u32))
    }

    /// The pieces that overlap bytes `offset..offset + len` (empty for
    /// `len == 0` or a range past the end).
    pub fn pieces_in(&self, offset: u64, len: u64) -> impl Iterator<Item = PieceIndex> {
        let end = offset.saturating_add(len).min(self.total_length);
        let pl = u64::from(self.piece_length);
        let (first, last) = if offset >= end {
            (0, 0)
        } else {
            ((offset / pl) as u32, (end - 1) / pl + 1)
        };
        (first..last as u32).map(PieceIndex)
    }

    /// Number of blocks in piece `p`: ceil(piece_len / 16 KiB).
    pub const fn num_blocks(&self, p: PieceIndex) -> u32 {
        self.piece_len(p).div_ceil(BLOCK_SIZE)
    }

    /// The blocks of piece `p`, in order: 16 KiB each, the last one shorter
    /// when the piece length is not a multiple of 16 KiB.
    pub fn blocks(&self, p: PieceIndex) -> impl ExactSizeIterator<Item = Block> {
        let len = self.piece_len(p);
        (0..self.num_blocks(p)).map(move |i| {
            let offset = i * BLOCK_SIZE;
            Block {
                piece: p,
                offset,
                len: (len - offset).min(BLOCK_SIZE),
            }
        })
    }

    /// A block `len` bytes long at `offset` in piece `p`, if it lies inside
    /// the piece and `len` is 1..=[`BLOCK_SIZE`]. Use it to check a peer's
    /// `request` or `piece` message.
    pub fn block(&self, p: PieceIndex, offset: u32, len: u32) -> Option<Block> {
        let end = offset.checked_add(len)?;
        (len > 0 && len <= BLOCK_SIZE && end <= self.piece_len(p)).then_some(Block {
            piece: p,
            offset,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn errors() {
        assert!(matches!(
            Geometry::new(0, 16384),
            Err(Error::InvalidTotalSize { .. })
        ));
        assert!(matches!(
            Geometry::new(1, 0),
            Err(Error::InvalidPieceLength { .. })
        ));
        assert!(matches!(
            Geometry::new(u64::MAX, 1),
            Err(Error::InvalidTotalSize { .. })
        ));
        assert!(matches!(
            Geometry::new(1 << 40, 1),
            Err(Error::TooManyPieces { count, .. }) if count == 1 << 40
        ));
    }

    #[test]
    fn small_pieces_have_one_short_block() {
        let g = Geometry::new(384, 128).unwrap();
        assert_eq!(g.num_pieces(), 3);
        let b: Vec<_> = g.blocks(g.last_piece()).collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].len(), 128);
        assert!(g.block(g.last_piece(), 0, 129).is_none());
        assert!(g.block(g.last_piece(), 100, 28).is_some());
        assert!(g.block(g.last_piece(), u32::MAX, 2).is_none());
    }

    proptest! {
        #[test]
        fn pieces_and_blocks_tile_the_torrent(total in 1u64..5_000_000, pl_shift in 0u32..22, odd in any::<bool>()) {
            let pl = (1u32 << pl_shift) + u32::from(odd && pl_shift > 2) * 3;
            let g = Geometry::new(total, pl).unwrap();
            prop_assert_eq!(u64::from(g.num_pieces()), total.div_ceil(u64::from(pl)));
            let mut sum = 0u64;
            let mut next = 0u64;
            for p in g.pieces() {
                let r = g.piece_range(p);
                prop_assert_eq!(r.start, next);
                prop_assert!(g.piece_len(p) >= 1 && g.piece_len(p) <= pl);
                next = r.end;
                sum += u64::from(g.piece_len(p));
                prop_assert_eq!(g.piece_at(r.start), Some(p));
                prop_assert_eq!(g.piece_at(r.end - 1), Some(p));
                if p.get() % 97 == 0 || p == g.last_piece() {
                    let mut off = 0u32;
                    for b in g.blocks(p) {
                        prop_assert_eq!(b.offset(), off);
                        prop_assert!(!b.is_empty() && b.len() <= BLOCK_SIZE);
                        off += b.len();
                    }
                    prop_assert_eq!(off, g.piece_len(p));
                    prop_assert_eq!(g.blocks(p).len() as u32, g.num_blocks(p));
                }
            }
            prop_assert_eq!(sum, total);
            prop_assert_eq!(g.piece_at(total), None);
        }

        #[test]
        fn pieces_in_matches_scan(total in 1u64..100_000, pl in 1u32..9000, off in 0u64..110_000, len in 0u64..50_000) {
            let g = Geometry::new(total, pl).unwrap();
            let got: Vec<u32> = g.pieces_in(off, len).map(PieceIndex::get).collect();
            let want: Vec<u32> = g.pieces().filter(|&p| {
                let r = g.piece_range(p);
                r.start < off.saturating_add(len) && off < r.end
            }).map(PieceIndex::get).collect();
            prop_assert_eq!(got, want);
        }
    }
}
