//! Magnet links: fetching the info dictionary from peers with `ut_metadata`
//! (BEP 9), several peers at once, and checking it against the info hash.
//!
//! [`MetadataAssembler`] is the sans-IO part (which piece to ask whom, what
//! to accept); `fetch` drives it over TCP connections.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{Info, InfoHash, Magnet, PeerId};
use seedbed_peer_wire::{
    metadata_piece_count, ExtendedHandshake, Handshake, HandshakeCodec, HandshakeEvent, Limits,
    Message, MessageCodec, MetadataMessage, Reserved, METADATA_PIECE_LEN, UT_METADATA,
};
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_util::codec::Framed;

use crate::config::{AddTorrentOptions, SessionConfig};
use crate::handle::{Event, Slot};

/// Why a metadata message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// `metadata_size` is 0 or above the configured ceiling.
    #[error("metadata size {size} outside 1..={max} bytes")]
    BadSize {
        /// The advertised size in bytes.
        size: u64,
        /// The ceiling in bytes.
        max: u32,
    },
    /// A data message whose `total_size` differs from the advertised size.
    #[error("total_size {found} differs from metadata_size {expected}")]
    SizeMismatch {
        /// The size being assembled.
        expected: u32,
        /// The size in the message.
        found: u64,
    },
    /// A piece index past the last piece, or piece data of the wrong length.
    #[error("bad metadata piece {piece} ({len} bytes)")]
    BadPiece {
        /// The piece index.
        piece: u32,
        /// The data length in bytes.
        len: usize,
    },
}

/// Assembles an info dictionary from 16 KiB `ut_metadata` pieces (BEP 9)
/// received from several peers, identified by `K`.
///
/// Invariants: `pieces.len() == requested.len() == ceil(size / 16 KiB)`;
/// a piece is requested from at most one peer at a time; received pieces
/// have exactly their expected length.
#[derive(Debug)]
pub struct MetadataAssembler<K> {
    size: u32,
    pieces: Vec<Option<(Bytes, K)>>,
    requested: Vec<Option<K>>,
}

impl<K: Copy + Eq> MetadataAssembler<K> {
    /// Starts assembling `size` bytes. Nothing of that size is allocated
    /// before the data arrives.
    ///
    /// # Errors
    /// [`MetadataError::BadSize`] when `size` is 0 or above `max`.
    pub fn new(size: u64, max: u32) -> Result<Self, MetadataError> {
        if size == 0 || size > u64::from(max) {
            return Err(MetadataError::BadSize { size, max });
        }
        let size = size as u32;
        let n = metadata_piece_count(size) as usize;
        Ok(MetadataAssembler {
            size,
            pieces: vec![None; n],
            requested: vec![None; n],
        })
    }

    /// The size being assembled, in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The next piece to ask `peer` for: the first one neither received
    /// nor requested from anyone.
    pub fn next_request(&mut self, peer: K) -> Option<u32> {
        let i = (0..self.pieces.len())
            .find(|&i| self.pieces[i].is_none() && self.requested[i].is_none())?;
        self.requested[i] = Some(peer);
        Some(i as u32)
    }

    fn piece_len(&self, piece: u32) -> usize {
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        (self.size as usize - start).min(METADATA_PIECE_LEN as usize)
    }

    /// Records a data message from `peer`; returns whether every piece is
    /// now there.
    ///
    /// # Errors
    /// [`MetadataError::SizeMismatch`] or [`MetadataError::BadPiece`]; the
    /// data is not kept.
    pub fn on_data(
        &mut self,
        peer: K,
        piece: u32,
        total_size: u64,
        data: Bytes,
    ) -> Result<bool, MetadataError> {
        if total_size != u64::from(self.size) {
            return Err(MetadataError::SizeMismatch {
                expected: self.size,
                found: total_size,
            });
        }
        if piece as usize >= self.pieces.len() || data.len() != self.piece_len(piece) {
            return Err(MetadataError::BadPiece {
                piece,
                len: data.len(),
            });
        }
        let i = piece as usize;
        self.requested[i] = None;
        if self.pieces[i].is_none() {
            self.pieces[i] = Some((data, peer));
        }
        Ok(self.is_complete())
    }

