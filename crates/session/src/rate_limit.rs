//! Speed limits: token buckets of payload bytes, one per direction for the
//! session and one per direction for each torrent.
//!
//! Why not a crate: `governor` (GCRA) is the well-kept choice for
//! counting requests, but a byte budget for a socket needs three things it
//! does not do. Downloaded bytes can only be counted after they arrived
//! (a read returns what the peer sent), so the budget must be able to go
//! into debt and make the reader wait until it is paid back; governor's
//! `check_n` only says yes or no before. Its quota is fixed when the
//! limiter is built, and limits change at run time
//! (`TorrentHandle::set_download_limit`); a new limiter would forget the
//! debt. And `until_n_ready(n)` fails for `n` above the burst, while one
//! 16 KiB block is more than a second's budget at a low limit. The bucket
//! below is those three things in 50 lines.
//!
//! Sans-IO: time comes in as `now`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Smallest bucket capacity in bytes: one 16 KiB block.
const MIN_CAPACITY: f64 = 16.0 * 1024.0;

/// A debt below one byte is rounding, not debt (so waiting it out always
/// moves time forward).
const DEBT: f64 = -0.5;

/// A token bucket of bytes that may go into debt: `rate` bytes per second
/// flow in, up to a capacity of a quarter of a second's worth (at least
/// 16 KiB) saved while idle; spending more than there is leaves a debt
/// that the caller waits out ([`ready_at`](Self::ready_at)). Over any
/// span of time, the bytes spent are at most `rate` per second plus the
/// capacity plus one spend.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    /// Bytes per second; 0 is no limit.
    rate: u64,
    /// Bytes available; negative is a debt.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: 0.0,
            last: now,
        }
    }

    fn capacity(&self) -> f64 {
        (self.rate as f64 / 4.0).max(MIN_CAPACITY)
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.capacity());
    }

    /// Changes the rate (0: no limit). A debt is kept and paid back at
    /// the new rate.
    pub(crate) fn set_rate(&mut self, rate: u64, now: Instant) {
        self.refill(now);
        self.rate = rate;
        self.tokens = self.tokens.min(self.capacity());
    }

    /// Spends `bytes` (possibly into debt).
    pub(crate) fn spend(&mut self, bytes: u64, now: Instant) {
        if self.rate == 0 {
            return;
        }
        self.refill(now);
        self.tokens -= bytes as f64;
    }

    /// Bytes that may be spent now without debt: `None` while in debt,
    /// `u64::MAX` without a limit.
    pub(crate) fn available(&mut self, now: Instant) -> Option<u64> {
        if self.rate == 0 {
            return Some(u64::MAX);
        }
        self.refill(now);
        (self.tokens > DEBT).then_some(self.tokens.max(0.0) as u64)
    }

    /// When the debt will be paid back; `None` if there is none (or no
    /// limit).
    pub(crate) fn ready_at(&mut self, now: Instant) -> Option<Instant> {
        if self.rate == 0 {
            return None;
        }
        self.refill(now);
        (self.tokens <= DEBT).then(|| {
            let wait = Duration::from_secs_f64(-self.tokens / self.rate as f64);
            now + wait.max(Duration::from_micros(1))
        })
    }
}

/// A [`TokenBucket`] shared by many tasks; without a limit it costs one
/// atomic load and takes no lock.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: AtomicU64,
    bucket: Mutex<TokenBucket>,
}

