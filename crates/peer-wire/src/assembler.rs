//! Assembling an info dictionary from `ut_metadata` pieces (BEP 9)
//! received from several peers: which piece to ask whom, what to accept.
//! Sans-IO; a session drives it over its connections.

use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::metadata::{metadata_piece_count, METADATA_PIECE_LEN};

fn invalid(reason: &'static str) -> Error {
    Error::InvalidExtension {
        message: "ut_metadata",
        offset: 0,
        reason,
    }
}

/// Assembles an info dictionary from 16 KiB `ut_metadata` pieces (BEP 9)
/// received from several peers, identified by `K`.
///
/// Invariants: `pieces.len() == requested.len() == ceil(size / 16 KiB)`;
/// a piece is requested from at most one peer at a time; received pieces
/// have exactly their expected length.
#[derive(Debug)]
pub struct MetadataAssembler<K> {
    size: u32,
    pieces: Vec<Option<(Bytes, K)>>,
    requested: Vec<Option<K>>,
}

impl<K: Copy + Eq> MetadataAssembler<K> {
    /// Starts assembling `size` bytes. Nothing of that size is allocated
    /// before the data arrives.
    ///
    /// # Errors
    /// [`Error::MetadataTooLarge`] when `size` is above `max`;
    /// [`Error::InvalidExtension`] when it is 0.
    pub fn new(size: u64, max: u32) -> Result<Self, Error> {
        if size > u64::from(max) {
            return Err(Error::MetadataTooLarge {
                what: "metadata_size",
                found: size,
                max: u64::from(max),
            });
        }
        if size == 0 {
            return Err(invalid("metadata_size is 0"));
        }
        let size = size as u32;
        let n = metadata_piece_count(size) as usize;
        Ok(MetadataAssembler {
            size,
            pieces: vec![None; n],
            requested: vec![None; n],
        })
    }

    /// The size being assembled, in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The next piece to ask `peer` for: the first one neither received
    /// nor requested from anyone.
    pub fn next_request(&mut self, peer: K) -> Option<u32> {
        let i = (0..self.pieces.len())
            .find(|&i| self.pieces[i].is_none() && self.requested[i].is_none())?;
        self.requested[i] = Some(peer);
        Some(i as u32)
    }

    fn piece_len(&self, piece: u32) -> usize {
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        (self.size as usize - start).min(METADATA_PIECE_LEN as usize)
    }

    /// Records a data message from `peer`; returns whether every piece is
    /// now there.
    ///
    /// # Errors
    /// [`Error::InvalidExtension`] when `total_size` differs from the size
    /// being assembled, the piece index is past the last piece, or the data
    /// is not exactly the piece's length; the data is not kept.
    pub fn on_data(
        &mut self,
        peer: K,
        piece: u32,
        total_size: u64,
        data: Bytes,
    ) -> Result<bool, Error> {
        if total_size != u64::from(self.size) {
            return Err(invalid("total_size differs from metadata_size"));
        }
        if piece as usize >= self.pieces.len() || data.len() != self.piece_len(piece) {
            return Err(invalid("piece index or length out of range"));
        }
        let i = piece as usize;
        self.requested[i] = None;
        if self.pieces[i].is_none() {
            self.pieces[i] = Some((data, peer));
        }
        Ok(self.is_complete())
    }

    /// Every request made of `peer` becomes free (it rejected, timed out or
    /// left).
    pub fn release(&mut self, peer: K) {
        for r in &mut self.requested {
            if *r == Some(peer) {
                *r = None;
            }
        }
    }

    /// Whether every piece is there.
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(Option::is_some)
    }

    /// The assembled bytes and the peers that sent them, once complete;
    /// the assembler starts over either way.
    pub fn take(&mut self) -> Option<(Bytes, Vec<K>)> {
        if !self.is_complete() {
            return None;
        }
        let mut out = BytesMut::with_capacity(self.size as usize);
        let mut peers: Vec<K> = Vec::new();
        for (data, peer) in self.pieces.iter().flatten() {
            out.extend_from_slice(data);
            if !peers.contains(peer) {
                peers.push(*peer);
            }
        }
        self.reset();
        Some((out.freeze(), peers))
    }

    /// Forgets every piece.
    pub fn reset(&mut self) {
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.requested.iter_mut().for_each(|r| *r = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_from_several_peers() {
        let size = 40_000u64;
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut a = MetadataAssembler::new(size, 1 << 20).unwrap();
        assert_eq!(a.next_request(1u8), Some(0));
        assert_eq!(a.next_request(2u8), Some(1));
        assert_eq!(a.next_request(1u8), Some(2));
        assert_eq!(a.next_request(2u8), None);
        // Peer 2 rejects: its piece is free again.
        a.release(2);
        assert_eq!(a.next_request(3u8), Some(1));
        let piece =
            |i: usize| Bytes::copy_from_slice(&data[i * 16384..((i + 1) * 16384).min(data.len())]);
        assert!(!a.on_data(1, 0, size, piece(0)).unwrap());
        assert!(a.on_data(1, 2, size + 1, piece(2)).is_err());
        assert!(
            a.on_data(1, 2, size, piece(1)).is_err(),
            "wrong length for the last piece"
        );
        assert!(!a.on_data(1, 2, size, piece(2)).unwrap());
        assert!(a.on_data(3, 1, size, piece(1)).unwrap());
        let (bytes, peers) = a.take().unwrap();
        assert_eq!(&bytes[..], &data[..]);
        assert_eq!(peers, [1, 3]);
        assert!(!a.is_complete());
    }

    #[test]
    fn size_ceiling_at_and_past() {
        assert!(MetadataAssembler::<u8>::new(1000, 1000).is_ok());
        assert!(matches!(
            MetadataAssembler::<u8>::new(1001, 1000),
            Err(Error::MetadataTooLarge {
                found: 1001,
                max: 1000,
                ..
            })
        ));
        assert!(MetadataAssembler::<u8>::new(0, 1000).is_err());
        // A huge advertised size allocates nothing but the piece table.
        assert!(MetadataAssembler::<u8>::new(u64::MAX, 30 << 20).is_err());
    }
}
