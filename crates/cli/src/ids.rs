//! Peer ids for the one-shot commands (`announce`, `probe`), which run no
//! session (a session makes its own).

use std::time::{SystemTime, UNIX_EPOCH};

use seedbed::metainfo::PeerId;

/// A 20-byte peer id: the 8-byte `prefix` (BEP 20 style, e.g. `-SB0001-`)
/// and 12 characters of `[0-9a-z]`, with a 32-bit tracker key (BEP 7
/// `key`). Both are derived from the time and the process id: distinct
/// between runs, not secret.
pub fn peer_id_and_key(prefix: &[u8; 8]) -> (PeerId, u32) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(prefix);
    for b in &mut id[8..] {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *b = b"0123456789abcdefghijklmnopqrstuvwxyz"[(x >> 58) as usize % 36];
    }
    (PeerId(id), (x >> 16) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_alphabet() {
        let (id, _) = peer_id_and_key(b"-SB0001-");
        assert_eq!(&id.0[..8], b"-SB0001-");
        assert!(id.0[8..]
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    }
}
