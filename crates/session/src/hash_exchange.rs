//! BEP 52 hash transfer: asking peers for the piece layers we lack,
//! checking their answers, and answering their `hash request`s.
//!
//! Asking: a torrent from a magnet link (or a .torrent without `piece
//! layers`) knows only each file's `pieces root`. Its piece layers are
//! asked of peers that speak v2 on the connection, in chunks of
//! [`LAYER_CHUNK`] hashes at the piece layer, each with the proof hashes
//! up to the root, of peers that have a piece of the chunk; one peer per
//! chunk at a time ([`Inflight`]), at most [`MAX_REQUESTS_PER_PEER`] per
//! peer. An answer is used only if its hashes and proof lead to the file's
//! root (`V2Hashes::accept_hashes`); a peer whose answer does not is
//! banned. A rejected or unanswered chunk is asked of another peer.
//!
//! Answering: requests at or above the piece layer come from the file's
//! tree once its whole layer is known; requests below it (down to the
//! leaves) hash one piece we have from disk, and only for a peer we
//! unchoke. Everything else gets `hash reject`. Requests are answered one
//! at a time by the peer's task, and the sizes are bounded by
//! [`HashRequest::MAX_LENGTH`] and the file's tree, so asking makes us
//! allocate at most one answer (and one piece's leaf hashes).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedbed_metainfo::create::merkle::{self, Hash256};
use seedbed_metainfo::BLOCK_SIZE;
use seedbed_peer_wire::{HashRequest, Hashes, Message};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::handle::Event;
use crate::merkle_verify::{V2File, V2Hashes, LAYER_CHUNK};
use crate::torrent::{PeerCmd, PeerKey, TorrentShared};

/// Most hash requests outstanding to one peer.
pub(crate) const MAX_REQUESTS_PER_PEER: usize = 4;
/// A chunk asked for and not answered in this time is asked of another
/// peer (and the late answer ignored).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Layer chunks being fetched: which peer was asked for `(file, chunk)`
/// (indices in `V2Hashes::files` and in the file's layer), and when.
#[derive(Debug, Default)]
pub(crate) struct Inflight {
    asked: HashMap<(usize, u32), (PeerKey, Instant)>,
}

/// One connection's side of the hash exchange.
#[derive(Debug, Default)]
pub(crate) struct PeerHashes {
    /// The connection speaks v2: a v2 torrent, or a hybrid whose
    /// handshake used (or was upgraded to) the v2 info hash. Only such
    /// peers are asked (libtorrent drops others that send hash messages).
    pub(crate) v2: bool,
    /// Our requests to the peer: the request, its chunk, when it was sent.
    outstanding: Vec<(HashRequest, (usize, u32), Instant)>,
    /// Chunks the peer rejected: not asked of it again.
    refused: HashSet<(usize, u32)>,
}

impl PeerHashes {
    /// The state of a new connection; `v2`: it speaks v2.
    pub(crate) fn new(v2: bool) -> PeerHashes {
        PeerHashes {
            v2,
            ..PeerHashes::default()
        }
    }
}

/// The request for chunk `c` of file `f`: at the piece layer, up to 512
/// hashes (at least 2, BEP 52), proven up to the root.
fn chunk_request(v2: &V2Hashes, f: &V2File, c: u32) -> HashRequest {
    let base = (v2.piece_length() / BLOCK_SIZE).trailing_zeros();
    let height = merkle::tree_height(f.length);
    let remaining = f.num_pieces - c * LAYER_CHUNK;
    let length = remaining.next_power_of_two().clamp(2, LAYER_CHUNK);
    HashRequest {
        pieces_root: f.root,
        base_layer: base,
        index: c * LAYER_CHUNK,
        length,
        proof_layers: height - base - 1,
    }
}

