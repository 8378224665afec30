//! The rules of BEP 52's hash transfer messages beyond their framing: what
//! a `hash request` may ask, how many hashes its `hashes` answer carries,
//! and the split of that answer into base and proof hashes.
//!
//! The decoder checks only the frame (48 bytes, or 48 plus whole 32-byte
//! hashes, at most [`Limits::max_hashes`](crate::Limits::max_hashes) of
//! them); a message with a request that breaks these rules is still
//! decoded, so a peer can answer it with `hash reject` rather than drop
//! the connection.

use bytes::{BufMut, Bytes};

use crate::error::Error;
use crate::message::{HashRequest, Hashes};

impl HashRequest {
    /// The largest `length` we ask for or answer by default: 512 hashes
    /// (BEP 52: "Length SHOULD NOT be greater than 512").
    pub const MAX_LENGTH: u32 = 512;

    /// Checks BEP 52's rules for a request: `length` is a power of two, at
    /// least 2 and at most `max_length`; `index` is a multiple of `length`
    /// (zero included). Whether the layers and positions exist in the
    /// file's tree is for the holder of the tree to check.
    ///
    /// ```
    /// use seedbed_peer_wire::HashRequest;
    /// let r = HashRequest { pieces_root: [1; 32], base_layer: 2, index: 512, length: 512, proof_layers: 9 };
    /// assert!(r.validate(HashRequest::MAX_LENGTH).is_ok());
    /// assert!(HashRequest { length: 3, ..r }.validate(512).is_err());
    /// assert!(HashRequest { index: 100, ..r }.validate(512).is_err());
    /// assert!(HashRequest { length: 1024, index: 0, ..r }.validate(512).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidHashRequest`] saying which rule is broken.
    pub fn validate(&self, max_length: u32) -> Result<(), Error> {
        let fail = |reason| Err(Error::InvalidHashRequest { reason });
        if self.length < 2 || !self.length.is_power_of_two() {
            return fail("length is not a power of two of at least 2");
        }
        if self.length > max_length {
            return fail("length is over the limit");
        }
        if self.index % self.length != 0 {
            return fail("index is not a multiple of length");
        }
        Ok(())
    }

    /// How many proof ("uncle") hashes a `hashes` answer carries after the
    /// `length` base hashes: one per proof layer, less the first
    /// `log2(length) - 1` layers, which the base hashes give (BEP 52,
    /// "hashes"). Meaningful for a `length` that is a power of two of at
    /// least 2 ([`validate`](Self::validate)); 0 for other lengths.
    pub fn proof_count(&self) -> u32 {
        if self.length < 2 || !self.length.is_power_of_two() {
            return 0;
        }
        let n = (u64::from(self.proof_layers) + 1)
            .saturating_sub(u64::from(self.length.trailing_zeros()));
        // length >= 2: at most proof_layers, so it fits.
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The number of 32-byte hashes in the answer: `length` base hashes
    /// plus [`proof_count`](Self::proof_count) proof hashes.
    pub fn answer_len(&self) -> u64 {
        u64::from(self.length) + u64::from(self.proof_count())
    }
}

impl Hashes {
    /// The answer to `request`: its base hashes then its proof hashes,
    /// bottom up (BEP 52, "hashes"). The counts are not checked here; a
    /// receiver checks them with [`split`](Self::split).
    pub fn new(request: HashRequest, base: &[[u8; 32]], proof: &[[u8; 32]]) -> Hashes {
        let mut buf = Vec::with_capacity(32 * (base.len() + proof.len()));
        for h in base.iter().chain(proof) {
            buf.put_slice(h);
        }
        Hashes {
            request,
            hashes: Bytes::from(buf),
        }
    }

    /// The base hashes (`request.length` of them, from `request.index` of
    /// layer `request.base_layer`) and the proof hashes (bottom up), after
    /// checking that the message carries exactly
    /// [`HashRequest::answer_len`] hashes.
    ///
    /// ```
    /// use seedbed_peer_wire::{HashRequest, Hashes};
    /// let request = HashRequest { pieces_root: [1; 32], base_layer: 0, index: 4, length: 2, proof_layers: 2 };
    /// assert_eq!(request.proof_count(), 2);
    /// let h = Hashes::new(request, &[[7; 32], [8; 32]], &[[9; 32], [10; 32]]);
    /// let (base, proof) = h.split()?;
    /// assert_eq!((base.len(), proof.len()), (2, 2));
    /// assert!(Hashes::new(request, &[[7; 32], [8; 32]], &[]).split().is_err());
    /// # Ok::<(), seedbed_peer_wire::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::HashesCount`] when the count differs (the hashes are then
    /// never allocated); [`Error::HashesLength`] when the bytes are not
    /// whole hashes (only for a value not made by the decoder).
    #[allow(clippy::type_complexity)]
    pub fn split(&self) -> Result<(Vec<[u8; 32]>, Vec<[u8; 32]>), Error> {
        if self.hashes.len() % 32 != 0 {
            return Err(Error::HashesLength {
                offset: 0,
                len: self.hashes.len(),
            });
        }
        let found = self.hashes.len() / 32;
        let expected = self.request.answer_len();
        if found as u64 != expected {
            return Err(Error::HashesCount { expected, found });
        }
        let mut all = self.hashes.chunks_exact(32).map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        });
        let base = all.by_ref().take(self.request.length as usize).collect();
        Ok((base, all.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(length: u32, proof_layers: u32) -> HashRequest {
        HashRequest {
            pieces_root: [3; 32],
            base_layer: 1,
            index: 0,
            length,
            proof_layers,
        }
    }

    #[test]
    fn proof_counts_follow_the_bep() {
        // length 2: no layer omitted; length 512: the first 8 (the 9th
        // layer above the base is the subtree's root: its sibling is the
        // first proof hash).
        assert_eq!(req(2, 0).proof_count(), 0);
        assert_eq!(req(2, 1).proof_count(), 1);
        assert_eq!(req(2, 5).proof_count(), 5);
        assert_eq!(req(512, 9).proof_count(), 1);
        assert_eq!(req(512, 8).proof_count(), 0);
        assert_eq!(req(512, 3).proof_count(), 0);
        assert_eq!(req(4, u32::MAX).proof_count(), u32::MAX - 1);
        assert_eq!(req(3, 5).proof_count(), 0);
        assert_eq!(req(0, 5).answer_len(), 0);
        assert_eq!(req(512, 20).answer_len(), 512 + 12);
    }

    #[test]
    fn length_at_and_past_the_limit() {
        assert!(req(512, 0).validate(512).is_ok());
        assert!(req(1024, 0).validate(512).is_err());
        assert!(req(1024, 0).validate(1024).is_ok());
        assert!(req(1, 0).validate(512).is_err());
        assert!(req(0, 0).validate(512).is_err());
        let r = HashRequest {
            index: 6,
            ..req(4, 0)
        };
        assert!(matches!(
            r.validate(512),
            Err(Error::InvalidHashRequest { .. })
        ));
    }

    #[test]
    fn split_checks_the_count_before_allocating() {
        // A request claiming billions of proof hashes with a short answer
        // is refused by arithmetic, not by allocating.
        let h = Hashes::new(req(4, u32::MAX), &[[1; 32]; 4], &[]);
        assert!(matches!(
            h.split(),
            Err(Error::HashesCount { found: 4, .. })
        ));
        let bad = Hashes {
            request: req(2, 0),
            hashes: Bytes::from_static(&[0; 33]),
        };
        assert!(matches!(bad.split(), Err(Error::HashesLength { .. })));
    }
}