impl RateLimiter {
    /// A limiter of `rate` bytes per second (0: none).
    pub(crate) fn new(rate: u64) -> RateLimiter {
        RateLimiter {
            rate: AtomicU64::new(rate),
            bucket: Mutex::new(TokenBucket::new(rate, Instant::now())),
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limit in bytes per second; 0 is none.
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    pub(crate) fn set_rate(&self, rate: u64) {
        self.bucket().set_rate(rate, Instant::now());
        self.rate.store(rate, Ordering::Relaxed);
    }

    pub(crate) fn spend(&self, bytes: u64, now: Instant) {
        if self.rate() != 0 {
            self.bucket().spend(bytes, now);
        }
    }

    pub(crate) fn available(&self, now: Instant) -> Option<u64> {
        if self.rate() == 0 {
            return Some(u64::MAX);
        }
        self.bucket().available(now)
    }

    pub(crate) fn ready_at(&self, now: Instant) -> Option<Instant> {
        if self.rate() == 0 {
            return None;
        }
        self.bucket().ready_at(now)
    }
}

/// Download and upload limits of one scope (the session, or a torrent).
#[derive(Debug)]
pub(crate) struct Bandwidth {
    pub(crate) download: RateLimiter,
    pub(crate) upload: RateLimiter,
}

impl Bandwidth {
    pub(crate) fn new(download: u64, upload: u64) -> Bandwidth {
        Bandwidth {
            download: RateLimiter::new(download),
            upload: RateLimiter::new(upload),
        }
    }
}

/// The limiters a transfer passes through, innermost first (the
/// torrent's, then the session's): all are charged, the latest ready time
/// wins, the smallest allowance counts.
pub(crate) fn ready_at<'a>(
    limiters: impl IntoIterator<Item = &'a RateLimiter>,
    now: Instant,
) -> Option<Instant> {
    limiters.into_iter().filter_map(|l| l.ready_at(now)).max()
}

pub(crate) fn available<'a>(
    limiters: impl IntoIterator<Item = &'a RateLimiter>,
    now: Instant,
) -> Option<u64> {
    let mut min = u64::MAX;
    for l in limiters {
        min = min.min(l.available(now)?);
    }
    Some(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends blocks as fast as the bucket allows for `secs` simulated
    /// seconds; returns the bytes spent.
    fn drive(rate: u64, block: u64, secs: u64) -> u64 {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(rate, t0);
        let mut now = t0;
        let end = t0 + Duration::from_secs(secs);
        let mut spent = 0;
        while now < end {
            match b.ready_at(now) {
                Some(t) => now = t,
                None => {
                    b.spend(block, now);
                    spent += block;
                }
            }
        }
        spent
    }

    #[test]
    fn holds_the_rate_with_blocks_larger_than_a_second() {
        // 16 KiB blocks at 10,000 B/s: each block is a debt of 1.6 s.
        for (rate, block) in [(10_000, 16_384), (1_000_000, 16_384), (50_000_000, 65_536)] {
            let spent = drive(rate, block, 20);
            let want = rate * 20;
            // At most the capacity and one block above; never below by
            // more than one block.
            assert!(
                spent <= want + (rate / 4).max(16_384) + block,
                "{rate}: {spent}"
            );
            assert!(spent + block >= want, "{rate}: {spent}");
        }
    }

    #[test]
    fn idle_time_saves_at_most_the_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100_000, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.available(later), Some(25_000));
        let mut slow = TokenBucket::new(1_000, t0);
        assert_eq!(slow.available(later), Some(16_384), "at least one block");
    }

    #[test]
    fn debt_is_waited_out_and_survives_a_rate_change() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1_000, t0);
        b.spend(5_000, t0);
        assert_eq!(b.available(t0), None);
        assert_eq!(b.ready_at(t0), Some(t0 + Duration::from_secs(5)));
        b.set_rate(5_000, t0);
        assert_eq!(b.ready_at(t0), Some(t0 + Duration::from_secs(1)));
        b.set_rate(0, t0);
        assert_eq!((b.ready_at(t0), b.available(t0)), (None, Some(u64::MAX)));
    }

    #[test]
    fn nested_limiters_take_the_tightest() {
        let torrent = RateLimiter::new(0);
        let session = RateLimiter::new(1_000);
        let now = Instant::now();
        assert_eq!(available([&torrent, &session], now), Some(0));
        for l in [&torrent, &session] {
            l.spend(2_000, now);
        }
        let t = ready_at([&torrent, &session], now).unwrap();
        assert!(t >= now + Duration::from_millis(1_990), "{t:?}");
        assert_eq!(available([&torrent, &session], now), None);
        session.set_rate(0);
        assert_eq!(ready_at([&torrent, &session], now), None);
        assert_eq!(available([&torrent, &session], now), Some(u64::MAX));
    }
}
