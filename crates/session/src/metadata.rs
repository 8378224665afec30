//! Magnet links: fetching the info dictionary from peers with `ut_metadata`
//! (BEP 9), several peers at once, and checking it against the link's info
//! hashes: SHA-1 for `btih`, SHA-256 for `btmh` (BEP 52), both when the
//! link has both.
//!
//! `seedbed_peer_wire::MetadataAssembler` is the sans-IO part (which piece
//! to ask whom, what to accept); `fetch` drives it over peer connections (uTP or TCP).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{Info, InfoHash, InfoHashV2, Magnet, PeerId};
use seedbed_peer_wire::{
    ExtendedHandshake, Handshake, Limits, Message, MessageCodec, MetadataAssembler,
    MetadataMessage, Reserved, UT_METADATA,
};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::time::timeout;

use crate::config::{AddTorrentOptions, SessionConfig};
use crate::handle::{Event, Slot};

/// What `fetch` needs from the session.
pub(crate) struct FetchContext {
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) peer_id: PeerId,
    pub(crate) listen_port: Option<u16>,
    pub(crate) slot: Arc<Slot>,
    /// The session's DHT, to look the link's peers up (BEP 5).
    pub(crate) dht: Option<crate::dht::SessionDht>,
    /// Opens peer connections (uTP first, then TCP, by the settings).
    pub(crate) dialer: crate::transport::Dialer,
}

