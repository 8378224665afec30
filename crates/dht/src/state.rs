//! The routing table saved between runs (BEP 5: "The routing table should
//! be saved between invocations"), so a restart bootstraps at once from
//! nodes it knew.
//!
//! The format is one bencoded dictionary, keys sorted:
//!
//! ```text
//! d 2:id 20:<our node id>
//!   5:nodes <26 × n bytes: compact IPv4 node info>
//!   6:nodes6 <38 × m bytes: compact IPv6 node info>
//! e
//! ```
//!
//! the same compact node info as KRPC replies (BEP 5, BEP 32), which is
//! also what libtorrent keeps in its session state.

use bytes::BufMut;
use seedbed_bencode::{decode_with, write_bytes, DecodeOptions};

use crate::compact::{encode_node, CompactNodes, Family, NodeInfo};
use crate::error::Error;
use crate::id::NodeId;

/// Most nodes read back from a state: 8,192 (a full routing table of both
/// families holds at most 2 × 160 × 8 = 2,560).
pub const MAX_STATE_NODES: usize = 8192;

/// A saved routing table: our id and the nodes it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutingState {
    /// Our node id, to keep it across restarts.
    pub id: NodeId,
    /// The nodes, IPv4 and IPv6.
    pub nodes: Vec<NodeInfo>,
}

impl RoutingState {
    /// The bencoded state (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in &self.nodes {
            match Family::of(&n.addr) {
                Family::V4 => encode_node(n, &mut v4),
                Family::V6 => encode_node(n, &mut v6),
            }
        }
        let mut out = Vec::with_capacity(v4.len() + v6.len() + 64);
        out.put_u8(b'd');
        write_bytes(&mut out, b"id");
        write_bytes(&mut out, &self.id.0);
        write_bytes(&mut out, b"nodes");
        write_bytes(&mut out, &v4);
        write_bytes(&mut out, b"nodes6");
        write_bytes(&mut out, &v6);
        out.put_u8(b'e');
        out
    }

    /// Reads a state written by [`encode`](Self::encode). Keys may come in
    /// any order; unknown keys are ignored; node lists are cut to whole
    /// entries and to [`MAX_STATE_NODES`] nodes.
    ///
    /// # Errors
    /// [`Error::Bencode`] for bytes that are not bencode; [`Error::State`]
    /// (with the byte offset) when the root is not a dictionary or `id` is
    /// missing or not 20 bytes.
    pub fn decode(bytes: &[u8]) -> Result<RoutingState, Error> {
        let doc = decode_with(bytes, &DecodeOptions::new().max_depth(4).max_items(64))?;
        let dict = doc.root().as_dict().ok_or(Error::State {
            offset: 0,
            reason: "not a dictionary",
        })?;
        let id = match dict.get(b"id") {
            Some(v) => v
                .as_bytes()
                .and_then(NodeId::from_slice)
                .ok_or(Error::State {
                    offset: v.span().start,
                    reason: "`id` is not 20 bytes",
                })?,
            None => {
                return Err(Error::State {
                    offset: 0,
                    reason: "missing `id`",
                })
            }
        };
        let mut nodes = Vec::new();
        for (key, family) in [(&b"nodes"[..], Family::V4), (&b"nodes6"[..], Family::V6)] {
            if let Some(v) = dict.get(key) {
                let b = v.as_bytes().ok_or(Error::State {
                    offset: v.span().start,
                    reason: "node list is not a string",
                })?;
                let room = MAX_STATE_NODES - nodes.len();
                nodes.extend(CompactNodes::new(b, family).iter().take(room));
            }
        }
        Ok(RoutingState { id, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let s = RoutingState {
            id: NodeId([9; 20]),
            nodes: vec![
                NodeInfo::new(NodeId([1; 20]), "127.0.0.1:6881".parse().unwrap()),
                NodeInfo::new(NodeId([2; 20]), "[::1]:6882".parse().unwrap()),
            ],
        };
        let bytes = s.encode();
        assert_eq!(RoutingState::decode(&bytes).unwrap(), s);
        assert!(matches!(
            RoutingState::decode(b"le"),
            Err(Error::State { offset: 0, .. })
        ));
        assert!(matches!(
            RoutingState::decode(b"d2:id3:abce"),
            Err(Error::State { offset: 5, .. })
        ));
        // Past MAX_STATE_NODES: cut.
        let many = RoutingState {
            id: NodeId([9; 20]),
            nodes: (0..MAX_STATE_NODES + 5)
                .map(|i| {
                    NodeInfo::new(
                        NodeId([i as u8; 20]),
                        std::net::SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1)),
                    )
                })
                .collect(),
        };
        assert_eq!(
            RoutingState::decode(&many.encode()).unwrap().nodes.len(),
            MAX_STATE_NODES
        );
    }
}
