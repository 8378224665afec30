//! LEDBAT congestion control as BEP 29 "congestion control" specifies.
//!
//! The remote echoes, in `timestamp_difference_microseconds`, how long our
//! packets took to reach it by its clock. The lowest such value over the
//! last minutes is the *base delay*; a sample minus the base is the
//! queuing delay (*our_delay*). Each ack moves the window by
//!
//! ```text
//! off_target    = target - our_delay
//! delay_factor  = off_target / target
//! window_factor = acked_bytes / window
//! gain          = max_growth_per_rtt * delay_factor * window_factor
//! ```
//!
//! so that over one round trip (when a window's worth is acked) the window
//! grows by at most `max_growth_per_rtt` at zero delay and shrinks when the
//! delay is above the target. A loss halves the window; a timeout sets it
//! to one packet.
//!
//! Two practices of libtorrent are kept and documented here: an optional
//! slow start (the window grows by the bytes acked until the delay reaches
//! the target or a loss), and a floor of one packet instead of BEP 29's
//! zero (so sending never waits for a timeout to restart). The window only
//! grows while the sender fills it.

use std::time::{Duration, Instant};

use crate::seq::micros_before;

/// The lowest one-way delay over recent minutes (BEP 29 `base_delay`), on
/// the wrapping 32-bit microsecond clock.
#[derive(Clone, Debug)]
pub struct DelayHistory {
    /// Per-minute minima, a ring; `len` of them are in use.
    buckets: [u32; 16],
    len: usize,
    current: usize,
    bucket_start: Option<Instant>,
    base: u32,
}

impl DelayHistory {
    /// A history over the current minute and `minutes` before it
    /// (1..=15).
    pub fn new(minutes: u8) -> Self {
        DelayHistory {
            buckets: [0; 16],
            len: usize::from(minutes.clamp(1, 15)) + 1,
            current: 0,
            bucket_start: None,
            base: 0,
        }
    }

    /// Whether there has been a sample.
    pub fn is_initialized(&self) -> bool {
        self.bucket_start.is_some()
    }

    /// The base delay (the lowest sample of the history), in microseconds
    /// of the remote's clock minus ours.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Adds a sample taken at `now`; returns it minus the base delay.
    pub fn add(&mut self, now: Instant, sample: u32) -> u32 {
        let Some(start) = self.bucket_start else {
            self.buckets = [sample; 16];
            self.base = sample;
            self.bucket_start = Some(now);
            return 0;
        };
        if now.saturating_duration_since(start) >= Duration::from_secs(60) {
            self.current = (self.current + 1) % self.len;
            self.buckets[self.current] = sample;
            self.bucket_start = Some(now);
            self.base = self.buckets[..self.len]
                .iter()
                .copied()
                .reduce(|a, b| if micros_before(b, a) { b } else { a })
                .unwrap_or(sample);
        } else if micros_before(sample, self.buckets[self.current]) {
            self.buckets[self.current] = sample;
        }
        if micros_before(sample, self.base) {
            self.base = sample;
        }
        sample.wrapping_sub(self.base)
    }
}

/// The LEDBAT congestion window of one connection.
#[derive(Clone, Debug)]
pub struct Ledbat {
    /// Window in bytes, 16 fractional bits.
    cwnd: i64,
    min_window: i64,
    max_window: i64,
    target_us: i64,
    max_gain: i64,
    slow_start: bool,
    /// Leave slow start above this window (bytes), 0 for none yet.
    ssthresh: i64,
    history: DelayHistory,
    /// The last three queuing-delay samples (µs); the minimum filters
    /// noise, as libtorrent and libutp do.
    recent: [u32; 3],
    recent_len: usize,
    recent_next: usize,
}

const FRAC: i64 = 1 << 16;

impl Ledbat {
    /// A window of `initial` bytes, never below `min_window` (one packet)
    /// nor above `max_window`, with the given target delay, largest growth
    /// per RTT in bytes, base-delay history in minutes and slow start.
    pub fn new(
        initial: u32,
        min_window: u32,
        max_window: u32,
        target: Duration,
        max_growth_per_rtt: u32,
        history_minutes: u8,
        slow_start: bool,
    ) -> Self {
        let min_window = i64::from(min_window.max(1)) * FRAC;
        let max_window = (i64::from(max_window) * FRAC).max(min_window);
        Ledbat {
            cwnd: (i64::from(initial) * FRAC).clamp(min_window, max_window),
            min_window,
            max_window,
            target_us: (target.as_micros() as i64).max(1),
            max_gain: i64::from(max_growth_per_rtt),
            slow_start,
            ssthresh: 0,
            history: DelayHistory::new(history_minutes),
            recent: [0; 3],
            recent_len: 0,
            recent_next: 0,
        }
    }

    /// The congestion window in bytes.
    pub fn window(&self) -> u32 {
        (self.cwnd / FRAC) as u32
    }