/// The hash requests to send this peer now (none once every layer is
/// known): chunks nobody is fetching, of which the peer has a piece.
pub(crate) fn next_requests(
    shared: &TorrentShared,
    key: PeerKey,
    ph: &mut PeerHashes,
    now: Instant,
) -> Vec<HashRequest> {
    let Some(v2) = &shared.verifier.v2 else {
        return Vec::new();
    };
    if !ph.v2 || v2.complete() {
        return Vec::new();
    }
    // Unanswered for too long: give the chunk to someone else.
    if ph
        .outstanding
        .iter()
        .any(|(_, _, at)| now.duration_since(*at) > REQUEST_TIMEOUT)
    {
        let mut inflight = v2.inflight.lock().unwrap_or_else(|e| e.into_inner());
        ph.outstanding.retain(|(_, chunk, at)| {
            let late = now.duration_since(*at) > REQUEST_TIMEOUT;
            if late && inflight.asked.get(chunk).is_some_and(|(k, _)| *k == key) {
                inflight.asked.remove(chunk);
            }
            !late
        });
    }
    if ph.outstanding.len() >= MAX_REQUESTS_PER_PEER {
        return Vec::new();
    }
    let Some(has) = shared.lock().peers.get(&key).map(|p| p.has.clone()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut inflight = v2.inflight.lock().unwrap_or_else(|e| e.into_inner());
    for (k, f) in v2.files.iter().enumerate() {
        for c in 0..f.num_chunks() {
            if ph.outstanding.len() >= MAX_REQUESTS_PER_PEER {
                return out;
            }
            let chunk = (k, c);
            if f.has_chunk(c) || ph.refused.contains(&chunk) {
                continue;
            }
            let taken = inflight
                .asked
                .get(&chunk)
                .is_some_and(|(_, at)| now.duration_since(*at) <= REQUEST_TIMEOUT);
            if taken || !f.chunk_pieces(c).any(|p| has.get(p)) {
                continue;
            }
            inflight.asked.insert(chunk, (key, now));
            let r = chunk_request(v2, f, c);
            ph.outstanding.push((r, chunk, now));
            out.push(r);
        }
    }
    out
}

/// Removes our request `r` from the peer's outstanding ones and frees its
/// chunk for others; the chunk, if it was ours.
fn settle(
    v2: &V2Hashes,
    key: PeerKey,
    ph: &mut PeerHashes,
    r: &HashRequest,
) -> Option<(usize, u32)> {
    let i = ph.outstanding.iter().position(|(q, _, _)| q == r)?;
    let (_, chunk, _) = ph.outstanding.swap_remove(i);
    let mut inflight = v2.inflight.lock().unwrap_or_else(|e| e.into_inner());
    if inflight.asked.get(&chunk).is_some_and(|(k, _)| *k == key) {
        inflight.asked.remove(&chunk);
    }
    Some(chunk)
}

/// A `hashes` message: an answer to one of our requests is checked against
/// the file's root and stored; peers are woken to pick the pieces it makes
/// verifiable. Answers to nothing we asked (or asked too long ago) are
/// ignored.
///
/// # Errors
/// [`Error::Peer`] (close the connection) when the hashes are wrong: the
/// peer is banned and [`Event::HashesRejected`] emitted.
pub(crate) fn on_hashes(
    shared: &TorrentShared,
    key: PeerKey,
    addr: SocketAddr,
    ph: &mut PeerHashes,
    h: &Hashes,
) -> Result<(), Error> {
    let Some(v2) = &shared.verifier.v2 else {
        return Ok(());
    };
    if settle(v2, key, ph, &h.request).is_none() {
        return Ok(());
    }
    let proved = match h.split() {
        Ok((base, proof)) => v2.accept_hashes(
            &h.request.pieces_root,
            h.request.base_layer,
            h.request.index,
            &base,
            &proof,
        ),
        Err(_) => 0,
    };
    if proved == 0 {
        tracing::warn!(%addr, "banned: sent hashes that do not lead to the pieces root");
        let mut st = shared.lock();
        st.banned.insert(addr);
        drop(st);
        shared.emit(Event::HashesRejected { addr });
        shared.emit(Event::PeerBanned { addr });
        return Err(Error::Peer {
            addr,
            reason: "hashes do not match the file's pieces root".into(),
        });
    }
    tracing::debug!(%addr, index = h.request.index, "piece layer hashes received");
    let st = shared.lock();
    for p in st.peers.values() {
        let _ = p.tx.send(PeerCmd::Wake);
    }
    Ok(())
}

/// A `hash reject` of one of our requests: the chunk goes to other peers.
pub(crate) fn on_reject(
    shared: &TorrentShared,
    key: PeerKey,
    ph: &mut PeerHashes,
    r: &HashRequest,
) {
    if let Some(v2) = &shared.verifier.v2 {
        if let Some(chunk) = settle(v2, key, ph, r) {
            ph.refused.insert(chunk);
        }
    }
}

/// The connection ended: its chunks go to other peers.
pub(crate) fn release(shared: &TorrentShared, key: PeerKey, ph: &mut PeerHashes) {
    if let Some(v2) = &shared.verifier.v2 {
        let mut inflight = v2.inflight.lock().unwrap_or_else(|e| e.into_inner());
        inflight.asked.retain(|_, (k, _)| *k != key);
    }
    ph.outstanding.clear();
}

/// The answer to a peer's `hash request`: `hashes`, or `hash reject` when
/// the request breaks BEP 52's rules or our limit, names no file or a
/// place outside its tree, or asks for hashes we cannot give (a layer we
/// lack; below the piece layer: a piece we lack, or a peer we choke).
pub(crate) async fn answer(shared: &Arc<TorrentShared>, r: HashRequest, unchoked: bool) -> Message {
    match hashes_for(shared, &r, unchoked).await {
        Some((base, proof)) => Message::Hashes(Hashes::new(r, &base, &proof)),
        None => Message::HashReject(r),
    }
}

async fn hashes_for(
    shared: &Arc<TorrentShared>,
    r: &HashRequest,
    unchoked: bool,
) -> Option<(Vec<Hash256>, Vec<Hash256>)> {
    let v2 = shared.verifier.v2.as_ref()?;
    r.validate(HashRequest::MAX_LENGTH).ok()?;
    let k = *v2.files_with_root(&r.pieces_root).first()?;
    let f = &v2.files[k];
    let height = merkle::tree_height(f.length);
    let width = 1u64 << (height.checked_sub(r.base_layer)?);
    let (index, length) = (u64::from(r.index), u64::from(r.length));
    if r.base_layer >= height || index + length > width || r.proof_layers >= height - r.base_layer {
        return None;
    }
    let piece_layer = (v2.piece_length() / BLOCK_SIZE).trailing_zeros();
    let tree = f.tree(v2.piece_length());
    let uncles = merkle::uncle_positions(r.base_layer, index, length, r.proof_layers);
    if !f.is_small() && r.base_layer >= piece_layer {
        let tree = tree?;
        let base = (index..index + length)
            .map(|i| tree.node(r.base_layer, i))
            .collect::<Option<Vec<_>>>()?;
        let proof = uncles
            .map(|(l, p)| tree.node(l, p))
            .collect::<Option<Vec<_>>>()?;
        return Some((base, proof));
    }
    // Below the piece layer (or anywhere in a one-piece file's tree): the
    // leaves of one piece, hashed from disk.
    if !unchoked {
        return None;
    }
    let top = if f.is_small() { height } else { piece_layer };
    let piece_width = 1u64 << top; // leaves under one piece
    let first_leaf = index << r.base_layer;
    if length << r.base_layer > piece_width {
        return None;
    }
    let in_file = u32::try_from(first_leaf / piece_width).ok()?;
    let leaves = if in_file < f.num_pieces {
        let piece = f.first_piece + in_file;
        if !shared.lock().picker.has_piece(piece) {
            return None;
        }
        let shared = Arc::clone(shared);
        let file = f.file;
        tokio::task::spawn_blocking(move || piece_leaves(&shared, piece, file))
            .await
            .ok()??
    } else {
        Vec::new()
    };
    let local = subtree_levels(leaves, piece_width as usize);
    let offset = u64::from(in_file) * piece_width;
    let node = |layer: u32, pos: u64| -> Option<Hash256> {
        if layer < top {
            let at = pos.checked_sub(offset >> layer)?;
            local
                .get(layer as usize)?
                .get(usize::try_from(at).ok()?)
                .copied()
        } else {
            tree?.node(layer, pos)
        }
    };
    let base = (index..index + length)
        .map(|i| node(r.base_layer, i))
        .collect::<Option<Vec<_>>>()?;
    let proof = uncles
        .map(|(l, p)| node(l, p))
        .collect::<Option<Vec<_>>>()?;
    Some((base, proof))
}

/// The leaf hashes of the file data in `piece`, read from disk one block
/// at a time.
fn piece_leaves(shared: &TorrentShared, piece: u32, file: usize) -> Option<Vec<Hash256>> {
    let g = shared.info.geometry();
    let p = g.piece(piece)?;
    let entry = &shared.info.files()[file];
    let end = entry.offset() + entry.length();
    let data = (end.checked_sub(g.piece_offset(p))?).min(u64::from(g.piece_len(p))) as u32;
    let mut out = Vec::with_capacity(data.div_ceil(BLOCK_SIZE) as usize);
    let mut buf = vec![0u8; BLOCK_SIZE as usize];
    let mut at = 0u32;
    while at < data {
        let n = (data - at).min(BLOCK_SIZE) as usize;
        shared.storage.read(p, at, &mut buf[..n]).ok()?;
        out.push(Sha256::digest(&buf[..n]).into());
        at += n as u32;
    }
    Some(out)
}

/// Every layer of a subtree of `width` leaves (a power of two): `leaves`
/// padded with zero hashes, hashed up to one root.
fn subtree_levels(mut leaves: Vec<Hash256>, width: usize) -> Vec<Vec<Hash256>> {
    leaves.resize(width, [0; 32]);
    let mut levels = vec![leaves];
    while levels[levels.len() - 1].len() > 1 {
        let next = levels[levels.len() - 1]
            .chunks_exact(2)
            .map(|p| merkle::hash_pair(&p[0], &p[1]))
            .collect();
        levels.push(next);
    }
    levels
}