    /// Every request made of `peer` becomes free (it rejected, timed out or
    /// left).
    pub fn release(&mut self, peer: K) {
        for r in &mut self.requested {
            if *r == Some(peer) {
                *r = None;
            }
        }
    }

    /// Whether every piece is there.
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(Option::is_some)
    }

    /// The assembled bytes and the peers that sent them, once complete;
    /// the assembler starts over either way.
    pub fn take(&mut self) -> Option<(Bytes, Vec<K>)> {
        if !self.is_complete() {
            return None;
        }
        let mut out = BytesMut::with_capacity(self.size as usize);
        let mut peers: Vec<K> = Vec::new();
        for (data, peer) in self.pieces.iter().flatten() {
            out.extend_from_slice(data);
            if !peers.contains(peer) {
                peers.push(*peer);
            }
        }
        self.reset();
        Some((out.freeze(), peers))
    }

    /// Forgets every piece.
    pub fn reset(&mut self) {
        self.pieces.iter_mut().for_each(|p| *p = None);
        self.requested.iter_mut().for_each(|r| *r = None);
    }
}

/// What `fetch` needs from the session.
pub(crate) struct FetchContext {
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) peer_id: PeerId,
    pub(crate) listen_port: Option<u16>,
    pub(crate) slot: Arc<Slot>,
}

#[derive(Default)]
struct FetchState {
    asm: Option<MetadataAssembler<SocketAddr>>,
    active: HashSet<SocketAddr>,
    tried: HashSet<SocketAddr>,
    bad: HashSet<SocketAddr>,
    known: Vec<SocketAddr>,
    result: Option<Bytes>,
}

/// Most peers asked for metadata at once.
const FETCH_PEERS: usize = 8;
/// A peer that sends nothing useful for this long is dropped.
const PEER_SILENCE: Duration = Duration::from_secs(20);
/// Metadata requests outstanding per peer.
const PER_PEER: usize = 2;

