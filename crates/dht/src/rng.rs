//! A small seeded generator (xoshiro256**) for the values the node picks:
//! transaction ids, token secrets, refresh targets, samples. Seeded by the
//! caller, so the state machine draws no randomness of its own and a fixed
//! seed replays the same run.

#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        let mut s = [0u64; 4];
        for (i, w) in s.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&seed[i * 8..i * 8 + 8]);
            // splitmix64 of each word, so that an all-zero seed works too.
            let mut z = u64::from_le_bytes(b)
                .wrapping_add(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = z ^ (z >> 31);
        }
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    pub(crate) fn bytes20(&mut self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..16].copy_from_slice(&self.next_u64().to_le_bytes());
        out[16..].copy_from_slice(&self.next_u64().to_le_bytes()[..4]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_spread() {
        let mut a = Rng::new([0; 32]);
        let mut b = Rng::new([0; 32]);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut c = Rng::new([1; 32]);
        assert_ne!(a.next_u64(), c.next_u64());
        let ones: u32 = (0..1000).map(|_| a.next_u64().count_ones()).sum();
        assert!((30_000..34_000).contains(&ones), "{ones}");
    }
}
