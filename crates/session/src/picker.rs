//! Which blocks to request from which peer: pieces with a deadline first,
//! then partial pieces finished, then new pieces by priority (high before
//! normal, skipped never) and rarest first with random ties (or in order,
//! for streaming), a random start, and an endgame.
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

/// Piece priorities: a piece of priority 0 is never picked (its files are
/// skipped), 1 is normal, 2 high; values above are taken as 2.
pub const PRIORITY_SKIP: u8 = 0;
/// Normal piece priority (the default).
pub const PRIORITY_NORMAL: u8 = 1;
/// High piece priority: picked before every normal piece.
pub const PRIORITY_HIGH: u8 = 2;

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
/// Invariants: `missing_at[p]` counts `Missing` pieces of priority `p`;
/// `wanted_left` counts pieces of priority above 0 that are not `Have`;
/// `wanted` has the pieces of priority above 0; every `Partial` piece has
/// an entry in `partial` and no other piece does; a block is `Received`
/// only in a `Partial` piece; `have` matches the `Have` pieces; no piece
/// before `seq_cursor` is a wanted `Missing` piece; `deadlines` is sorted
/// and names no `Have` piece.
#[derive(Debug)]
pub struct PiecePicker {
    geometry: Geometry,
    status: Vec<PieceStatus>,
    availability: Vec<u32>,
    partial: HashMap<u32, Partial>,
    have: Bitfield,
    priority: Vec<u8>,
    wanted: Bitfield,
    missing_at: [u32; 3],
    wanted_left: u32,
    sequential: bool,
    seq_cursor: u32,
    /// Pieces with a deadline: (deadline in ms on the picker's clock,
    /// piece), ascending.
    deadlines: Vec<(u64, u32)>,
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
            priority: vec![PRIORITY_NORMAL; n as usize],
            wanted: Bitfield::full(n),
            missing_at: [0, n, 0],
            wanted_left: n,
            sequential: false,
            seq_cursor: 0,
            deadlines: Vec::new(),
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

    /// The pieces verified or being verified (hashed and written now).
    pub fn written_or_verifying(&self) -> Bitfield {
        let mut out = self.have.clone();
        for (i, st) in self.status.iter().enumerate() {
            if *st == PieceStatus::Verifying {
                out.set(i as u32, true);
            }
        }
        out
    }

    /// Whether every wanted piece (priority above 0) is verified: the
    /// download is finished for the user, even with pieces of skipped
    /// files missing.
    pub fn is_finished(&self) -> bool {
        self.wanted_left == 0
    }

    /// Whether `piece` is wanted and not verified yet.
    pub fn needs(&self, piece: u32) -> bool {
        self.wanted.get(piece) && !self.have.get(piece)
    }

    /// Whether all remaining wanted blocks are requested (endgame): no
    /// wanted piece is untouched.
    pub fn in_endgame(&self) -> bool {
        self.missing() == 0 && !self.is_finished()
    }

    /// Wanted pieces not started.
    fn missing(&self) -> u32 {
        self.missing_at[1] + self.missing_at[2]
    }

    /// The priority of `piece` (0 past the end).
    pub fn priority(&self, piece: u32) -> u8 {
        self.priority.get(piece as usize).copied().unwrap_or(0)
    }

    /// Sets piece priorities from `priorities[i]` for piece `i`
    /// ([`PRIORITY_SKIP`], [`PRIORITY_NORMAL`], [`PRIORITY_HIGH`]; above is
    /// high). Entries past the last piece are ignored; pieces past the end
    /// of `priorities` keep theirs. Pieces of priority 0 are not picked
    /// (blocks of ones already started stay requested), and
    /// [`is_finished`](Self::is_finished) ignores them.
    pub fn set_priorities(&mut self, priorities: &[u8]) {
        for (p, &new) in self.priority.iter_mut().zip(priorities) {
            *p = new.min(PRIORITY_HIGH);
        }
        self.recount();
    }

