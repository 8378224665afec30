//! Which blocks to request from which peer: rarest first with random ties,
//! a random start, partial pieces finished first, and an endgame.
//!
//! Sans-IO: randomness comes in as an `Rng`, nothing here blocks or
//! sleeps. See `DESIGN.md` for the piece and block states.

use std::collections::HashMap;

use rand::Rng;
use seedbed_metainfo::{Geometry, PieceIndex, BLOCK_SIZE};
use seedbed_peer_wire::{Bitfield, BlockRequest};

/// Pieces picked at random (not rarest) until we have this many, so we
/// have something to trade early (BEP 3 "random first piece").
const RANDOM_FIRST_PIECES: u32 = 4;

/// In endgame, at most this many peers are asked for the same block.
const ENDGAME_DUPLICATES: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceStatus {
    /// Not started: no block requested.
    Missing,
    /// Some blocks requested or received; see `partial`.
    Partial,
    /// Every block received; the hash is being checked.
    Verifying,
    /// Verified and written.
    Have,
}

/// A piece's state as [`PiecePicker::piece_state`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PieceState {
    /// No block requested or received yet.
    Missing,
    /// Some blocks requested or received.
    Partial,
    /// Every block received; its hash is being checked.
    Verifying,
    /// Verified and written.
    Have,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockState {
    Free,
    /// Requested from `peers` peers (more than one only in endgame), the
    /// latest at `at` on the caller's clock (milliseconds).
    Requested {
        peers: u8,
        at: u64,
    },
    Received,
}

#[derive(Debug)]
struct Partial {
    blocks: Vec<BlockState>,
    received: u32,
}

/// What [`PiecePicker::block_received`] made of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// New data; the piece still misses blocks.
    New,
    /// New data, and it was the piece's last block: verify the piece.
    PieceComplete,
    /// Already had it (an endgame duplicate, or a piece no longer wanted).
    Duplicate,
    /// No such block in this torrent.
    Invalid,
}

/// Piece and block bookkeeping for one torrent.
///
/// Invariants: `missing` counts `Missing` pieces; every `Partial` piece has
/// an entry in `partial` and no other piece does; a block is `Received`
/// only in a `Partial` piece; `have` matches the `Have` pieces.
#[derive(Debug)]
pub struct PiecePicker {
    geometry: Geometry,
    status: Vec<PieceStatus>,
    availability: Vec<u32>,
    partial: HashMap<u32, Partial>,
    have: Bitfield,
    missing: u32,
    /// The caller's clock in milliseconds ([`PiecePicker::set_clock`]).
    clock_ms: u64,
    endgame_delay_ms: u64,
}

/// Default of [`PiecePicker::set_endgame_delay`]: 1000 ms.
pub const DEFAULT_ENDGAME_DELAY_MS: u64 = 1000;

impl PiecePicker {
    /// A picker for a torrent of `geometry` with no piece yet.
    pub fn new(geometry: Geometry) -> Self {
        let n = geometry.num_pieces();
        PiecePicker {
            geometry,
            status: vec![PieceStatus::Missing; n as usize],
            availability: vec![0; n as usize],
            partial: HashMap::new(),
            have: Bitfield::new(n),
            missing: n,
            clock_ms: 0,
            endgame_delay_ms: DEFAULT_ENDGAME_DELAY_MS,
        }
    }

