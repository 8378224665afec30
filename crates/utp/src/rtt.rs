//! Round-trip time and retransmission timeout (BEP 29 "timeouts").
//!
//! ```text
//! delta = rtt - packet_rtt
//! rtt_var += (abs(delta) - rtt_var) / 4
//! rtt += (packet_rtt - rtt) / 8
//! timeout = max(rtt + rtt_var * 4, 500 ms)
//! ```
//!
//! Only packets sent once give samples. Before the first sample the
//! timeout is the initial one (1 s); each consecutive timeout doubles it,
//! up to a cap.

use std::time::Duration;

/// Smoothed round-trip time and its variance, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RttEstimator {
    /// Smoothed RTT in microseconds, `None` before the first sample.
    srtt: Option<u64>,
    /// RTT variance in microseconds.
    rttvar: u64,
    /// Lowest sample seen, in microseconds.
    min: Option<u64>,
}

impl RttEstimator {
    /// Adds one sample (a packet sent once and acked).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_micros().min(u128::from(u32::MAX)) as u64;
        match self.srtt {
            None => {
                // The first sample: as TCP (RFC 6298), variance r / 2.
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        self.min = Some(self.min.map_or(r, |m| m.min(r)));
    }

    /// The smoothed RTT, if there has been a sample.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_micros)
    }

    /// The RTT variance.
    pub fn rtt_var(&self) -> Duration {
        Duration::from_micros(self.rttvar)
    }

    /// The lowest RTT sample seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min.map(Duration::from_micros)
    }

    /// The retransmission timeout: `max(rtt + 4 * rtt_var, min)`, or
    /// `initial` before the first sample, doubled `backoff` times, at
    /// most `max`.
    pub fn timeout(
        &self,
        initial: Duration,
        min: Duration,
        max: Duration,
        backoff: u32,
    ) -> Duration {
        let base = match self.srtt {
            None => initial,
            Some(srtt) => Duration::from_micros(srtt + 4 * self.rttvar).max(min),
        };
        let factor = 1u32 << backoff.min(16);
        base.saturating_mul(factor).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn bep29_formula_and_minimum() {
        let mut r = RttEstimator::default();
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 0), 1000 * MS);
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 2), 4000 * MS);
        r.sample(100 * MS);
        assert_eq!(r.rtt(), Some(100 * MS));
        assert_eq!(r.rtt_var(), 50 * MS);
        // 100 + 4 * 50 = 300 ms, below the 500 ms minimum.
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 0), 500 * MS);
        r.sample(900 * MS);
        // delta 800: var = (50*3 + 800) / 4 = 237.5; rtt = (700 + 900) / 8 = 200.
        assert_eq!(r.rtt(), Some(200 * MS));
        assert_eq!(r.rtt_var(), Duration::from_micros(237_500));
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 0), 1150 * MS);
        // Doubling per consecutive timeout, capped.
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 1), 2300 * MS);
        assert_eq!(r.timeout(1000 * MS, 500 * MS, 60000 * MS, 30), 60000 * MS);
        assert_eq!(r.min_rtt(), Some(100 * MS));
    }
}