    /// Recomputes the counts kept per priority after a wholesale change.
    fn recount(&mut self) {
        self.missing_at = [0; 3];
        self.wanted_left = 0;
        let n = self.status.len() as u32;
        self.wanted = Bitfield::new(n);
        for (i, (&st, &prio)) in self.status.iter().zip(&self.priority).enumerate() {
            if st == PieceStatus::Missing {
                self.missing_at[prio as usize] += 1;
            }
            if prio > PRIORITY_SKIP {
                self.wanted.set(i as u32, true);
                if st != PieceStatus::Have {
                    self.wanted_left += 1;
                }
            }
        }
        self.seq_cursor = 0;
    }

    /// Picks new pieces in index order (for streaming) instead of rarest
    /// first; higher priorities still come first, and pieces with a
    /// deadline before both.
    pub fn set_sequential(&mut self, on: bool) {
        self.sequential = on;
        self.seq_cursor = 0;
    }

    /// Whether new pieces are picked in index order.
    pub fn is_sequential(&self) -> bool {
        self.sequential
    }

    /// Gives `piece` a deadline at `at_ms` on the picker's clock
    /// ([`set_clock`](Self::set_clock)): pieces with a deadline are picked
    /// before all others, the earliest first, and once all their blocks are
    /// requested, blocks whose request is older than the endgame delay are
    /// asked of another peer too (at most two peers per block), whether or
    /// not the torrent is in endgame. The deadline goes when the piece is
    /// verified. Pieces of priority 0 are not fetched even with one; a
    /// piece out of range or verified is ignored.
    pub fn set_deadline(&mut self, piece: u32, at_ms: u64) {
        if (piece as usize) >= self.status.len() || self.status[piece as usize] == PieceStatus::Have
        {
            return;
        }
        self.clear_deadline(piece);
        let pos = self.deadlines.partition_point(|&d| d < (at_ms, piece));
        self.deadlines.insert(pos, (at_ms, piece));
    }

    /// Removes the deadline of `piece`, if any.
    pub fn clear_deadline(&mut self, piece: u32) {
        self.deadlines.retain(|&(_, p)| p != piece);
    }

    /// Removes every deadline.
    pub fn clear_deadlines(&mut self) {
        self.deadlines.clear();
    }

    /// The pieces with a deadline, earliest first: (deadline ms, piece).
    pub fn deadlines(&self) -> &[(u64, u32)] {
        &self.deadlines
    }

    /// Bookkeeping when `piece` leaves `Missing`.
    fn leave_missing(&mut self, piece: u32) {
        self.missing_at[self.priority[piece as usize] as usize] -= 1;
    }