/// Fetches and checks the info dictionary; returns it with every peer
/// address learned on the way. `None` only if the task is cancelled.
pub(crate) async fn fetch(
    ctx: &FetchContext,
    magnet: &Magnet,
    opts: &AddTorrentOptions,
) -> Option<(Info, Vec<SocketAddr>)> {
    let info_hash = magnet.info_hash_v1()?;
    let state = Arc::new(Mutex::new(FetchState::default()));
    let done = Arc::new(Notify::new());
    {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.known.extend(opts.peers.iter().copied());
        for p in magnet.peers() {
            if let seedbed_metainfo::HostPort::Ip(a) = p {
                st.known.push(*a);
            }
        }
    }
    for p in magnet.peers() {
        if let seedbed_metainfo::HostPort::Name { host, port } = p {
            if let Ok(addrs) = tokio::net::lookup_host((host.as_str(), *port)).await {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.known.extend(addrs);
            }
        }
    }
    let trackers = magnet.trackers().to_vec();
    let announcer = (!trackers.is_empty()).then(|| {
        tokio::spawn(announce_for_peers(
            Arc::clone(&ctx.config),
            trackers,
            info_hash,
            ctx.peer_id,
            ctx.listen_port,
            Arc::clone(&state),
        ))
    });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let bytes = loop {
        {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = st.result.take() {
                break b;
            }
            let candidates: Vec<SocketAddr> = st
                .known
                .iter()
                .copied()
                .filter(|a| !st.tried.contains(a) && !st.bad.contains(a))
                .collect();
            for addr in candidates {
                if st.active.len() >= FETCH_PEERS {
                    break;
                }
                st.tried.insert(addr);
                st.active.insert(addr);
                let (state, done, config) = (
                    Arc::clone(&state),
                    Arc::clone(&done),
                    Arc::clone(&ctx.config),
                );
                let (peer_id, slot) = (ctx.peer_id, Arc::clone(&ctx.slot));
                tokio::spawn(async move {
                    let _ = ask_peer(addr, info_hash, peer_id, &config, &state, &done, &slot).await;
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    st.active.remove(&addr);
                    if let Some(asm) = st.asm.as_mut() {
                        asm.release(addr);
                    }
                });
            }
            // Peers that answered may be asked again later (another may
            // have been penalized meanwhile).
            if st.active.is_empty() {
                let bad = st.bad.clone();
                st.tried.retain(|a| bad.contains(a));
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.notified() => {}
        }
    };
    if let Some(a) = announcer {
        a.abort();
    }
    let info = match Info::from_bytes(bytes) {
        Ok(i) => i,
        Err(e) => {
            ctx.slot
                .set_status(crate::handle::Status::Failed(format!("metadata: {e}")));
            return None;
        }
    };
    let known = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .known
        .clone();
    Some((info, known))
}

/// Announces to the link's trackers to find peers until cancelled.
async fn announce_for_peers(
    config: Arc<SessionConfig>,
    trackers: Vec<String>,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: Option<u16>,
    state: Arc<Mutex<FetchState>>,
) {
    use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
    use seedbed_tracker_proto::{AnnounceRequest, Event as TrackerEvent};
    let Ok(client) = TrackerClient::new(ClientOptions {
        timeout: config.tracker_timeout,
        user_agent: config.user_agent.clone(),
        ..ClientOptions::default()
    }) else {
        return;
    };
    loop {
        for url in &trackers {
            let mut req = AnnounceRequest::new(info_hash, peer_id, port.unwrap_or(0));
            // Unknown size: not a seed.
            req.left = 1;
            req.event = TrackerEvent::Started;
            req.numwant = Some(50);
            if let Ok(resp) = client.announce(url, &req).await {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                for p in resp.peers {
                    if !st.known.contains(&p.addr) {
                        st.known.push(p.addr);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

/// Asks one peer for metadata pieces until it has nothing more to give or
/// the dictionary is complete.
async fn ask_peer(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: PeerId,
    config: &SessionConfig,
    state: &Mutex<FetchState>,
    done: &Notify,
    slot: &Slot,
) -> Option<()> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let stream = timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    let ours = Handshake::new(info_hash, peer_id).with_reserved(
        Reserved::ZERO
            .with(Reserved::EXTENSION_PROTOCOL)
            .with(Reserved::FAST),
    );
    framed.send(ours).await.ok()?;
    let theirs = match timeout(config.connect_timeout, framed.next())
        .await
        .ok()??
    {
        Ok(HandshakeEvent::Complete(hs)) => hs,
        _ => return None,
    };
    if theirs.info_hash != info_hash || !theirs.reserved.extension_protocol() {
        return None;
    }
    let limits = Limits::new().max_metadata_size(config.max_metadata_size);
    let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
    let mut hs = ExtendedHandshake {
        v: Some(config.user_agent.clone()),
        ..ExtendedHandshake::default()
    };
    hs.m.insert(UT_METADATA.to_string(), OUR_UT_METADATA);
    framed.send(hs.to_message()).await.ok()?;
    let mut their_id = None;
    let mut outstanding = 0usize;
    loop {
        let msg = timeout(PEER_SILENCE, framed.next()).await.ok()??.ok()?;
        let Message::Extended { id, payload } = msg else {
            continue;
        };
        if id == 0 {
            // A size above the ceiling fails here, before any allocation.
            let hs = ExtendedHandshake::decode(&payload, &limits).ok()?;
            let (Some(&tid), Some(size)) = (hs.m.get(UT_METADATA), hs.metadata_size) else {
                return None;
            };
            let mut st = lock();
            match &st.asm {
                None => {
                    st.asm = Some(
                        MetadataAssembler::new(u64::from(size), config.max_metadata_size).ok()?,
                    )
                }
                Some(a) if a.size() != size => return None,
                Some(_) => {}
            }
            drop(st);
            their_id = Some(tid);
        } else if id == OUR_UT_METADATA {
            match MetadataMessage::decode(&payload, &limits).ok()? {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    outstanding = outstanding.saturating_sub(1);
                    let mut st = lock();
                    let asm = st.asm.as_mut()?;
                    if asm.on_data(addr, piece, u64::from(total_size), data).ok()? {
                        let (bytes, peers) = asm.take()?;
                        if Sha1::digest(&bytes).as_slice() == info_hash.0 {
                            st.result = Some(bytes);
                            drop(st);
                            done.notify_one();
                            return Some(());
                        }
                        // Wrong hash: discard, and never ask these peers
                        // again.
                        st.bad.extend(peers.iter().copied());
                        drop(st);
                        for p in peers {
                            tracing::warn!(addr = %p, "metadata with the wrong hash");
                            let _ = slot.events.send(Event::MetadataRejected { addr: p });
                        }
                        return None;
                    }
                }
                MetadataMessage::Reject { .. } => return None,
                _ => {}
            }
        }
        let Some(tid) = their_id else { continue };
        if lock().bad.contains(&addr) {
            return None;
        }
        while outstanding < PER_PEER {
            let Some(piece) = lock().asm.as_mut().and_then(|a| a.next_request(addr)) else {
                break;
            };
            let req = MetadataMessage::Request { piece };
            framed
                .send(Message::Extended {
                    id: tid,
                    payload: req.to_bytes(),
                })
                .await
                .ok()?;
            outstanding += 1;
        }
        if outstanding == 0 && lock().result.is_some() {
            return Some(());
        }
    }
}

/// Our extended message id for `ut_metadata` (BEP 10 `m`).
pub(crate) const OUR_UT_METADATA: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_from_several_peers() {
        let size = 40_000u64;
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut a = MetadataAssembler::new(size, 1 << 20).unwrap();
        assert_eq!(a.next_request(1u8), Some(0));
        assert_eq!(a.next_request(2u8), Some(1));
        assert_eq!(a.next_request(1u8), Some(2));
        assert_eq!(a.next_request(2u8), None);
        // Peer 2 rejects: its piece is free again.
        a.release(2);
        assert_eq!(a.next_request(3u8), Some(1));
        let piece =
            |i: usize| Bytes::copy_from_slice(&data[i * 16384..((i + 1) * 16384).min(data.len())]);
        assert_eq!(a.on_data(1, 0, size, piece(0)), Ok(false));
        assert!(a.on_data(1, 2, size + 1, piece(2)).is_err());
        assert!(
            a.on_data(1, 2, size, piece(1)).is_err(),
            "wrong length for the last piece"
        );
        assert_eq!(a.on_data(1, 2, size, piece(2)), Ok(false));
        assert_eq!(a.on_data(3, 1, size, piece(1)), Ok(true));
        let (bytes, peers) = a.take().unwrap();
        assert_eq!(&bytes[..], &data[..]);
        assert_eq!(peers, [1, 3]);
        assert!(!a.is_complete());
    }

    #[test]
    fn size_ceiling_at_and_past() {
        assert!(MetadataAssembler::<u8>::new(1000, 1000).is_ok());
        assert_eq!(
            MetadataAssembler::<u8>::new(1001, 1000).unwrap_err(),
            MetadataError::BadSize {
                size: 1001,
                max: 1000
            }
        );
        assert!(MetadataAssembler::<u8>::new(0, 1000).is_err());
        // A huge advertised size allocates nothing but the piece table.
        assert!(MetadataAssembler::<u8>::new(u64::MAX, 30 << 20).is_err());
    }
}
