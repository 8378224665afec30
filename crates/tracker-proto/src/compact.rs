//! Compact peer lists (BEP 23, BEP 7, BEP 15): 6 bytes per IPv4 peer or 18
//! bytes per IPv6 peer, address then port, big-endian. A borrowed view that
//! decodes peers as it is iterated, and the shared readers and writers.

use std::fmt;
use std::iter::FusedIterator;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::BufMut;

/// Size of one compact IPv4 peer: 4 address bytes, 2 port bytes.
pub(crate) const V4_LEN: usize = 6;
/// Size of one compact IPv6 peer: 16 address bytes, 2 port bytes.
pub(crate) const V6_LEN: usize = 18;

/// A compact peer list borrowed from a packet or a response body: 6 bytes
/// per IPv4 peer (BEP 23 `peers`, BEP 15 over IPv4) or 18 bytes per IPv6
/// peer (BEP 7 `peers6`, BEP 15 over IPv6), address then port, big-endian.
///
/// It is an iterator of [`SocketAddr`]s that decodes each peer when it is
/// reached: reading a peer list this way allocates nothing, and
/// [`as_bytes`](CompactPeers::as_bytes) gives the remaining raw bytes to
/// forward or store as they are. All peers are of one family.
///
/// ```
/// use seedbed_tracker_proto::CompactPeers;
/// let raw = b"\x0a\x00\x00\x02\x1a\xe1\x7f\x00\x00\x01\x00\x50";
/// let peers = CompactPeers::new(raw, false).unwrap();
/// assert_eq!(peers.len(), 2);
/// let addrs: Vec<String> = peers.map(|a| a.to_string()).collect();
/// assert_eq!(addrs, ["10.0.0.2:6881", "127.0.0.1:80"]);
/// // 7 bytes are not a whole number of 6-byte peers.
/// assert!(CompactPeers::new(&raw[..7], false).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CompactPeers<'a> {
    bytes: &'a [u8],
    ipv6: bool,
}

impl<'a> CompactPeers<'a> {
    /// A view of `bytes` as IPv4 (`ipv6` false, 6 bytes per peer) or IPv6
    /// (`ipv6` true, 18 bytes per peer) peers; `None` when the length is
    /// not a whole number of peers.
    pub fn new(bytes: &'a [u8], ipv6: bool) -> Option<Self> {
        let stride = if ipv6 { V6_LEN } else { V4_LEN };
        (bytes.len() % stride == 0).then_some(CompactPeers { bytes, ipv6 })
    }

    /// An empty list of the given family.
    pub fn empty(ipv6: bool) -> Self {
        CompactPeers { bytes: &[], ipv6 }
    }

    /// Whether the peers are IPv6 (18 bytes each) rather than IPv4 (6).
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The raw bytes of the peers not yet iterated: a whole number of
    /// compact peers.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The peer at `index` among those not yet iterated.
    pub fn get(&self, index: usize) -> Option<SocketAddr> {
        if self.ipv6 {
            let at = index.checked_mul(V6_LEN)?;
            self.bytes.get(at..)?.first_chunk().map(read_v6)
        } else {
            let at = index.checked_mul(V4_LEN)?;
            self.bytes.get(at..)?.first_chunk().map(read_v4)
        }
    }
}

impl fmt::Debug for CompactPeers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl Iterator for CompactPeers<'_> {
    type Item = SocketAddr;

    #[inline]
    fn next(&mut self) -> Option<SocketAddr> {
        if self.ipv6 {
            let (c, rest) = self.bytes.split_first_chunk::<V6_LEN>()?;
            self.bytes = rest;
            Some(read_v6(c))
        } else {
            let (c, rest) = self.bytes.split_first_chunk::<V4_LEN>()?;
            self.bytes = rest;
            Some(read_v4(c))
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len();
        (n, Some(n))
    }

    #[inline]
    fn count(self) -> usize {
        self.len()
    }

    #[inline]
    fn nth(&mut self, n: usize) -> Option<SocketAddr> {
        let stride = if self.ipv6 { V6_LEN } else { V4_LEN };
        let skip = n.saturating_mul(stride).min(self.bytes.len());
        self.bytes = &self.bytes[skip..];
        self.next()
    }
}

impl DoubleEndedIterator for CompactPeers<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<SocketAddr> {
        if self.ipv6 {
            let (rest, c) = self.bytes.split_last_chunk::<V6_LEN>()?;
            self.bytes = rest;
            Some(read_v6(c))
        } else {
            let (rest, c) = self.bytes.split_last_chunk::<V4_LEN>()?;
            self.bytes = rest;
            Some(read_v4(c))
        }
    }
}

