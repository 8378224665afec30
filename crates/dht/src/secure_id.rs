//! BEP 42 (DHT security extension): node ids tied to the node's external IP
//! address, so a host cannot choose ids next to an info hash it wants to
//! control.
//!
//! The first 21 bits of a secure id are the first 21 bits of
//! `crc32c((ip & mask) | (r << 29))` (IPv4) or `crc32c((ip64 & mask) | (r
//! << 61))` (IPv6, the address's high 64 bits), where `r` is the low 3 bits
//! of the id's last byte. Local addresses (10/8, 172.16/12, 192.168/16,
//! 169.254/16, 127/8, and for IPv6 `::1`, `fc00::/7`, `fe80::/10`) are
//! exempt from the check.

use std::net::IpAddr;

use crate::id::NodeId;

const V4_MASK: u32 = 0x030f_3fff;
const V6_MASK: u64 = 0x0103_070f_1f3f_7fff;

/// CRC-32C (Castagnoli, reflected polynomial `0x82f63b78`, initial value and
/// final XOR `0xffffffff`), the hash BEP 42 prescribes. A table
/// implementation: the inputs here are 4 or 8 bytes.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The BEP 42 hash of `ip` with random value `r` (only its low 3 bits are
/// used).
fn ip_hash(ip: IpAddr, r: u8) -> u32 {
    let r = r & 7;
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let v = (u32::from(v4) & V4_MASK) | (u32::from(r) << 29);
            crc32c(&v.to_be_bytes())
        }
        IpAddr::V6(v6) => {
            let hi = (u128::from(v6) >> 64) as u64;
            let v = (hi & V6_MASK) | (u64::from(r) << 61);
            crc32c(&v.to_be_bytes())
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// Whether `ip` is a local address exempt from BEP 42 verification
/// (BEP 42, "Enforcement"), plus the IPv6 equivalents (`::1`, `fc00::/7`,
/// `fe80::/10`) and the unspecified addresses.
pub fn is_exempt(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || o == [0, 0, 0, 0]
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
        }
    }
}

/// A node id that is valid for external address `ip` under BEP 42. The
/// random value `r` is `random[19] & 7`; bits 21.. (except the checked
/// ones) come from `random`.
///
/// ```
/// use seedbed_dht::secure_id::{secure_node_id, is_secure_node_id};
/// let ip = "124.31.75.21".parse().unwrap();
/// let id = secure_node_id(ip, [1; 20]);
/// assert!(is_secure_node_id(&id, ip));
/// assert_eq!(&id.0[..2], &[0x5f, 0xbf]); // BEP 42 test vector, r = 1
/// ```
pub fn secure_node_id(ip: IpAddr, random: [u8; 20]) -> NodeId {
    let crc = ip_hash(ip, random[19]);
    let mut id = random;
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = ((crc >> 8) as u8 & 0xf8) | (random[2] & 7);
    NodeId(id)
}

/// Whether `id` is valid for `ip` under BEP 42: its first 21 bits match the
/// hash of `ip` with `r = id[19] & 7`. Always `true` for exempt (local)
/// addresses ([`is_exempt`]).
pub fn is_secure_node_id(id: &NodeId, ip: IpAddr) -> bool {
    if is_exempt(ip) {
        return true;
    }
    let crc = ip_hash(ip, id.0[19]);
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && (id.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    /// The test vectors of BEP 42: IP, rand, and the id's bold parts.
    #[test]
    fn bep42_vectors() {
        let vectors: [(&str, u8, [u8; 3]); 5] = [
            ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
            ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
            ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
            ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
            ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
        ];
        for (ip, rand, prefix) in vectors {
            let ip: IpAddr = ip.parse().unwrap();
            let mut random = [0u8; 20];
            random[19] = rand;
            random[2] = prefix[2] & 7;
            let id = secure_node_id(ip, random);
            assert_eq!(&id.0[..3], &prefix, "{ip}");
            assert_eq!(id.0[19], rand);
            assert!(is_secure_node_id(&id, ip));
            // Another r, or another IP, no longer matches.
            let mut other = id;
            other.0[19] ^= 1;
            assert!(!is_secure_node_id(&other, ip));
            assert!(!is_secure_node_id(&id, "1.2.3.4".parse().unwrap()));
        }
    }

    #[test]
    fn local_addresses_are_exempt() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.3.4",
            "127.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_exempt(ip), "{ip}");
            assert!(is_secure_node_id(&NodeId([0; 20]), ip));
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!is_exempt(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_ids_verify() {
        let ip: IpAddr = "2001:db8:100:0:d5c8:db3f:995e:c0f7".parse().unwrap();
        for r in 0..8u8 {
            let id = secure_node_id(ip, [r; 20]);
            assert!(is_secure_node_id(&id, ip));
        }
        // Only the high 64 bits count.
        let same_net: IpAddr = "2001:db8:100:0::1".parse().unwrap();
        assert!(is_secure_node_id(&secure_node_id(ip, [3; 20]), same_net));
    }
}
