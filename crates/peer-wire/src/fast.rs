//! BEP 6 "Allowed Fast Set Generation".

use std::net::Ipv4Addr;

use seedbed_metainfo::InfoHash;
use sha1::{Digest, Sha1};

/// The canonical allowed fast set of `k` piece indices for the peer at
/// `ip`, in a torrent of `num_pieces` pieces (BEP 6, "Allowed Fast Set
/// Generation"). `k` is capped at `num_pieces`; BEP 6 suggests 10.
///
/// The set depends only on the top three octets of `ip` (the peer's
/// address as seen by us), the info hash and `num_pieces`, and the first
/// `k` indices of a set of `k + 1` are the set of `k`. BEP 6 makes no
/// provision for IPv6 peers.
///
/// ```
/// use std::net::Ipv4Addr;
/// use seedbed_metainfo::InfoHash;
/// use seedbed_peer_wire::allowed_fast_set;
/// // The first example of BEP 6.
/// let set = allowed_fast_set(&InfoHash([0xaa; 20]), Ipv4Addr::new(80, 4, 4, 200), 1313, 7);
/// assert_eq!(set, [1059, 431, 808, 1217, 287, 376, 1188]);
/// ```
pub fn allowed_fast_set(info_hash: &InfoHash, ip: Ipv4Addr, num_pieces: u32, k: u32) -> Vec<u32> {
    let k = k.min(num_pieces) as usize;
    let mut set = Vec::with_capacity(k);
    let mut x = [0u8; 24];
    x[..4].copy_from_slice(&(u32::from(ip) & 0xffff_ff00).to_be_bytes());
    x[4..].copy_from_slice(&info_hash.0);
    let mut hash: [u8; 20] = Sha1::digest(x).into();
    loop {
        for chunk in hash.chunks_exact(4) {
            if set.len() >= k {
                return set;
            }
            let y = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let index = y % num_pieces;
            if !set.contains(&index) {
                set.push(index);
            }
        }
        if set.len() >= k {
            return set;
        }
        hash = Sha1::digest(hash).into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep6_example_sets() {
        let ih = InfoHash([0xaa; 20]);
        let ip = Ipv4Addr::new(80, 4, 4, 200);
        assert_eq!(
            allowed_fast_set(&ih, ip, 1313, 7),
            [1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(&ih, ip, 1313, 9),
            [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
        // Only the top three octets count.
        assert_eq!(
            allowed_fast_set(&ih, Ipv4Addr::new(80, 4, 4, 1), 1313, 9),
            allowed_fast_set(&ih, ip, 1313, 9)
        );
    }

    #[test]
    fn k_is_capped_by_the_piece_count() {
        let ih = InfoHash([1; 20]);
        let set = allowed_fast_set(&ih, Ipv4Addr::LOCALHOST, 3, 10);
        let mut sorted = set.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2]);
        assert!(allowed_fast_set(&ih, Ipv4Addr::LOCALHOST, 0, 10).is_empty());
    }
}