    /// Bookkeeping when `piece` becomes `Have` (after `status` is set).
    fn became_have(&mut self, piece: u32) {
        self.have.set(piece, true);
        if self.wanted.get(piece) {
            self.wanted_left -= 1;
        }
        if !self.deadlines.is_empty() {
            self.clear_deadline(piece);
        }
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

    /// Whether a peer with `bits` has a wanted piece we lack.
    pub fn is_interesting(&self, bits: &Bitfield) -> bool {
        bits.as_bytes()
            .iter()
            .zip(self.have.as_bytes())
            .zip(self.wanted.as_bytes())
            .any(|((theirs, ours), wanted)| theirs & wanted & !ours != 0)
    }

    /// Marks `piece` as verified without downloading it (resume).
    pub fn mark_have(&mut self, piece: PieceIndex) {
        let i = piece.as_usize();
        match self.status[i] {
            PieceStatus::Have => return,
            PieceStatus::Missing => self.leave_missing(piece.get()),
            PieceStatus::Partial => {
                self.partial.remove(&piece.get());
            }
            PieceStatus::Verifying => {}
        }
        self.status[i] = PieceStatus::Have;
        self.became_have(piece.get());
    }

    /// Forgets every verified and started piece (a recheck follows):
    /// every piece is missing again. Availability is kept.
    pub fn forget_pieces(&mut self) {
        let n = self.status.len() as u32;
        self.status.fill(PieceStatus::Missing);
        self.partial.clear();
        self.have = Bitfield::new(n);
        self.recount();
    }

    /// Appends up to `want` blocks to request from a peer that has `bits`,
    /// skipping blocks for which `ours(block)` is true (already requested
    /// from this peer). Order: pieces with a deadline, earliest first
    /// (free blocks, then blocks requested from others at least the
    /// endgame delay ago); free blocks of partial pieces (highest priority
    /// and then lowest index first when sequential); then new pieces of the highest priority the
    /// peer has (in index order when sequential; else random while we have
    /// fewer than 4 pieces, rarest first after, ties broken by a random
    /// scan start); then, in endgame, at most `max_duplicates` blocks
    /// requested from others at least the endgame delay ago
    /// ([`set_endgame_delay`](Self::set_endgame_delay)), the
    /// longest-waiting first. Pieces of priority 0 are never picked.
    /// Callers pass a non-zero `max_duplicates` only for a peer whose own
    /// queue is (nearly) empty, as libtorrent does, so the endgame wastes
    /// little.
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
        let geometry = self.geometry;
        // 0. Pieces with a deadline.
        if !self.deadlines.is_empty() {
            self.pick_deadlines(bits, goal, &ours, out);
        }
        // 1. Free blocks of pieces already started.
        if self.sequential {
            let mut started: Vec<u32> = self.partial.keys().copied().collect();
            started.sort_unstable_by_key(|&p| (std::cmp::Reverse(self.priority[p as usize]), p));
            for piece in started {
                if out.len() >= goal {
                    return;
                }
                if !bits.get(piece) || self.priority[piece as usize] == PRIORITY_SKIP {
                    continue;
                }
                let partial = self.partial.get_mut(&piece).expect("listed above");
                take_free(&geometry, piece, partial, goal, self.clock_ms, out);
            }
        } else {
            for (&piece, partial) in self.partial.iter_mut() {
                if out.len() >= goal {
                    return;
                }
                if !bits.get(piece) || self.priority[piece as usize] == PRIORITY_SKIP {
                    continue;
                }
                take_free(&geometry, piece, partial, goal, self.clock_ms, out);
            }
        }
        // 2. New pieces.
        while out.len() < goal {
            let Some(piece) = self.choose_new_piece(bits, rng) else {
                break;
            };
            self.start_piece(piece);
            let partial = self.partial.get_mut(&piece).expect("just started");
            take_free(&geometry, piece, partial, goal, self.clock_ms, out);
        }
        // 3. Endgame: ask for blocks others have been fetching for at least
        // the endgame delay, the longest-waiting first.
        let goal = goal.min(out.len() + max_duplicates);
        if out.len() < goal && self.missing() == 0 {
            let Some(due) = self.clock_ms.checked_sub(self.endgame_delay_ms) else {
                return;
            };
            let mut late: Vec<(u64, u32, usize)> = Vec::new();
            for (&piece, partial) in &self.partial {
                if !bits.get(piece) || self.priority[piece as usize] == PRIORITY_SKIP {
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
                self.duplicate(piece, i, &ours, out);
            }
        }
    }

    /// Makes a `Missing` piece `Partial` with every block free.
    fn start_piece(&mut self, piece: u32) {
        let p = self.geometry.piece(piece).expect("piece in range");
        let n = self.geometry.num_blocks(p) as usize;
        self.leave_missing(piece);
        self.status[piece as usize] = PieceStatus::Partial;
        self.partial.entry(piece).or_insert(Partial {
            blocks: vec![BlockState::Free; n],
            received: 0,
        });
    }

    /// Asks for block `i` of `piece` once more (it is requested from
    /// fewer than [`ENDGAME_DUPLICATES`] peers), unless this peer has it
    /// requested already.
    fn duplicate(
        &mut self,
        piece: u32,
        i: usize,
        ours: &impl Fn(&BlockRequest) -> bool,
        out: &mut Vec<BlockRequest>,
    ) {
        let req = request_for(&self.geometry, piece, i);
        if ours(&req) || out.contains(&req) {
            return;
        }
        let Some(partial) = self.partial.get_mut(&piece) else {
            return;
        };
        if let BlockState::Requested { peers, at } = &mut partial.blocks[i] {
            *peers += 1;
            *at = self.clock_ms;
            out.push(req);
        }
    }

    /// Step 0 of [`pick`](Self::pick): pieces with a deadline.
    fn pick_deadlines(
        &mut self,
        bits: &Bitfield,
        goal: usize,
        ours: &impl Fn(&BlockRequest) -> bool,
        out: &mut Vec<BlockRequest>,
    ) {
        let geometry = self.geometry;
        let due = self.clock_ms.checked_sub(self.endgame_delay_ms);
        let pieces: Vec<u32> = self.deadlines.iter().map(|&(_, p)| p).collect();
        for piece in pieces {
            if out.len() >= goal {
                return;
            }
            let i = piece as usize;
            if !bits.get(piece) || self.priority[i] == PRIORITY_SKIP {
                continue;
            }
            match self.status[i] {
                PieceStatus::Missing => self.start_piece(piece),
                PieceStatus::Partial => {}
                PieceStatus::Verifying | PieceStatus::Have => continue,
            }
            let partial = self.partial.get_mut(&piece).expect("partial");
            take_free(&geometry, piece, partial, goal, self.clock_ms, out);
            // Every block requested: ask another peer for the late ones.
            let Some(due) = due else { continue };
            let late: Vec<usize> = partial
                .blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    matches!(b, BlockState::Requested { peers, at } if *peers < ENDGAME_DUPLICATES && *at <= due)
                })
                .map(|(i, _)| i)
                .collect();
            for b in late {
                if out.len() >= goal {
                    return;
                }
                self.duplicate(piece, b, ours, out);
            }
        }
    }

    /// The next piece to start for a peer with `bits`: a wanted `Missing`
    /// piece of the highest priority it has.
    fn choose_new_piece<R: Rng + ?Sized>(&mut self, bits: &Bitfield, rng: &mut R) -> Option<u32> {
        let n = self.status.len();
        let top = if self.missing_at[2] > 0 {
            PRIORITY_HIGH
        } else if self.missing_at[1] > 0 {
            PRIORITY_NORMAL
        } else {
            return None;
        };
        let candidate = |s: &Self, i: usize| {
            s.status[i] == PieceStatus::Missing && s.priority[i] > PRIORITY_SKIP
        };
        if self.sequential {
            while (self.seq_cursor as usize) < n && !candidate(self, self.seq_cursor as usize) {
                self.seq_cursor += 1;
            }
            let mut best: Option<(u8, u32)> = None;
            for i in self.seq_cursor as usize..n {
                if !candidate(self, i) || !bits.get(i as u32) {
                    continue;
                }
                let prio = self.priority[i];
                if prio == top {
                    return Some(i as u32);
                }
                if best.is_none_or(|(b, _)| prio > b) {
                    best = Some((prio, i as u32));
                }
            }
            return best.map(|(_, i)| i);
        }
        let start = rng.random_range(0..n);
        let random_first = self.have.count_ones() < RANDOM_FIRST_PIECES;
        // Highest priority first, then lowest availability.
        let mut best: Option<(u32, u8, u32)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !candidate(self, i) || !bits.get(i as u32) {
                continue;
            }
            let prio = self.priority[i];
            if random_first {
                if prio == top {
                    return Some(i as u32);
                }
                if best.is_none_or(|(_, p, _)| prio > p) {
                    best = Some((i as u32, prio, 0));
                }
                continue;
            }
            let a = self.availability[i];
            if best.is_none_or(|(_, p, b)| prio > p || (prio == p && a < b)) {
                best = Some((i as u32, prio, a));
                if prio == top && a <= 1 {
                    break;
                }
            }
        }
        best.map(|(i, _, _)| i)
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
            self.became_have(piece.get());
        } else {
            self.status[i] = PieceStatus::Missing;
            self.missing_at[self.priority[i] as usize] += 1;
            self.seq_cursor = self.seq_cursor.min(piece.get());
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

    /// Receives every block of `reqs` and verifies the pieces completed.
    fn deliver(p: &mut PiecePicker, reqs: &[BlockRequest]) {
        let g = p.geometry;
        for r in reqs {
            if p.block_received(r) == Received::PieceComplete {
                p.piece_checked(g.piece(r.piece).unwrap(), true);
            }
        }
    }

    fn pieces_of(reqs: &[BlockRequest]) -> Vec<u32> {
        let mut v: Vec<u32> = reqs.iter().map(|r| r.piece).collect();
        v.dedup();
        v
    }

    #[test]
    fn skipped_pieces_are_never_picked_and_finishing_ignores_them() {
        let g = Geometry::new(6 * 16384, 16384).unwrap();
        let mut p = PiecePicker::new(g);
        let mut rng = StdRng::seed_from_u64(5);
        p.set_priorities(&[0, 1, 0, 1, 1, 0]);
        let all = Bitfield::full(6);
        let mut out = Vec::new();
        p.pick(&all, 100, 100, |_| false, &mut rng, &mut out);
        let mut got = pieces_of(&out);
        got.sort_unstable();
        assert_eq!(got, [1, 3, 4]);
        assert!(p.in_endgame());
        deliver(&mut p, &out);
        assert!(p.is_finished() && !p.is_complete());
        assert!(!p.in_endgame());
        let mut only_0 = Bitfield::new(6);
        only_0.set(0, true);
        assert!(
            !p.is_interesting(&only_0),
            "a skipped piece is not interesting"
        );
        assert!(!p.needs(0) && !p.needs(1));
        // Wanted again: interesting, picked, and the torrent not finished.
        p.set_priorities(&[2]);
        assert!(p.needs(0) && !p.is_finished());
        assert!(p.is_interesting(&only_0));
        let mut again = Vec::new();
        p.pick(&all, 100, 0, |_| false, &mut rng, &mut again);
        assert_eq!(pieces_of(&again), [0]);
        deliver(&mut p, &again);
        assert!(p.is_finished() && !p.is_complete());
    }

    #[test]
    fn high_priority_pieces_first_then_rarest() {
        let g = Geometry::new(10 * 16384, 16384).unwrap();
        for have_first in [false, true] {
            let mut p = PiecePicker::new(g);
            let mut rng = StdRng::seed_from_u64(9);
            let all = Bitfield::full(10);
            p.peer_has_all_of(&all);
            if have_first {
                // Past the random first pieces: rarest first applies.
                for i in 0..4 {
                    p.mark_have(g.piece(i).unwrap());
                }
            }
            let mut prios = vec![PRIORITY_NORMAL; 10];
            prios[7] = PRIORITY_HIGH;
            prios[9] = PRIORITY_HIGH;
            p.set_priorities(&prios);
            let mut out = Vec::new();
            p.pick(&all, 2, 0, |_| false, &mut rng, &mut out);
            let mut first = pieces_of(&out);
            first.sort_unstable();
            assert_eq!(first, [7, 9], "have_first {have_first}");
            // A peer without the high pieces gets normal ones.
            let mut some = Bitfield::full(10);
            some.set(7, false);
            some.set(9, false);
            let mut next = Vec::new();
            p.pick(&some, 1, 0, |_| false, &mut rng, &mut next);
            assert_ne!(next[0].piece, 7);
        }
    }

    #[test]
    fn sequential_order_with_priorities_and_a_failed_piece() {
        // Pieces of two blocks.
        let g = Geometry::new(8 * 32768, 32768).unwrap();
        let mut p = PiecePicker::new(g);
        let mut rng = StdRng::seed_from_u64(11);
        p.set_sequential(true);
        let all = Bitfield::full(8);
        let mut order = Vec::new();
        for _ in 0..16 {
            let mut out = Vec::new();
            p.pick(&all, 1, 0, |_| false, &mut rng, &mut out);
            order.push((out[0].piece, out[0].begin / 16384));
        }
        let expected: Vec<(u32, u32)> = (0..8).flat_map(|i| [(i, 0), (i, 1)]).collect();
        assert_eq!(order, expected);
        // Piece 2 fails its check: it is the next one picked.
        let blocks = |piece: u32| {
            [0, 1].map(|b| BlockRequest {
                piece,
                begin: b * 16384,
                length: 16384,
            })
        };
        for piece in 0..8 {
            for r in blocks(piece) {
                p.block_received(&r);
            }
            p.piece_checked(g.piece(piece).unwrap(), piece != 2);
        }
        let mut out = Vec::new();
        p.pick(&all, 2, 0, |_| false, &mut rng, &mut out);
        assert_eq!(pieces_of(&out), [2]);

        // High priority before order; started pieces lowest first.
        let mut p = PiecePicker::new(g);
        p.set_sequential(true);
        p.set_priorities(&[1, 1, 1, 1, 1, 2, 1, 1]);
        let mut out = Vec::new();
        p.pick(&all, 5, 0, |_| false, &mut rng, &mut out);
        assert_eq!(pieces_of(&out), [5, 0, 1]);
        p.block_dropped(&out[4]);
        p.block_dropped(&out[1]);
        let mut next = Vec::new();
        p.pick(&all, 2, 0, |_| false, &mut rng, &mut next);
        assert_eq!(next, [out[1], out[4]], "piece 5 then piece 1");
    }

    #[test]
    fn deadlines_come_first_and_late_blocks_go_to_a_second_peer() {
        let g = Geometry::new(10 * 32768, 32768).unwrap();
        let mut p = PiecePicker::new(g);
        let mut rng = StdRng::seed_from_u64(13);
        let all = Bitfield::full(10);
        p.set_deadline(7, 100);
        p.set_deadline(3, 50);
        p.set_deadline(99, 10); // out of range: ignored
        assert_eq!(p.deadlines(), [(50, 3), (100, 7)]);
        let mut first = Vec::new();
        p.pick(&all, 3, 0, |_| false, &mut rng, &mut first);
        assert_eq!(pieces_of(&first), [3, 7]);
        // Another peer, right away: the deadline piece's free block, then
        // new pieces; nothing is late yet.
        let mut other = Vec::new();
        p.pick(&all, 2, 0, |_| false, &mut rng, &mut other);
        assert_eq!((other[0].piece, other[0].begin), (7, 16384));
        assert!(![3, 7].contains(&other[1].piece));
        // A second later the deadline blocks requested at 0 ms are late:
        // a second peer gets them before anything else, without endgame
        // and with no duplicate allowance.
        assert!(!p.in_endgame());
        p.set_clock(1000);
        let mut second = Vec::new();
        p.pick(&all, 3, 0, |r| other.contains(r), &mut rng, &mut second);
        assert_eq!(&second[..2], &first[..2], "piece 3's blocks, duplicated");
        // At most two peers per block.
        let mut third = Vec::new();
        p.set_clock(5000);
        p.pick(&all, 2, 0, |_| false, &mut rng, &mut third);
        assert!(!third.contains(&first[0]) && !third.contains(&first[1]));
        // Verified: the deadline goes.
        deliver(&mut p, &first[..2]);
        assert_eq!(p.deadlines(), [(100, 7)]);
        p.set_deadline(3, 1); // verified: ignored
        assert_eq!(p.deadlines(), [(100, 7)]);
        p.clear_deadlines();
        assert!(p.deadlines().is_empty());
    }

    proptest! {
        /// Whatever the order of picks, drops and receipts, every block is
        /// eventually received exactly once and the torrent completes.
        #[test]
        fn every_block_is_delivered(total in 1u64..300_000, piece_pow in 14u32..17, seed: u64,
                                    drop_every in 2usize..7, sequential: bool,
                                    deadline in proptest::option::of(0u32..20)) {
            let g = Geometry::new(total, 1 << piece_pow).unwrap();
            let mut p = PiecePicker::new(g);
            p.set_endgame_delay(0);
            p.set_sequential(sequential);
            if let Some(d) = deadline {
                p.set_deadline(d, 5);
            }
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

        /// With random priorities, skipped pieces are never picked and the
        /// wanted ones all finish.
        #[test]
        fn only_wanted_pieces_are_fetched(n in 1u32..40, prios in proptest::collection::vec(0u8..4, 40),
                                          seed: u64, sequential: bool) {
            let g = Geometry::new(u64::from(n) * 16384, 16384).unwrap();
            let mut p = PiecePicker::new(g);
            p.set_endgame_delay(0);
            p.set_sequential(sequential);
            p.set_priorities(&prios);
            let mut rng = StdRng::seed_from_u64(seed);
            let all = Bitfield::full(n);
            let mut rounds = 0;
            while !p.is_finished() {
                rounds += 1;
                prop_assert!(rounds < 1000);
                let mut out = Vec::new();
                p.pick(&all, 3, 1, |_| false, &mut rng, &mut out);
                prop_assert!(!out.is_empty());
                for r in &out {
                    prop_assert!(prios[r.piece as usize] > 0, "skipped piece {} picked", r.piece);
                }
                deliver(&mut p, &out);
            }
            for i in 0..n {
                prop_assert_eq!(p.has_piece(i), prios[i as usize] > 0);
            }
        }
    }
}
