//! Who we upload to: a fixed number of unchoke slots given to the
//! interested peers with the best rates, re-chosen every 10 s, plus one
//! optimistic unchoke rotated every 30 s (BEP 3, "choking").
//!
//! Sans-IO: rates and randomness come in, a set of peers comes out.

use std::collections::HashSet;

use rand::Rng;

/// A peer as the choker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The engine's key for the peer.
    pub key: u64,
    /// Whether the peer is interested in our pieces.
    pub interested: bool,
    /// Bytes over the last interval: what it sent us while we download,
    /// what we sent it while we seed.
    pub rate: u64,
}

/// The peers to unchoke: the `slots` interested peers with the highest
/// rate (ties by key), plus `optimistic` if it is interested.
pub fn unchoked(candidates: &[Candidate], slots: usize, optimistic: Option<u64>) -> HashSet<u64> {
    let mut interested: Vec<&Candidate> = candidates.iter().filter(|c| c.interested).collect();
    interested.sort_by(|a, b| b.rate.cmp(&a.rate).then(a.key.cmp(&b.key)));
    let mut out: HashSet<u64> = interested.iter().take(slots).map(|c| c.key).collect();
    if let Some(o) = optimistic {
        if interested.iter().any(|c| c.key == o) {
            out.insert(o);
        }
    }
    out
}

/// A new optimistic unchoke: a random interested peer not among the
/// regular `unchoked` ones.
pub fn next_optimistic<R: Rng + ?Sized>(
    candidates: &[Candidate],
    regular: &HashSet<u64>,
    rng: &mut R,
) -> Option<u64> {
    let pool: Vec<u64> = candidates
        .iter()
        .filter(|c| c.interested && !regular.contains(&c.key))
        .map(|c| c.key)
        .collect();
    if pool.is_empty() {
        None
    } else {
        Some(pool[rng.random_range(0..pool.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn c(key: u64, interested: bool, rate: u64) -> Candidate {
        Candidate {
            key,
            interested,
            rate,
        }
    }

    #[test]
    fn best_rates_get_the_slots() {
        let cands = [
            c(1, true, 10),
            c(2, true, 50),
            c(3, false, 99),
            c(4, true, 30),
            c(5, true, 0),
        ];
        let set = unchoked(&cands, 2, None);
        assert_eq!(set, HashSet::from([2, 4]));
        let set = unchoked(&cands, 2, Some(5));
        assert_eq!(set, HashSet::from([2, 4, 5]));
        // An uninterested optimistic peer is not unchoked.
        assert_eq!(unchoked(&cands, 2, Some(3)), HashSet::from([2, 4]));
    }

    #[test]
    fn optimistic_comes_from_the_rest() {
        let cands = [c(1, true, 10), c(2, true, 50), c(3, true, 0)];
        let regular = unchoked(&cands, 2, None);
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(next_optimistic(&cands, &regular, &mut rng), Some(3));
        let all = unchoked(&cands, 3, None);
        assert_eq!(next_optimistic(&cands, &all, &mut rng), None);
    }
}