impl ExactSizeIterator for CompactPeers<'_> {
    #[inline]
    fn len(&self) -> usize {
        if self.ipv6 {
            self.bytes.len() / V6_LEN
        } else {
            self.bytes.len() / V4_LEN
        }
    }
}

impl FusedIterator for CompactPeers<'_> {}

/// One IPv4 peer from 6 bytes (address, port; big-endian).
#[inline(always)]
pub(crate) fn read_v4(c: &[u8; V4_LEN]) -> SocketAddr {
    let [a, b, c, d, p0, p1] = *c;
    SocketAddr::V4(SocketAddrV4::new(
        [a, b, c, d].into(),
        u16::from_be_bytes([p0, p1]),
    ))
}

/// One IPv6 peer from 18 bytes (address, port; big-endian).
#[inline(always)]
pub(crate) fn read_v6(c: &[u8; V6_LEN]) -> SocketAddr {
    let (ip, port) = c.split_at(16);
    let ip: [u8; 16] = ip.try_into().unwrap_or_default();
    let port: [u8; 2] = port.try_into().unwrap_or_default();
    SocketAddr::V6(SocketAddrV6::new(ip.into(), u16::from_be_bytes(port), 0, 0))
}

/// Reads every peer of `bytes` (a whole number of `ipv6`-sized peers) into
/// a vector of exactly that many addresses.
#[inline]
pub(crate) fn read_all(bytes: &[u8], ipv6: bool) -> Vec<SocketAddr> {
    if ipv6 {
        bytes
            .chunks_exact(V6_LEN)
            .map(|c| read_v6(c.try_into().unwrap_or(&[0; V6_LEN])))
            .collect()
    } else {
        bytes
            .chunks_exact(V4_LEN)
            .map(|c| read_v4(c.try_into().unwrap_or(&[0; V4_LEN])))
            .collect()
    }
}

/// Writes the peers of one family (IPv6 when `ipv6`, else IPv4) among
/// `items` in compact form, `addr` giving each item's address. Peers are
/// gathered in a stack buffer and handed to `buf` a few hundred bytes at
/// a time, not 6 bytes at a time.
#[inline]
pub(crate) fn write_family<T, B>(
    buf: &mut B,
    items: &[T],
    addr: impl Fn(&T) -> &SocketAddr,
    ipv6: bool,
) where
    B: BufMut + ?Sized,
{
    let mut tmp = [0u8; CHUNK * V6_LEN + 2];
    let mut n = 0;
    for item in items {
        let a = addr(item);
        if a.is_ipv6() != ipv6 {
            continue;
        }
        if n > (CHUNK - 1) * V6_LEN {
            buf.put_slice(&tmp[..n]);
            n = 0;
        }
        n = put_addr(&mut tmp, n, a);
    }
    buf.put_slice(&tmp[..n]);
}

/// Writes peers in compact form, each in its own family's size (6 bytes
/// for IPv4, 18 for IPv6), through a stack buffer as [`write_family`].
#[inline]
pub(crate) fn write_addr_slice<B: BufMut + ?Sized>(buf: &mut B, peers: &[SocketAddr]) {
    write_all(buf, peers, |a| a);
}

/// Writes the address of every item, as [`write_addr_slice`].
#[inline]
pub(crate) fn write_all<T, B>(buf: &mut B, items: &[T], addr: impl Fn(&T) -> &SocketAddr)
where
    B: BufMut + ?Sized,
{
    let mut tmp = [0u8; CHUNK * V6_LEN + 2];
    for chunk in items.chunks(CHUNK) {
        let mut n = 0;
        for item in chunk {
            n = put_addr(&mut tmp, n, addr(item));
        }
        buf.put_slice(&tmp[..n]);
    }
}

/// Most peers [`gather_v4`] takes: 64 × 6 = 384 bytes.
pub(crate) const GATHER: usize = 64;

/// Writes the leading IPv4 peers of `items` in compact form into `tmp`,
/// at most [`GATHER`] of them, and returns how many it wrote: all of
/// `items` unless it met an IPv6 peer or filled `tmp`.
#[inline]
pub(crate) fn gather_v4<T>(
    tmp: &mut [u8; GATHER * V4_LEN],
    items: &[T],
    addr: impl Fn(&T) -> &SocketAddr,
) -> usize {
    let mut n = 0;
    for (slot, item) in tmp.chunks_exact_mut(V4_LEN).zip(items) {
        let SocketAddr::V4(a) = addr(item) else {
            break;
        };
        slot[..4].copy_from_slice(&a.ip().octets());
        slot[4..].copy_from_slice(&a.port().to_be_bytes());
        n += 1;
    }
    n
}

