//! Numbers as people read them: sizes, rates, durations, percentages.
//! Sizes use binary units (1 KiB = 1024 bytes), as libtorrent's and
//! Transmission's programs do.

use std::time::Duration;

/// `bytes` with a binary unit and three significant digits: `0 B`,
/// `999 B`, `1.00 KiB`, `15.3 MiB`, `120 GiB`.
pub fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {}", UNITS[unit])
}

/// A rate in bytes per second: `0 B/s`, `1.50 MiB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    let b = if bytes_per_second.is_finite() && bytes_per_second > 0.0 {
        bytes_per_second.round() as u64
    } else {
        0
    };
    format!("{}/s", bytes(b))
}

/// A duration in the two largest units: `45s`, `3m05s`, `2h07m`, `3d04h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Time left to fetch `left` bytes at `rate` bytes per second; `None` when
/// nothing arrives (rate under 1 byte/s) or it would take over 100 days.
pub fn eta(left: u64, rate: f64) -> Option<Duration> {
    if left == 0 {
        return Some(Duration::ZERO);
    }
    if !rate.is_finite() || rate < 1.0 {
        return None;
    }
    let secs = left as f64 / rate;
    (secs < 100.0 * 86_400.0).then(|| Duration::from_secs(secs.ceil() as u64))
}

/// [`eta`] as text; `∞` when there is none.
pub fn eta_text(left: u64, rate: f64) -> String {
    eta(left, rate).map_or_else(|| "∞".to_owned(), duration)
}

/// `part / whole` as a percentage with one decimal: `0.0 %` to `100.0 %`
/// (`0.0 %` when `whole` is 0). Never shows 100.0 % before `part == whole`.
pub fn percent(part: u64, whole: u64) -> String {
    format!("{:.1} %", ratio_per_mille(part, whole) as f64 / 10.0)
}

/// `part / whole` in tenths of a percent, 0 to 1000, rounded down so that
/// 1000 means complete.
pub fn ratio_per_mille(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    (u128::from(part.min(whole)) * 1000 / u128::from(whole)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.00 KiB");
        assert_eq!(bytes(15 * 1024 * 1024 + 300_000), "15.3 MiB");
        assert_eq!(bytes(120 << 30), "120 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(rate(1.5 * 1048576.0), "1.50 MiB/s");
        assert_eq!(rate(f64::NAN), "0 B/s");
        assert_eq!(rate(-3.0), "0 B/s");
    }

    #[test]
    fn durations_and_eta() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_secs(2 * 3600 + 7 * 60)), "2h07m");
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d04h"
        );
        assert_eq!(eta(0, 0.0), Some(Duration::ZERO));
        assert_eq!(eta(100, 0.5), None);
        assert_eq!(eta(1000, 300.0), Some(Duration::from_secs(4)));
        assert_eq!(eta(u64::MAX, 1.0), None);
        assert_eq!(eta_text(10, 0.0), "∞");
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0, 0), "0.0 %");
        assert_eq!(percent(999_999, 1_000_000), "99.9 %");
        assert_eq!(percent(5, 5), "100.0 %");
        assert_eq!(percent(7, 5), "100.0 %");
        assert_eq!(ratio_per_mille(u64::MAX, u64::MAX), 1000);
    }
}
