//! BEP 52 merkle trees: the root of a file's tree from one of its layers.

use sha2::digest::generic_array::GenericArray;

use crate::geometry::BLOCK_SIZE;

/// SHA-256 initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The padding block of a 64-byte message: `0x80`, zeros, then the
/// message length in bits (512) as a big-endian u64.
const PAD_64: [u8; 64] = {
    let mut b = [0u8; 64];
    b[0] = 0x80;
    b[62] = 0x02;
    b
};

/// SHA-256 of `a || b`: a merkle interior node. Two compressions straight
/// on the state (the message is always one block plus a constant padding
/// block), without the buffering of the `Digest` API; this is the inner
/// loop of [`root_from_layer`].
pub(crate) fn hash_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut blocks = [GenericArray::default(), GenericArray::from(PAD_64)];
    blocks[0][..32].copy_from_slice(a);
    blocks[0][32..].copy_from_slice(b);
    let mut state = IV;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// The hash of a subtree covering `bytes` bytes (a power of two, at least
/// 16 KiB) of padding beyond the end of a file: leaves of 32 zero bytes,
/// hashed up.
pub(crate) fn pad_hash(bytes: u32) -> [u8; 32] {
    let mut h = [0u8; 32];
    let mut covered = BLOCK_SIZE;
    while covered < bytes {
        h = hash_pair(&h, &h);
        covered *= 2;
    }
    h
}

/// The root of a tree whose nodes at one layer are `layer` (concatenated
/// 32-byte hashes), each covering `piece_length` bytes (a power of two, at
/// least 16 KiB). The layer is padded to a power of two with
/// [`pad_hash`]`(piece_length)`, as BEP 52 requires.
pub(crate) fn root_from_layer(layer: &[u8], piece_length: u32) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = layer
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let mut pad = pad_hash(piece_length);
    if level.is_empty() {
        return pad;
    }
    // Halve in place: node i of the next level overwrites node i of this
    // one, which is already consumed.
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            level.push(pad);
        }
        let half = level.len() / 2;
        for i in 0..half {
            level[i] = hash_pair(&level[2 * i], &level[2 * i + 1]);
        }
        level.truncate(half);
        pad = hash_pair(&pad, &pad);
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn hash_pair_is_sha256_of_both() {
        for (a, b) in [([0u8; 32], [0u8; 32]), ([1u8; 32], [0xffu8; 32])] {
            let mut h = Sha256::new();
            h.update(a);
            h.update(b);
            let want: [u8; 32] = h.finalize().into();
            assert_eq!(hash_pair(&a, &b), want);
        }
    }

    fn leaf(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn layer_root_equals_leaf_root() {
        // A 3-block file (48 KiB - 1): leaves h0 h1 h2 0; with 16 KiB pieces
        // the layer is the leaves; with 32 KiB pieces it is (h01, h2z).
        let blocks = [vec![1u8; 16384], vec![2u8; 16384], vec![3u8; 16383]];
        let l: Vec<[u8; 32]> = blocks.iter().map(|b| leaf(b)).collect();
        let z = [0u8; 32];
        let h01 = hash_pair(&l[0], &l[1]);
        let h2z = hash_pair(&l[2], &z);
        let root = hash_pair(&h01, &h2z);
        let layer16: Vec<u8> = l.iter().flatten().copied().collect();
        assert_eq!(root_from_layer(&layer16, 16384), root);
        let layer32: Vec<u8> = [h01, h2z].iter().flatten().copied().collect();
        assert_eq!(root_from_layer(&layer32, 32768), root);
        // Five 16 KiB pieces: padded to 8 with zero leaves.
        let five: Vec<[u8; 32]> = (0..5u8).map(|i| leaf(&[i])).collect();
        let flat: Vec<u8> = five.iter().flatten().copied().collect();
        let a = hash_pair(
            &hash_pair(&five[0], &five[1]),
            &hash_pair(&five[2], &five[3]),
        );
        let b = hash_pair(&hash_pair(&five[4], &z), &hash_pair(&z, &z));
        assert_eq!(root_from_layer(&flat, 16384), hash_pair(&a, &b));
    }
}