    /// Whether slow start is on.
    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// The base delay history.
    pub fn history(&self) -> &DelayHistory {
        &self.history
    }

    /// The current queuing delay estimate (the lowest of the last three
    /// samples), if there is one.
    pub fn queuing_delay(&self) -> Option<Duration> {
        (self.recent_len > 0).then(|| {
            let d = self.recent[..self.recent_len]
                .iter()
                .min()
                .copied()
                .unwrap_or(0);
            Duration::from_micros(u64::from(d))
        })
    }

    /// Records a one-way delay sample of our packets (the remote's
    /// `timestamp_difference_microseconds`, 0 meaning none) at `now`.
    pub fn on_delay_sample(&mut self, now: Instant, sample: u32) {
        // uTorrent sends INT_MAX when it has no sample (libtorrent works
        // around the same).
        if sample == 0 || sample == i32::MAX as u32 {
            return;
        }
        let queuing = self.history.add(now, sample);
        self.recent[self.recent_next] = queuing;
        self.recent_next = (self.recent_next + 1) % 3;
        self.recent_len = (self.recent_len + 1).min(3);
    }

    /// Applies one ack: `acked` bytes newly acked, `window_limited` if the
    /// sender had filled the window, `min_rtt` the lowest RTT of the
    /// packets it acked (the one-way delay cannot exceed it).
    pub fn on_ack(&mut self, acked: u32, window_limited: bool, min_rtt: Option<Duration>) {
        if acked == 0 {
            return;
        }
        let Some(mut delay) = self.queuing_delay() else {
            // No delay sample yet: slow start (if on) may still grow.
            if self.slow_start && window_limited {
                self.grow(i64::from(acked) * FRAC);
            }
            return;
        };
        if let Some(rtt) = min_rtt {
            delay = delay.min(rtt);
        }
        let delay_us = delay.as_micros() as i64;
        let acked = i64::from(acked);
        let window = (self.cwnd / FRAC).max(1);
        if delay_us >= self.target_us && self.slow_start {
            self.slow_start = false;
            self.ssthresh = self.cwnd / 2;
        }
        // Fixed point with 16 fractional bits, as libtorrent computes it.
        let window_factor = acked.min(window) * FRAC / window.max(acked);
        let delay_factor = (self.target_us - delay_us) * FRAC / self.target_us;
        let linear = (window_factor * delay_factor / FRAC) * self.max_gain;
        let gain = if !window_limited {
            // An application that does not fill the window learns nothing
            // about the path: never grow, but still back off.
            linear.min(0)
        } else if self.slow_start {
            let exponential = acked * FRAC;
            if self.ssthresh != 0 && self.cwnd + exponential > self.ssthresh {
                self.slow_start = false;
                linear
            } else {
                exponential.max(linear)
            }
        } else {
            linear
        };
        self.grow(gain);
    }

    /// A loss (three duplicate acks or a selective ack past a hole):
    /// halve the window (BEP 29 loss factor 0.5), leave slow start.
    pub fn on_loss(&mut self) {
        self.cwnd = (self.cwnd / 2).max(self.min_window);
        self.ssthresh = self.cwnd;
        self.slow_start = false;
    }

    /// A retransmission timeout. With packets in flight the window drops
    /// to one packet and slow start resumes (up to the threshold); with
    /// nothing in flight the window only decays to 2/3.
    pub fn on_timeout(&mut self, packets_in_flight: bool) {
        if packets_in_flight {
            if self.ssthresh == 0 {
                self.ssthresh = (self.cwnd / 2).max(self.min_window);
            }
            self.cwnd = self.min_window;
            self.slow_start = true;
        } else {
            self.cwnd = (self.cwnd * 2 / 3).max(self.min_window);
        }
    }

