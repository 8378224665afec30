//! Which pieces a peer has (BEP 3, "bitfield").

use std::fmt;

use bytes::Bytes;

use crate::error::Error;

/// Checks that the bits past `num_pieces` in `bytes` are zero.
/// The caller has checked the length.
pub(crate) fn check_spare_bits(bytes: &[u8], num_pieces: u32) -> Result<(), ()> {
    let spare = (8 - num_pieces % 8) % 8;
    match bytes.last() {
        Some(&last) if spare > 0 && last & ((1u8 << spare) - 1) != 0 => Err(()),
        _ => Ok(()),
    }
}

/// One bit per piece for a torrent of `len` pieces: exactly
/// `ceil(len / 8)` bytes, the first byte holding pieces 0..8 from the high
/// bit down, spare bits at the end always zero (BEP 3, "bitfield").
///
/// ```
/// use seedbed_peer_wire::Bitfield;
/// let mut bf = Bitfield::new(10);
/// bf.set(0, true);
/// bf.set(9, true);
/// assert_eq!(bf.as_bytes(), [0x80, 0x40]);
/// assert_eq!(bf.count_ones(), 2);
/// assert_eq!(bf.iter_set().collect::<Vec<_>>(), [0, 9]);
/// assert!(Bitfield::from_payload(&[0x80, 0x41], 10).is_err()); // spare bit set
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

impl Bitfield {
    /// All pieces unset.
    pub fn new(num_pieces: u32) -> Self {
        Bitfield {
            bytes: vec![0; num_pieces.div_ceil(8) as usize],
            len: num_pieces,
        }
    }

    /// All pieces set (what a `have all` message means, BEP 6).
    pub fn full(num_pieces: u32) -> Self {
        let mut bf = Bitfield {
            bytes: vec![0xff; num_pieces.div_ceil(8) as usize],
            len: num_pieces,
        };
        let spare = (8 - num_pieces % 8) % 8;
        if let Some(last) = bf.bytes.last_mut() {
            *last &= 0xffu8 << spare;
        }
        bf
    }

    /// Validates a `bitfield` payload for a torrent of `num_pieces` pieces.
    ///
    /// # Errors
    /// [`Error::BitfieldLength`] when `payload` is not exactly
    /// `ceil(num_pieces / 8)` bytes; [`Error::BitfieldSpareBits`] when a bit
    /// past the last piece is set. Offsets are 0.
    pub fn from_payload(payload: &[u8], num_pieces: u32) -> Result<Self, Error> {
        let expected = num_pieces.div_ceil(8);
        if payload.len() != expected as usize {
            return Err(Error::BitfieldLength {
                offset: 0,
                expected,
                found: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            });
        }
        check_spare_bits(payload, num_pieces).map_err(|()| Error::BitfieldSpareBits {
            offset: 0,
            num_pieces,
        })?;
        Ok(Bitfield {
            bytes: payload.to_vec(),
            len: num_pieces,
        })
    }

    /// The number of pieces.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the torrent has no pieces.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `index` is set; `false` past the end.
    pub fn get(&self, index: u32) -> bool {
        index < self.len && self.bytes[(index / 8) as usize] & (0x80 >> (index % 8)) != 0
    }

    /// Sets or clears piece `index`.
    ///
    /// # Panics
    /// When `index >= len()`: indices come from our own piece picker, not
    /// from the wire.
    pub fn set(&mut self, index: u32, value: bool) {
        assert!(
            index < self.len,
            "piece {index} out of range ({} pieces)",
            self.len
        );
        let byte = &mut self.bytes[(index / 8) as usize];
        let mask = 0x80 >> (index % 8);
        if value {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }

    /// Number of pieces set.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// Whether every piece is set.
    pub fn is_full(&self) -> bool {
        self.count_ones() == self.len
    }

    /// Indices of the set pieces, ascending.
    pub fn iter_set(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    /// Indices of the unset pieces, ascending.
    pub fn iter_unset(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| !self.get(i))
    }

    /// The `ceil(len / 8)` bytes, as sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The `bitfield` message for these pieces.
    pub fn to_message(&self) -> crate::Message {
        crate::Message::Bitfield(Bytes::copy_from_slice(&self.bytes))
    }
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{} ", self.count_ones(), self.len)?;
        for i in 0..self.len.min(64) {
            f.write_str(if self.get(i) { "1" } else { "0" })?;
        }
        if self.len > 64 {
            f.write_str("...")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_length_and_spare_bits() {
        assert!(Bitfield::from_payload(&[0xff], 8).is_ok());
        assert!(Bitfield::from_payload(&[0xff, 0x80], 9).is_ok());
        assert!(matches!(
            Bitfield::from_payload(&[0xff, 0xc0], 9),
            Err(Error::BitfieldSpareBits { num_pieces: 9, .. })
        ));
        assert!(matches!(
            Bitfield::from_payload(&[0xff, 0x80, 0], 9),
            Err(Error::BitfieldLength {
                expected: 2,
                found: 3,
                ..
            })
        ));
        assert!(Bitfield::from_payload(&[], 0).unwrap().is_empty());
        assert_eq!(Bitfield::full(9).as_bytes(), [0xff, 0x80]);
        assert!(Bitfield::full(9).is_full());
        assert_eq!(Bitfield::new(9).iter_unset().count(), 9);
        assert!(!Bitfield::new(9).get(100));
    }

    proptest! {
        #[test]
        fn set_get_count(n in 0u32..200, picks in proptest::collection::vec(any::<u32>(), 0..50)) {
            let mut bf = Bitfield::new(n);
            let mut model = std::collections::BTreeSet::new();
            for p in picks {
                if n == 0 { break; }
                let i = p % n;
                let on = p % 3 != 0;
                bf.set(i, on);
                if on { model.insert(i); } else { model.remove(&i); }
            }
            prop_assert_eq!(bf.count_ones() as usize, model.len());
            prop_assert_eq!(bf.iter_set().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(bf.iter_set().count() + bf.iter_unset().count(), n as usize);
            // Spare bits stay zero, so the bytes validate.
            prop_assert_eq!(Bitfield::from_payload(bf.as_bytes(), n).unwrap(), bf);
        }
    }
}