    /// Sets the current time, in milliseconds on any monotonic clock of the
    /// caller's (the picker reads no clock): requests picked from now on
    /// carry it, and the endgame measures their age against it.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.clock_ms = now_ms;
    }

    /// In endgame a block is asked of a second peer only once its request
    /// is this old (milliseconds; default [`DEFAULT_ENDGAME_DELAY_MS`]; 0
    /// duplicates at once). A block requested recently is usually already
    /// on its way (on loopback, every outstanding block is), so duplicating
    /// it only wastes the copy that arrives second.
    pub fn set_endgame_delay(&mut self, ms: u64) {
        self.endgame_delay_ms = ms;
    }

    /// The pieces we have (verified).
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Where `piece` is in its life (see `DESIGN.md`); `Missing` for an
    /// index past the end.
    pub fn piece_state(&self, piece: u32) -> PieceState {
        match self.status.get(piece as usize) {
            None | Some(PieceStatus::Missing) => PieceState::Missing,
            Some(PieceStatus::Partial) => PieceState::Partial,
            Some(PieceStatus::Verifying) => PieceState::Verifying,
            Some(PieceStatus::Have) => PieceState::Have,
        }
    }

    /// Whether every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    /// Whether `piece` is verified.
    pub fn has_piece(&self, piece: u32) -> bool {
        (piece as usize) < self.status.len() && self.status[piece as usize] == PieceStatus::Have
    }

    /// Whether all remaining blocks are requested (endgame): no piece is
    /// untouched.
    pub fn in_endgame(&self) -> bool {
        self.missing == 0 && !self.is_complete()
    }

    /// Records that a peer has every piece of `bits`.
    pub fn peer_has_all_of(&mut self, bits: &Bitfield) {
        for i in bits.iter_set() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a += 1;
            }
        }
    }

    /// Records that a peer with `bits` went away.
    pub fn peer_gone(&mut self, bits: &Bitfield) {
        for i in bits.iter_set() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a = a.saturating_sub(1);
            }
        }
    }

    /// Records a `have` from a peer (the caller checks it is new for that
    /// peer).
    pub fn peer_has(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }

    /// How many connected peers have `piece`.
    pub fn availability(&self, piece: u32) -> u32 {
        self.availability.get(piece as usize).copied().unwrap_or(0)
    }

    /// Whether a peer with `bits` has a piece we lack.
    pub fn is_interesting(&self, bits: &Bitfield) -> bool {
        bits.as_bytes()
            .iter()
            .zip(self.have.as_bytes())
            .any(|(theirs, ours)| theirs & !ours != 0)
    }

    /// Marks `piece` as verified without downloading it (resume).
    pub fn mark_have(&mut self, piece: PieceIndex) {
        let i = piece.as_usize();
        match self.status[i] {
            PieceStatus::Have => return,
            PieceStatus::Missing => self.missing -= 1,
            PieceStatus::Partial => {
                self.partial.remove(&piece.get());
            }
            PieceStatus::Verifying => {}
        }
        self.status[i] = PieceStatus::Have;
        self.have.set(piece.get(), true);
    }

    /// Appends up to `want` blocks to request from a peer that has `bits`,
    /// skipping blocks for which `ours(block)` is true (already requested
    /// from this peer). Order: free blocks of partial pieces, then new
    /// pieces (random while we have fewer than 4 pieces, rarest first
    /// after, ties broken by a random scan start), then, in endgame, at most
    /// `max_duplicates` blocks requested from others at least the endgame
    /// delay ago ([`set_endgame_delay`](Self::set_endgame_delay)), the
    /// longest-waiting first. Callers pass a
    /// non-zero `max_duplicates` only for a peer whose own queue is (nearly)
    /// empty, as libtorrent does, so the endgame wastes little.
    pub fn pick<R: Rng + ?Sized>(
        &mut self,
        bits: &Bitfield,
        want: usize,
        max_duplicates: usize,
        ours: impl Fn(&BlockRequest) -> bool,
        rng: &mut R,
        out: &mut Vec<BlockRequest>,
    ) {
        let goal = out.len() + want;
        // 1. Free blocks of pieces already started.
        let geometry = self.geometry;
        for (&piece, partial) in self.partial.iter_mut() {
            if out.len() >= goal {
                return;
            }
            if !bits.get(piece) {
                continue;
            }
            take_free(&geometry, piece, partial, goal, self.clock_ms, out);
        }
        // 2. New pieces.
        while out.len() < goal {
            let Some(piece) = self.choose_new_piece(bits, rng) else {
                break;
            };
            let p = self.geometry.piece(piece).expect("chosen piece in range");
            let n = self.geometry.num_blocks(p) as usize;
            self.status[piece as usize] = PieceStatus::Partial;
            self.missing -= 1;
            let partial = self.partial.entry(piece).or_insert(Partial {
                blocks: vec![BlockState::Free; n],
                received: 0,
            });
            take_free(&geometry, piece, partial, goal, self.clock_ms, out);
        }
        // 3. Endgame: ask for blocks others have been fetching for at least
        // the endgame delay, the longest-waiting first.
        let goal = goal.min(out.len() + max_duplicates);
        if out.len() < goal && self.missing == 0 {
            let Some(due) = self.clock_ms.checked_sub(self.endgame_delay_ms) else {
                return;
            };
            let mut late: Vec<(u64, u32, usize)> = Vec::new();
            for (&piece, partial) in &self.partial {
                if !bits.get(piece) {
                    continue;
                }
                for (i, state) in partial.blocks.iter().enumerate() {
                    if let BlockState::Requested { peers, at } = *state {
                        if peers < ENDGAME_DUPLICATES && at <= due {
                            late.push((at, piece, i));
                        }
                    }
                }
            }
            late.sort_unstable();
            for (_, piece, i) in late {
                if out.len() >= goal {
                    return;
                }
                let req = request_for(&geometry, piece, i);
                if ours(&req) || out.contains(&req) {
                    continue;
                }
                let partial = self.partial.get_mut(&piece).expect("collected above");
                if let BlockState::Requested { peers, at } = &mut partial.blocks[i] {
                    *peers += 1;
                    *at = self.clock_ms;
                }
                out.push(req);
            }
        }
    }

    fn choose_new_piece<R: Rng + ?Sized>(&self, bits: &Bitfield, rng: &mut R) -> Option<u32> {
        let n = self.status.len();
        if self.missing == 0 || n == 0 {
            return None;
        }
        let start = rng.random_range(0..n);
        let random_first = self.have.count_ones() < RANDOM_FIRST_PIECES;
        let mut best: Option<(u32, u32)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if self.status[i] != PieceStatus::Missing || !bits.get(i as u32) {
                continue;
            }
            if random_first {
                return Some(i as u32);
            }
            let a = self.availability[i];
            if best.is_none_or(|(_, b)| a < b) {
                best = Some((i as u32, a));
                if a <= 1 {
                    break;
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Records a received block. The caller must have requested it.
    pub fn block_received(&mut self, block: &BlockRequest) -> Received {
        let Some(index) = self.block_index(block) else {
            return Received::Invalid;
        };
        let Some(partial) = self.partial.get_mut(&block.piece) else {
            return Received::Duplicate;
        };
        match partial.blocks[index] {
            BlockState::Received => Received::Duplicate,
            _ => {
                partial.blocks[index] = BlockState::Received;
                partial.received += 1;
                if partial.received as usize == partial.blocks.len() {
                    self.partial.remove(&block.piece);
                    self.status[block.piece as usize] = PieceStatus::Verifying;
                    Received::PieceComplete
                } else {
                    Received::New
                }
            }
        }
    }

    /// Returns a requested block that will not come (rejected, cancelled,
    /// timed out, or its peer left) so it can be picked again.
    pub fn block_dropped(&mut self, block: &BlockRequest) {
        let Some(index) = self.block_index(block) else {
            return;
        };
        if let Some(partial) = self.partial.get_mut(&block.piece) {
            if let BlockState::Requested { peers, at } = partial.blocks[index] {
                partial.blocks[index] = if peers > 1 {
                    BlockState::Requested {
                        peers: peers - 1,
                        at,
                    }
                } else {
                    BlockState::Free
                };
            }
        }
    }

    /// Whether `block` is still wanted (not received, piece not complete).
    pub fn wants(&self, block: &BlockRequest) -> bool {
        let Some(index) = self.block_index(block) else {
            return false;
        };
        self.partial
            .get(&block.piece)
            .is_some_and(|p| p.blocks[index] != BlockState::Received)
    }

    /// The result of checking a complete piece's hash: `true` makes it
    /// [`Have`](Self::have); `false` makes it missing again, every block
    /// free.
    pub fn piece_checked(&mut self, piece: PieceIndex, ok: bool) {
        let i = piece.as_usize();
        if self.status[i] != PieceStatus::Verifying {
            return;
        }
        if ok {
            self.status[i] = PieceStatus::Have;
            self.have.set(piece.get(), true);
        } else {
            self.status[i] = PieceStatus::Missing;
            self.missing += 1;
        }
    }

    fn block_index(&self, block: &BlockRequest) -> Option<usize> {
        let p = self.geometry.piece(block.piece)?;
        let b = self.geometry.block(p, block.begin, block.length)?;
        (b.offset() % BLOCK_SIZE == 0).then_some(b.index() as usize)
    }
}

fn request_for(geometry: &Geometry, piece: u32, block: usize) -> BlockRequest {
    let p = geometry.piece(piece).expect("piece in range");
    let begin = block as u32 * BLOCK_SIZE;
    let length = (geometry.piece_len(p) - begin).min(BLOCK_SIZE);
    BlockRequest {
        piece,
        begin,
        length,
    }
}

fn take_free(
    geometry: &Geometry,
    piece: u32,
    partial: &mut Partial,
    goal: usize,
    now_ms: u64,
    out: &mut Vec<BlockRequest>,
) {
    for (i, state) in partial.blocks.iter_mut().enumerate() {
        if out.len() >= goal {
            return;
        }
        if *state == BlockState::Free {
            *state = BlockState::Requested {
                peers: 1,
                at: now_ms,
            };
            out.push(request_for(geometry, piece, i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn picker(total: u64, piece_len: u32) -> PiecePicker {
        PiecePicker::new(Geometry::new(total, piece_len).unwrap())
    }

    #[test]
    fn rarest_first_after_random_start() {
        let mut p = picker(10 * 16384, 16384);
        let mut rng = StdRng::seed_from_u64(7);
        // Availability: piece 7 is held by one peer, the rest by three.
        let all = Bitfield::full(10);
        p.peer_has_all_of(&all);
        p.peer_has_all_of(&all);
        let mut most = Bitfield::full(10);
        most.set(7, false);
        p.peer_has_all_of(&most);
        for i in 0..4 {
            p.mark_have(Geometry::new(10 * 16384, 16384).unwrap().piece(i).unwrap());
        }
        let mut out = Vec::new();
        p.pick(&all, 1, 0, |_| false, &mut rng, &mut out);
        assert_eq!(out[0].piece, 7, "rarest piece first");
    }

    #[test]
    fn partial_pieces_first_then_endgame_duplicates() {
        let g = Geometry::new(2 * 32768, 32768).unwrap();
        let mut p = PiecePicker::new(g);
        p.set_endgame_delay(0);
        let mut rng = StdRng::seed_from_u64(1);
        let all = Bitfield::full(2);
        let mut a = Vec::new();
        p.pick(&all, 1, 0, |_| false, &mut rng, &mut a);
        let mut b = Vec::new();
        p.pick(&all, 1, 0, |_| false, &mut rng, &mut b);
        assert_eq!(a[0].piece, b[0].piece, "second block of the started piece");
        let first: HashSet<_> = a.iter().chain(&b).copied().collect();
        let mut rest = Vec::new();
        p.pick(&all, 10, 10, |r| first.contains(r), &mut rng, &mut rest);
        assert_eq!(rest.len(), 2, "the other piece's two blocks");
        assert!(p.in_endgame());
        // Endgame: a second peer gets duplicates, not its own requests.
        let mine: HashSet<_> = rest.iter().copied().collect();
        let mut dup = Vec::new();
        p.pick(&all, 10, 10, |r| mine.contains(r), &mut rng, &mut dup);
        assert_eq!(dup.len(), 2);
        assert!(dup.iter().all(|r| !mine.contains(r)));
    }

    #[test]
    fn endgame_duplicates_are_bounded() {
        let g = Geometry::new(4 * 16384, 65536).unwrap();
        let mut p = PiecePicker::new(g);
        p.set_endgame_delay(0);
        let mut rng = StdRng::seed_from_u64(2);
        let all = Bitfield::full(1);
        let mut first = Vec::new();
        p.pick(&all, 10, 0, |_| false, &mut rng, &mut first);
        assert_eq!(first.len(), 4);
        assert!(p.in_endgame());
        // A busy peer gets no duplicates; an idle one at most its allowance.
        let mut none = Vec::new();
        p.pick(&all, 10, 0, |_| false, &mut rng, &mut none);
        assert!(none.is_empty());
        let mut two = Vec::new();
        p.pick(&all, 10, 2, |_| false, &mut rng, &mut two);
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn endgame_duplicates_only_late_blocks_longest_waiting_first() {
        // One piece of 8 blocks requested by a slow peer at 0 ms (3 blocks)
        // and 400 ms (5 blocks).
        let g = Geometry::new(8 * 16384, 8 * 16384).unwrap();
        let mut p = PiecePicker::new(g);
        let mut rng = StdRng::seed_from_u64(3);
        let all = Bitfield::full(1);
        let mut slow = Vec::new();
        p.pick(&all, 3, 0, |_| false, &mut rng, &mut slow);
        p.set_clock(400);
        p.pick(&all, 5, 0, |_| false, &mut rng, &mut slow);
        assert!(p.in_endgame());
        let mut fast = Vec::new();
        // Before the delay (1000 ms by default) nothing is duplicated.
        p.set_clock(999);
        p.pick(&all, 10, 8, |_| false, &mut rng, &mut fast);
        assert!(fast.is_empty());
        // At 1000 ms the first three are due, at 1400 ms all eight.
        p.set_clock(1000);
        p.pick(&all, 10, 8, |_| false, &mut rng, &mut fast);
        let begins: Vec<u32> = fast.iter().map(|r| r.begin / 16384).collect();
        assert_eq!(begins, [0, 1, 2]);
        p.set_clock(1400);
        let mut more = Vec::new();
        p.pick(&all, 10, 2, |r| fast.contains(r), &mut rng, &mut more);
        let begins: Vec<u32> = more.iter().map(|r| r.begin / 16384).collect();
        assert_eq!(begins, [3, 4], "two more, within max_duplicates");
        // A block dropped by one of its two peers stays requested by the
        // other; one dropped by both is free again and picked as new.
        p.block_dropped(&slow[0]);
        p.block_dropped(&fast[0]);
        let mut again = Vec::new();
        p.pick(&all, 1, 0, |_| false, &mut rng, &mut again);
        assert_eq!(again, [slow[0]]);
        // Delay 0: due at once.
        p.set_endgame_delay(0);
        let mut now = Vec::new();
        p.pick(&all, 10, 1, |_| false, &mut rng, &mut now);
        assert_eq!(now.len(), 1);
    }

    #[test]
    fn failed_piece_is_picked_again() {
        let g = Geometry::new(16384, 16384).unwrap();
        let mut p = PiecePicker::new(g);
        let mut rng = StdRng::seed_from_u64(1);
        let all = Bitfield::full(1);
        let mut out = Vec::new();
        p.pick(&all, 5, 5, |_| false, &mut rng, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(p.block_received(&out[0]), Received::PieceComplete);
        assert_eq!(p.block_received(&out[0]), Received::Duplicate);
        p.piece_checked(g.piece(0).unwrap(), false);
        let mut again = Vec::new();
        p.pick(&all, 5, 5, |_| false, &mut rng, &mut again);
        assert_eq!(again, out);
        assert_eq!(p.block_received(&again[0]), Received::PieceComplete);
        p.piece_checked(g.piece(0).unwrap(), true);
        assert!(p.is_complete());
        assert!(!p.is_interesting(&all));
    }

    #[test]
    fn invalid_blocks_are_rejected() {
        let mut p = picker(20000, 16384);
        let bad = BlockRequest {
            piece: 1,
            begin: 0,
            length: 16384,
        };
        assert_eq!(p.block_received(&bad), Received::Invalid);
        let bad = BlockRequest {
            piece: 9,
            begin: 0,
            length: 1,
        };
        assert_eq!(p.block_received(&bad), Received::Invalid);
    }

    proptest! {
        /// Whatever the order of picks, drops and receipts, every block is
        /// eventually received exactly once and the torrent completes.
        #[test]
        fn every_block_is_delivered(total in 1u64..300_000, piece_pow in 14u32..17, seed: u64,
                                    drop_every in 2usize..7) {
            let g = Geometry::new(total, 1 << piece_pow).unwrap();
            let mut p = PiecePicker::new(g);
            p.set_endgame_delay(0);
            let mut rng = StdRng::seed_from_u64(seed);
            let all = Bitfield::full(g.num_pieces());
            p.peer_has_all_of(&all);
            let mut received = HashSet::new();
            let mut step = 0usize;
            let mut rounds = 0;
            while !p.is_complete() {
                rounds += 1;
                prop_assert!(rounds < 10_000);
                let mut out = Vec::new();
                p.pick(&all, 7, 2, |_| false, &mut rng, &mut out);
                for r in out {
                    step += 1;
                    if step % drop_every == 0 {
                        p.block_dropped(&r);
                        continue;
                    }
                    match p.block_received(&r) {
                        Received::New => { prop_assert!(received.insert(r)); }
                        Received::PieceComplete => {
                            prop_assert!(received.insert(r));
                            p.piece_checked(g.piece(r.piece).unwrap(), true);
                        }
                        Received::Duplicate => {}
                        Received::Invalid => prop_assert!(false, "invalid pick {r:?}"),
                    }
                }
            }
            let bytes: u64 = received.iter().map(|r| u64::from(r.length)).sum();
            prop_assert_eq!(bytes, total);
        }
    }
}