    fn grow(&mut self, gain: i64) {
        self.cwnd = (self.cwnd.saturating_add(gain)).clamp(self.min_window, self.max_window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: u32 = 1400;

    fn ledbat(slow_start: bool) -> Ledbat {
        Ledbat::new(
            10 * PACKET,
            PACKET,
            4 << 20,
            Duration::from_millis(100),
            3000,
            2,
            slow_start,
        )
    }

    /// One RTT: a window's worth acked in packets, each ack with a delay
    /// sample of `base + queuing` microseconds.
    fn one_rtt(l: &mut Ledbat, now: Instant, base: u32, queuing: u32) {
        let w = l.window();
        let mut acked = 0;
        while acked < w {
            l.on_delay_sample(now, base.wrapping_add(queuing));
            l.on_ack(PACKET, true, None);
            acked += PACKET;
        }
    }

    #[test]
    fn grows_at_most_the_max_gain_per_rtt_on_low_delay() {
        let now = Instant::now();
        let mut l = ledbat(false);
        l.on_delay_sample(now, 5_000_000); // the base
        let before = l.window();
        one_rtt(&mut l, now, 5_000_000, 0);
        let after = l.window();
        assert!(after > before, "{before} -> {after}");
        // A window's worth acked at zero delay adds at most ~3000 bytes
        // (one extra ack of rounding).
        assert!(
            after - before <= 3000 + 3000 * PACKET / before + 1,
            "{before} -> {after}"
        );
    }

    #[test]
    fn shrinks_when_the_delay_is_above_target() {
        let now = Instant::now();
        let mut l = ledbat(true);
        l.on_delay_sample(now, 1000);
        for _ in 0..5 {
            one_rtt(&mut l, now, 1000, 0);
        }
        assert!(l.in_slow_start());
        let big = l.window();
        // 200 ms of queuing: twice the target.
        one_rtt(&mut l, now, 1000, 200_000);
        assert!(!l.in_slow_start(), "delay above target leaves slow start");
        let smaller = l.window();
        assert!(smaller < big, "{big} -> {smaller}");
        one_rtt(&mut l, now, 1000, 200_000);
        assert!(l.window() < smaller);
        // At the target exactly it holds still.
        let w = l.window();
        one_rtt(&mut l, now, 1000, 100_000);
        assert_eq!(l.window(), w);
    }

    #[test]
    fn halves_on_loss_and_drops_to_one_packet_on_timeout() {
        let mut l = ledbat(false);
        let w = l.window();
        l.on_loss();
        assert_eq!(l.window(), w / 2);
        for _ in 0..10 {
            l.on_loss();
        }
        assert_eq!(l.window(), PACKET, "never below one packet");
        let mut l = ledbat(false);
        l.on_timeout(true);
        assert_eq!(l.window(), PACKET);
        assert!(l.in_slow_start());
        let mut l = ledbat(false);
        l.on_timeout(false);
        assert_eq!(l.window(), 10 * PACKET * 2 / 3);
    }

    #[test]
    fn slow_start_doubles_per_rtt_until_the_threshold() {
        let now = Instant::now();
        let mut l = ledbat(true);
        l.on_delay_sample(now, 1000);
        let w = l.window();
        one_rtt(&mut l, now, 1000, 0);
        assert!(l.window() >= 2 * w - PACKET);
        l.on_loss();
        let after_loss = l.window();
        assert!(!l.in_slow_start());
        l.on_timeout(true);
        assert!(l.in_slow_start());
        for _ in 0..20 {
            one_rtt(&mut l, now, 1000, 0);
        }
        // Slow start ended near the threshold; growth is linear after.
        assert!(!l.in_slow_start());
        assert!(l.window() < after_loss + 20 * 3000 + 2 * PACKET);
    }

    #[test]
    fn no_growth_when_the_window_is_not_filled() {
        let now = Instant::now();
        let mut l = ledbat(true);
        l.on_delay_sample(now, 1000);
        let w = l.window();
        for _ in 0..100 {
            l.on_delay_sample(now, 1000);
            l.on_ack(PACKET, false, None);
        }
        assert_eq!(l.window(), w);
    }

    #[test]
    fn never_above_the_max_window() {
        let now = Instant::now();
        let mut l = Ledbat::new(
            PACKET,
            PACKET,
            64 * 1024,
            Duration::from_millis(100),
            3000,
            2,
            true,
        );
        for _ in 0..100 {
            one_rtt(&mut l, now, 7, 0);
        }
        assert_eq!(l.window(), 64 * 1024);
    }

    #[test]
    fn base_delay_is_the_minimum_of_recent_minutes_and_wraps() {
        let t0 = Instant::now();
        let mut h = DelayHistory::new(2);
        // Clock offsets wrap: u32::MAX - 10 is "before" 5.
        assert_eq!(h.add(t0, 5), 0);
        assert_eq!(h.add(t0, u32::MAX - 10), 0);
        assert_eq!(h.base(), u32::MAX - 10);
        assert_eq!(h.add(t0, 20), 31);
        // Three minutes later the low sample has aged out of the history
        // (current minute plus two before).
        let mut t = t0;
        for _ in 0..3 {
            t += Duration::from_secs(61);
            h.add(t, 1000);
        }
        assert_eq!(h.base(), 1000);
        assert_eq!(h.add(t, 1500), 500);
        // A sample within two minutes still counts.
        let mut h = DelayHistory::new(2);
        h.add(t0, 100);
        h.add(t0 + Duration::from_secs(61), 900);
        h.add(t0 + Duration::from_secs(122), 900);
        assert_eq!(h.base(), 100);
    }

    #[test]
    fn ignores_missing_and_bogus_samples() {
        let now = Instant::now();
        let mut l = ledbat(false);
        l.on_delay_sample(now, 0);
        l.on_delay_sample(now, i32::MAX as u32);
        assert!(l.queuing_delay().is_none());
        assert!(!l.history().is_initialized());
    }
}