/// Peers per flush: 27 × 18 = 486 bytes at most.
const CHUNK: usize = 27;

/// Writes one compact peer at `tmp[n..]` and returns the end. An IPv4
/// peer is stored as 8 bytes, the 6 it is and 2 that the next peer
/// overwrites (the buffer has 2 bytes of slack for the last one).
#[inline(always)]
fn put_addr(tmp: &mut [u8; CHUNK * V6_LEN + 2], n: usize, addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            let w = u64::from(a.ip().to_bits()) << 32 | u64::from(a.port()) << 16;
            tmp[n..n + 8].copy_from_slice(&w.to_be_bytes());
            n + V4_LEN
        }
        SocketAddr::V6(a) => {
            tmp[n..n + 16].copy_from_slice(&a.ip().octets());
            tmp[n + 16..n + V6_LEN].copy_from_slice(&a.port().to_be_bytes());
            n + V6_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_addrs(ipv6: bool) -> BoxedStrategy<Vec<SocketAddr>> {
        if ipv6 {
            proptest::collection::vec(
                (any::<[u8; 16]>(), any::<u16>()).prop_map(SocketAddr::from),
                0..100,
            )
            .boxed()
        } else {
            proptest::collection::vec(
                (any::<[u8; 4]>(), any::<u16>()).prop_map(SocketAddr::from),
                0..100,
            )
            .boxed()
        }
    }

    proptest! {
        #[test]
        fn view_round_trip(ipv6 in any::<bool>(), addrs in any::<bool>().prop_flat_map(arb_addrs)) {
            // Only peers of the view's family: encode, view, decode.
            let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| a.is_ipv6() == ipv6).collect();
            let mut raw = Vec::new();
            write_addr_slice(&mut raw, &addrs);
            let peers = CompactPeers::new(&raw, ipv6).unwrap();
            prop_assert_eq!(peers.len(), addrs.len());
            prop_assert_eq!(peers.as_bytes(), &raw[..]);
            prop_assert_eq!(peers.clone().collect::<Vec<_>>(), addrs.clone());
            prop_assert_eq!(peers.clone().rev().collect::<Vec<_>>(), addrs.iter().rev().copied().collect::<Vec<_>>());
            prop_assert_eq!(read_all(&raw, ipv6), addrs.clone());
            for (i, a) in addrs.iter().enumerate() {
                prop_assert_eq!(peers.get(i), Some(*a));
                prop_assert_eq!(peers.clone().nth(i), Some(*a));
            }
            prop_assert_eq!(peers.get(addrs.len()), None);
            prop_assert_eq!(peers.clone().nth(addrs.len()), None);
        }

        #[test]
        fn mixed_families_write_in_order(v4 in arb_addrs(false), v6 in arb_addrs(true), pick in proptest::collection::vec(any::<bool>(), 0..200)) {
            // Interleave the two families; each peer takes its own size.
            let (mut a, mut b) = (v4.into_iter(), v6.into_iter());
            let addrs: Vec<SocketAddr> = pick.into_iter().filter_map(|p| if p { a.next() } else { b.next() }).collect();
            let mut slice_out = Vec::new();
            write_addr_slice(&mut slice_out, &addrs);
            let mut one_by_one = Vec::new();
            for x in &addrs {
                match x {
                    SocketAddr::V4(x) => { one_by_one.extend_from_slice(&x.ip().octets()); one_by_one.extend_from_slice(&x.port().to_be_bytes()); }
                    SocketAddr::V6(x) => { one_by_one.extend_from_slice(&x.ip().octets()); one_by_one.extend_from_slice(&x.port().to_be_bytes()); }
                }
            }
            prop_assert_eq!(&slice_out, &one_by_one);
            for ipv6 in [false, true] {
                let mut fam = Vec::new();
                write_family(&mut fam, &addrs, |a| a, ipv6);
                let want: Vec<SocketAddr> = addrs.iter().copied().filter(|a| a.is_ipv6() == ipv6).collect();
                prop_assert_eq!(CompactPeers::new(&fam, ipv6).unwrap().collect::<Vec<_>>(), want);
            }
        }

        #[test]
        fn new_rejects_partial_peers(len in 0usize..200, ipv6 in any::<bool>()) {
            let raw = vec![7u8; len];
            let stride = if ipv6 { V6_LEN } else { V4_LEN };
            prop_assert_eq!(CompactPeers::new(&raw, ipv6).is_some(), len % stride == 0);
        }
    }
}