#[derive(Default)]
struct FetchState {
    /// One assembler per advertised `metadata_size`: a peer lying about
    /// the size cannot lock out the honest ones.
    asm: HashMap<u32, MetadataAssembler<SocketAddr>>,
    active: HashSet<SocketAddr>,
    /// When each address may be dialled again, and how often it failed.
    retry: HashMap<SocketAddr, (std::time::Instant, u32)>,
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
    // The wire hash: v1, or the truncated v2 hash of a `btmh`-only link.
    let info_hash = magnet.info_hash();
    let expected = Expected {
        v1: magnet.info_hash_v1(),
        v2: magnet.info_hash_v2(),
    };
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
            Arc::clone(&ctx.slot),
        ))
    });
    let dht_lookups = ctx.dht.as_ref().map(|dht| {
        let state = Arc::clone(&state);
        // The v1 hash, or for a `btmh`-only link the truncated v2 hash
        // (BEP 52): what v2-only peers announce under.
        dht.spawn_metadata_lookups(info_hash, move |peers| {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            for p in peers {
                if !st.known.contains(&p) {
                    st.known.push(p);
                }
            }
        })
    });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let bytes = loop {
        {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = st.result.take() {
                break b;
            }
            let now = std::time::Instant::now();
            for a in ctx.slot.take_pending_peers() {
                if !st.known.contains(&a) {
                    st.known.push(a);
                }
            }
            let candidates: Vec<SocketAddr> = st
                .known
                .iter()
                .copied()
                .filter(|a| {
                    !st.active.contains(a)
                        && !st.bad.contains(a)
                        && !ctx.config.is_own_address(*a)
                        && st.retry.get(a).is_none_or(|(t, _)| *t <= now)
                })
                .collect();
            for addr in candidates {
                if st.active.len() >= FETCH_PEERS {
                    break;
                }
                st.active.insert(addr);
                let (state, done, config) = (
                    Arc::clone(&state),
                    Arc::clone(&done),
                    Arc::clone(&ctx.config),
                );
                let (peer_id, slot) = (ctx.peer_id, Arc::clone(&ctx.slot));
                let dialer = ctx.dialer.clone();
                tokio::spawn(async move {
                    let _ = ask_peer(
                        addr, &dialer, info_hash, expected, peer_id, &config, &state, &done, &slot,
                    )
                    .await;
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    st.active.remove(&addr);
                    // Ask again later, backing off: 2, 4, 8 ... 64 s.
                    let failures = st.retry.get(&addr).map_or(0, |r| r.1) + 1;
                    let wait = Duration::from_secs(1 << failures.min(6));
                    st.retry
                        .insert(addr, (std::time::Instant::now() + wait, failures));
                    for asm in st.asm.values_mut() {
                        asm.release(addr);
                    }
                });
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.notified() => {}
        }
    };
    for task in announcer.into_iter().chain(dht_lookups) {
        task.abort();
    }
    let info = match Info::from_bytes(bytes) {
        Ok(i) => i,
        Err(e) => {
            ctx.slot
                .set_status(crate::handle::Status::Failed(format!("metadata: {e}")));
            return None;
        }
    };
    // Peers that sent metadata with the wrong hash are not handed on.
    let known = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.known
            .iter()
            .copied()
            .filter(|a| !st.bad.contains(a))
            .collect()
    };
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
    slot: Arc<Slot>,
) {
    let (events, list) = (&slot.events, &slot.trackers);
    use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
    use seedbed_tracker_proto::{AnnounceRequest, Event as TrackerEvent};
    let Ok(client) = TrackerClient::new(ClientOptions {
        timeout: config.tracker_timeout,
        user_agent: config.user_agent.clone(),
        local_address: config.bind_ip(),
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
            list.updating(url);
            match client.announce(url, &req).await {
                Ok(resp) => {
                    list.answered(url, resp.complete, resp.incomplete, resp.peers.len());
                    tracing::info!(%url, peers = resp.peers.len(), "tracker answered (metadata)");
                    let _ = events.send(Event::TrackerAnswered {
                        url: url.clone(),
                        peers: resp.peers.len(),
                        interval: resp.interval,
                    });
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    for p in resp.peers {
                        if !st.known.contains(&p.addr) {
                            st.known.push(p.addr);
                        }
                    }
                }
                Err(e) => {
                    list.failed(url, e.to_string());
                    tracing::debug!(%url, %e, "announce failed (metadata)");
                    let _ = events.send(Event::TrackerFailed {
                        url: url.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        let again = Duration::from_secs(15);
        list.next_round(std::time::Instant::now() + again);
        tokio::time::sleep(again).await;
    }
}

/// The hashes a magnet link names: the assembled info dictionary must have
/// every one of them (SHA-1 for `btih`, SHA-256 for `btmh`, both for a
/// hybrid's link).
#[derive(Clone, Copy, Debug)]
struct Expected {
    v1: Option<InfoHash>,
    v2: Option<InfoHashV2>,
}

impl Expected {
    fn matches(&self, info: &[u8]) -> bool {
        self.v1.is_none_or(|h| Sha1::digest(info).as_slice() == h.0)
            && self
                .v2
                .is_none_or(|h| Sha256::digest(info).as_slice() == h.0)
    }
}

/// Asks one peer for metadata pieces until it has nothing more to give or
/// the dictionary is complete.
#[allow(clippy::too_many_arguments)]
async fn ask_peer(
    addr: SocketAddr,
    dialer: &crate::transport::Dialer,
    info_hash: InfoHash,
    expected: Expected,
    peer_id: PeerId,
    config: &SessionConfig,
    state: &Mutex<FetchState>,
    done: &Notify,
    slot: &Slot,
) -> Option<()> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let ours = Handshake::new(info_hash, peer_id).with_reserved(
        Reserved::ZERO
            .with(Reserved::EXTENSION_PROTOCOL)
            .with(Reserved::FAST),
    );
    // uTP or TCP, then plain or MSE handshakes as the encryption policy
    // says.
    let (framed, theirs) = crate::encryption::dial(config, dialer, addr, ours)
        .await
        .ok()?;
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
    let mut their_size: Option<u32> = None;
    let mut outstanding = 0usize;
    let mut silent = Duration::ZERO;
    loop {
        // Wake up every second even without a message, to take pieces other
        // peers gave back.
        let msg = match timeout(Duration::from_secs(1), framed.next()).await {
            Ok(m) => {
                silent = Duration::ZERO;
                Some(m?.ok()?)
            }
            Err(_) => {
                silent += Duration::from_secs(1);
                if silent >= PEER_SILENCE {
                    return None;
                }
                None
            }
        };
        let (id, payload) = match msg {
            Some(Message::Extended { id, payload }) => (id, payload),
            Some(_) => continue,
            None => (u8::MAX, Bytes::new()),
        };
        if id == u8::MAX {
            // Timer tick: fall through to the requests below.
        } else if id == 0 {
            // A size above the ceiling fails here, before any allocation.
            let hs = ExtendedHandshake::decode(&payload, &limits).ok()?;
            let (Some(&tid), Some(size)) = (hs.m.get(UT_METADATA), hs.metadata_size) else {
                return None;
            };
            let mut st = lock();
            if let std::collections::hash_map::Entry::Vacant(e) = st.asm.entry(size) {
                e.insert(MetadataAssembler::new(u64::from(size), config.max_metadata_size).ok()?);
            }
            drop(st);
            their_id = Some(tid);
            their_size = Some(size);
        } else if id == OUR_UT_METADATA {
            match MetadataMessage::decode(&payload, &limits).ok()? {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    outstanding = outstanding.saturating_sub(1);
                    let mut st = lock();
                    let asm = st.asm.get_mut(&their_size?)?;
                    if asm.on_data(addr, piece, u64::from(total_size), data).ok()? {
                        let (bytes, peers) = asm.take()?;
                        if expected.matches(&bytes) {
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
            let size = their_size?;
            let Some(piece) = lock().asm.get_mut(&size).and_then(|a| a.next_request(addr)) else {
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
