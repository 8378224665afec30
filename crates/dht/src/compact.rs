//! Compact encodings (BEP 5 "Contact Encoding", BEP 32): peers as 6 bytes
//! (IPv4 + port) or 18 bytes (IPv6 + port), nodes as 26 bytes (id + IPv4 +
//! port) or 38 bytes (id + IPv6 + port), all in network byte order.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BufMut;

use crate::id::NodeId;

/// A node's contact: its id and UDP address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: NodeId,
    /// The node's UDP address.
    pub addr: SocketAddr,
}

impl NodeInfo {
    /// A contact.
    pub fn new(id: NodeId, addr: SocketAddr) -> Self {
        NodeInfo { id, addr }
    }
}

impl fmt::Debug for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// Length of a compact IPv4 node entry: 20 + 4 + 2 bytes.
pub const NODE_V4_LEN: usize = 26;
/// Length of a compact IPv6 node entry: 20 + 16 + 2 bytes.
pub const NODE_V6_LEN: usize = 38;

/// Decodes a 6-byte (IPv4) or 18-byte (IPv6) compact address; `None` for
/// any other length. An 18-byte IPv4-mapped address (`::ffff:a.b.c.d`)
/// comes back as IPv4, as [`encode_addr`] writes it.
pub fn decode_addr(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => Some(SocketAddr::V4(decode_v4(b))),
        18 => Some(canonical(SocketAddr::V6(decode_v6(b)))),
        _ => None,
    }
}

fn decode_v4(b: &[u8]) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(b[0], b[1], b[2], b[3]),
        u16::from_be_bytes([b[4], b[5]]),
    )
}

fn decode_v6(b: &[u8]) -> SocketAddrV6 {
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&b[..16]);
    SocketAddrV6::new(Ipv6Addr::from(ip), u16::from_be_bytes([b[16], b[17]]), 0, 0)
}

/// Writes `addr` in compact form: 6 bytes for IPv4, 18 for IPv6. An
/// IPv4-mapped IPv6 address is written as IPv4.
pub fn encode_addr<B: BufMut + ?Sized>(addr: &SocketAddr, buf: &mut B) {
    match canonical(*addr) {
        SocketAddr::V4(a) => {
            buf.put_slice(&a.ip().octets());
            buf.put_u16(a.port());
        }
        SocketAddr::V6(a) => {
            buf.put_slice(&a.ip().octets());
            buf.put_u16(a.port());
        }
    }
}

/// The compact length of `addr`: 6 or 18 bytes.
pub fn addr_len(addr: &SocketAddr) -> usize {
    match canonical(*addr) {
        SocketAddr::V4(_) => 6,
        SocketAddr::V6(_) => 18,
    }
}

/// `addr` with an IPv4-mapped IPv6 address turned into IPv4 (a dual-stack
/// socket reports IPv4 senders that way), scope and flow info dropped.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, a.port())),
            None => SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), 0, 0)),
        },
        v4 => v4,
    }
}

/// Writes a node in compact form: 26 bytes (IPv4) or 38 bytes (IPv6).
pub fn encode_node<B: BufMut + ?Sized>(node: &NodeInfo, buf: &mut B) {
    buf.put_slice(&node.id.0);
    encode_addr(&node.addr, buf);
}

/// Address family of a compact node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: `nodes`, 26-byte entries.
    V4,
    /// IPv6: `nodes6`, 38-byte entries.
    V6,
}

impl Family {
    /// The family of `addr` (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(addr: &SocketAddr) -> Family {
        match canonical(*addr) {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }

    /// The length of one compact node entry of this family.
    pub fn node_len(self) -> usize {
        match self {
            Family::V4 => NODE_V4_LEN,
            Family::V6 => NODE_V6_LEN,
        }
    }
}

/// A borrowed compact node list (`nodes` or `nodes6`): whole entries only.
/// Decoding is lazy: [`CompactNodes::iter`] reads each entry when asked.
///
/// A received list whose length is not a multiple of the entry length is
/// cut to whole entries (lenient, as libtorrent reads it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactNodes<'a> {
    bytes: &'a [u8],
    family: Family,
}

impl<'a> CompactNodes<'a> {
    /// A view of `bytes` as entries of `family`, cut to whole entries.
    pub fn new(bytes: &'a [u8], family: Family) -> Self {
        let len = family.node_len();
        CompactNodes {
            bytes: &bytes[..bytes.len() / len * len],
            family,
        }
    }

    /// The entries' bytes (a multiple of 26 or 38 bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.family.node_len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = NodeInfo> + 'a {
        let family = self.family;
        self.bytes
            .chunks_exact(family.node_len())
            .map(move |c| NodeInfo {
                id: NodeId::from_slice(&c[..20]).unwrap_or_default(),
                // A mapped IPv4 address in `nodes6` comes out as IPv4 (and
                // an IPv6 lookup then ignores it).
                addr: match family {
                    Family::V4 => SocketAddr::V4(decode_v4(&c[20..])),
                    Family::V6 => canonical(SocketAddr::V6(decode_v6(&c[20..]))),
                },
            })
    }
}

impl fmt::Debug for CompactNodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for a in ["1.2.3.4:6881", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:7"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut buf = Vec::new();
            encode_addr(&a, &mut buf);
            assert_eq!(buf.len(), addr_len(&a));
            assert_eq!(decode_addr(&buf), Some(canonical(a)));
        }
        assert_eq!(decode_addr(&[0; 5]), None);
        // 18 bytes of IPv4-mapped IPv6: IPv4, as it is written back.
        let mut mapped = [0u8; 18];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        mapped[12..16].copy_from_slice(&[255, 9, 48, 48]);
        mapped[16..].copy_from_slice(&[0x30, 0x30]);
        let a = decode_addr(&mapped).unwrap();
        assert_eq!(a, "255.9.48.48:12336".parse::<SocketAddr>().unwrap());
        let mut buf = Vec::new();
        encode_addr(&a, &mut buf);
        assert_eq!(decode_addr(&buf), Some(a));
    }

    #[test]
    fn nodes_are_cut_to_whole_entries() {
        let n = NodeInfo::new(NodeId([7; 20]), "1.2.3.4:5".parse().unwrap());
        let mut buf = Vec::new();
        encode_node(&n, &mut buf);
        encode_node(&n, &mut buf);
        buf.extend_from_slice(&[1, 2, 3]);
        let list = CompactNodes::new(&buf, Family::V4);
        assert_eq!(list.len(), 2);
        assert_eq!(list.iter().collect::<Vec<_>>(), vec![n, n]);
        assert!(CompactNodes::new(&buf, Family::V6).len() == 1);
    }
}
