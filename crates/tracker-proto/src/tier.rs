//! Tracker tiers (BEP 12 `announce-list`): shuffle each tier once, try the
//! trackers in order, tier by tier, and move a tracker that answered to the
//! front of its tier.

/// Where a tracker sits in a [`Tiers`] list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Index of the tier (0 is tried first).
    pub tier: usize,
    /// Index inside the tier.
    pub index: usize,
}

/// The trackers of a torrent in BEP 12 order. Randomness is passed in, so
/// the order is reproducible in tests.
///
/// ```
/// use seedbed_tracker_proto::tier::{Position, Tiers};
/// let mut t = Tiers::new(vec![vec!["a", "b", "c"], vec![], vec!["d"]], &mut |n| n - 1);
/// // Shuffled within the tier (this "random" source always picks the last).
/// let order: Vec<_> = t.iter().map(|(_, u)| *u).collect();
/// assert_eq!(order.len(), 4);
/// assert_eq!(order[3], "d");
/// // "c" answered: it moves to the front of tier 0.
/// let pos = t.iter().find(|(_, u)| **u == "c").unwrap().0;
/// t.succeeded(pos);
/// assert_eq!(t.iter().next().unwrap().1, &"c");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers<T> {
    tiers: Vec<Vec<T>>,
}

impl<T> Tiers<T> {
    /// Builds the list from `announce-list` tiers, dropping empty tiers,
    /// and shuffles each tier (Fisher-Yates). `rng(n)` must return a
    /// number in `0..n` (it is reduced modulo `n` if not); with `rand`,
    /// pass `&mut |n| rng.random_range(0..n)`.
    pub fn new(tiers: Vec<Vec<T>>, rng: &mut impl FnMut(usize) -> usize) -> Self {
        let mut tiers: Vec<Vec<T>> = tiers.into_iter().filter(|t| !t.is_empty()).collect();
        for tier in &mut tiers {
            for i in (1..tier.len()).rev() {
                let j = rng(i + 1) % (i + 1);
                tier.swap(i, j);
            }
        }
        Tiers { tiers }
    }

    /// A single tier holding only `announce`, for torrents without an
    /// `announce-list` (BEP 12: then `announce` is used).
    pub fn single(announce: T) -> Self {
        Tiers {
            tiers: vec![vec![announce]],
        }
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> &[Vec<T>] {
        &self.tiers
    }

    /// Number of trackers in all tiers.
    pub fn len(&self) -> usize {
        self.tiers.iter().map(Vec::len).sum()
    }

    /// Whether there is no tracker.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The trackers in the order to try them: tier 0 first, each tier in
    /// its current order.
    pub fn iter(&self) -> impl Iterator<Item = (Position, &T)> + '_ {
        self.tiers.iter().enumerate().flat_map(|(tier, t)| {
            t.iter()
                .enumerate()
                .map(move |(index, u)| (Position { tier, index }, u))
        })
    }

    /// The tracker at `pos`.
    pub fn get(&self, pos: Position) -> Option<&T> {
        self.tiers.get(pos.tier)?.get(pos.index)
    }

    /// Records that the tracker at `pos` answered: it moves to the front of
    /// its tier, the others keep their order (BEP 12). Positions from
    /// before this call may now name other trackers. Out-of-range
    /// positions are ignored.
    pub fn succeeded(&mut self, pos: Position) {
        if let Some(t) = self.tiers.get_mut(pos.tier) {
            if pos.index < t.len() {
                t[..=pos.index].rotate_right(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_within_tiers_and_uses_rng() {
        let mut calls = Vec::new();
        let t = Tiers::new(vec![vec![1, 2, 3], vec![4, 5]], &mut |n| {
            calls.push(n);
            0
        });
        // Fisher-Yates asks for 0..3, 0..2 on tier 0 and 0..2 on tier 1.
        assert_eq!(calls, [3, 2, 2]);
        assert_eq!(t.tiers(), &[vec![2, 3, 1], vec![5, 4]]);
        assert_eq!(t.len(), 5);
        // Identity permutation when rng picks the top index.
        let t = Tiers::new(vec![vec![1, 2, 3]], &mut |n| n - 1);
        assert_eq!(t.tiers(), &[vec![1, 2, 3]]);
        // An out-of-range rng is reduced, not a panic.
        let t = Tiers::new(vec![vec![1, 2, 3]], &mut |_| 1000);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn success_moves_to_front_keeping_others() {
        let mut t = Tiers::new(vec![vec!['a', 'b', 'c', 'd'], vec!['e']], &mut |n| n - 1);
        t.succeeded(Position { tier: 0, index: 2 });
        assert_eq!(t.tiers()[0], vec!['c', 'a', 'b', 'd']);
        t.succeeded(Position { tier: 1, index: 0 });
        t.succeeded(Position { tier: 5, index: 0 });
        t.succeeded(Position { tier: 0, index: 9 });
        let order: Vec<char> = t.iter().map(|(_, c)| *c).collect();
        assert_eq!(order, ['c', 'a', 'b', 'd', 'e']);
        assert_eq!(t.get(Position { tier: 1, index: 0 }), Some(&'e'));
        assert!(Tiers::<u8>::new(vec![vec![]], &mut |_| 0).is_empty());
        assert_eq!(Tiers::single("x").len(), 1);
    }
}
