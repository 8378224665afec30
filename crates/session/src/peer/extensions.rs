//! Extension messages: BEP 5 `port` (the peer's DHT node), and BEP 10
//! messages: `ut_metadata` requests served from the info dictionary
//! (BEP 9), and PeX (BEP 11) both ways.

use super::*;

impl Conn {
    /// BEP 5 `port`: the peer's DHT node listens on its IP and `port`;
    /// the DHT pings it (in a task of its own), and it enters the routing
    /// table if it answers. Only the first `port` of a connection counts (a
    /// peer cannot make us ping a stream of ports), and none when we run no
    /// DHT for this torrent (off, or private).
    pub(super) fn on_port(&mut self, port: u16) {
        if self.port_seen || port == 0 {
            return;
        }
        self.port_seen = true;
        if let Some(dht) = &self.shared.dht {
            let dht = dht.clone();
            let node = SocketAddr::new(self.addr.ip(), port);
            tokio::spawn(async move { dht.add_node(node).await });
        }
    }

    /// `ut_metadata` requests are served from the info dictionary's exact
    /// bytes (BEP 9); `ut_pex` peers are handed to the driver (BEP 11).
    pub(super) fn on_extension(&mut self, id: u8, payload: &Bytes) -> Result<(), Error> {
        match self.ids.incoming(id) {
            Some(UT_METADATA) => {
                let Ok(MetadataMessage::Request { piece }) =
                    MetadataMessage::decode(payload, &self.shared.limits)
                else {
                    return Ok(());
                };
                let Some(their_id) = self.ids.outgoing(UT_METADATA) else {
                    return Ok(());
                };
                let raw = self.shared.info.raw().clone();
                let total = raw.len() as u32;
                let reply = if piece < metadata_piece_count(total) {
                    let start = piece as usize * METADATA_PIECE_LEN as usize;
                    let end = (start + METADATA_PIECE_LEN as usize).min(raw.len());
                    MetadataMessage::Data {
                        piece,
                        total_size: total,
                        data: raw.slice(start..end),
                    }
                } else {
                    MetadataMessage::Reject { piece }
                };
                self.send(Message::Extended {
                    id: their_id,
                    payload: reply.to_bytes(),
                });
            }
            Some(UT_PEX) if !self.private => {
                if let Ok(pex) = PexMessage::decode(payload) {
                    let addrs: Vec<SocketAddr> = pex
                        .added
                        .iter()
                        .map(|a| SocketAddr::V4(*a))
                        .chain(pex.added6.iter().map(|a| SocketAddr::V6(*a)))
                        .filter(|a| a.port() != 0)
                        .take(PEX_MAX)
                        .collect();
                    if !addrs.is_empty() {
                        let _ = self.shared.cmd_tx.send(DriverCmd::AddPeers(addrs));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Sends the peers connected and dropped since our last PeX message.
    pub(super) fn send_pex(&mut self) -> Result<(), Error> {
        let Some(their_id) = self.ids.outgoing(UT_PEX) else {
            return Ok(());
        };
        let current: HashSet<SocketAddr> = {
            let st = self.shared.lock();
            st.peers
                .iter()
                .filter(|(k, _)| **k != self.key)
                .filter_map(|(_, p)| p.listen_addr)
                .filter(|a| *a != self.addr)
                .collect()
        };
        let mut msg = PexMessage::default();
        for a in current.difference(&self.pex_sent).take(PEX_MAX) {
            match a {
                SocketAddr::V4(v4) => {
                    msg.added.push(*v4);
                    msg.added_flags.push(PexFlags(0));
                }
                SocketAddr::V6(v6) => {
                    msg.added6.push(*v6);
                    msg.added6_flags.push(PexFlags(0));
                }
            }
        }
        for a in self.pex_sent.difference(&current).take(PEX_MAX) {
            match a {
                SocketAddr::V4(v4) => msg.dropped.push(*v4),
                SocketAddr::V6(v6) => msg.dropped6.push(*v6),
            }
        }
        if msg == PexMessage::default() {
            return Ok(());
        }
        for a in msg
            .added
            .iter()
            .map(|a| SocketAddr::V4(*a))
            .chain(msg.added6.iter().map(|a| SocketAddr::V6(*a)))
        {
            self.pex_sent.insert(a);
        }
        for a in msg
            .dropped
            .iter()
            .map(|a| SocketAddr::V4(*a))
            .chain(msg.dropped6.iter().map(|a| SocketAddr::V6(*a)))
        {
            self.pex_sent.remove(&a);
        }
        self.send(Message::Extended {
            id: their_id,
            payload: msg.to_bytes(),
        });
        Ok(())
    }
}
