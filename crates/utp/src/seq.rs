//! Sequence numbers and timestamps: 16-bit and 32-bit counters that wrap.
//!
//! BEP 29 numbers packets, not bytes, with a 16-bit `seq_nr` and `ack_nr`
//! that wrap from 65535 to 0, and stamps packets with the low 32 bits of a
//! microsecond clock. Every comparison here is modular: `a` is before `b`
//! when walking up from `a` to `b` is shorter than walking down, as
//! libtorrent's `compare_less_wrap` does.

use std::fmt;
use std::time::Instant;

/// A uTP packet sequence number (`seq_nr` / `ack_nr`, 16 bits, wrapping;
/// BEP 29 "seq_nr").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNr(pub u16);

impl SeqNr {
    /// `self + n`, wrapping at 2^16.
    #[inline]
    pub const fn add(self, n: u16) -> SeqNr {
        SeqNr(self.0.wrapping_add(n))
    }

    /// `self - n`, wrapping at 2^16.
    #[inline]
    pub const fn sub(self, n: u16) -> SeqNr {
        SeqNr(self.0.wrapping_sub(n))
    }

    /// How far `later` is ahead of `self`, walking up (0..=65535).
    #[inline]
    pub const fn distance_to(self, later: SeqNr) -> u16 {
        later.0.wrapping_sub(self.0)
    }

    /// Whether `self` comes strictly before `other` in modular order
    /// (the upward distance from `self` to `other` is 1..=32767).
    #[inline]
    pub const fn is_before(self, other: SeqNr) -> bool {
        let up = other.0.wrapping_sub(self.0);
        up != 0 && up < 0x8000
    }

    /// Whether `self` comes strictly after `other` in modular order.
    #[inline]
    pub const fn is_after(self, other: SeqNr) -> bool {
        other.is_before(self)
    }
}

impl fmt::Debug for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for SeqNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for SeqNr {
    fn from(v: u16) -> Self {
        SeqNr(v)
    }
}

/// The 32-bit microsecond timestamp of `now` on a clock that started at
/// `epoch` (BEP 29 `timestamp_microseconds`): the low 32 bits of the
/// microseconds since `epoch`, wrapping every 71.6 minutes. Never 0, which
/// libtorrent reads as "no timestamp".
#[inline]
pub fn timestamp_micros(epoch: Instant, now: Instant) -> u32 {
    let micros = now.saturating_duration_since(epoch).as_micros() as u32;
    if micros == 0 {
        1
    } else {
        micros
    }
}

/// Whether `a` is before `b` on the wrapping 32-bit microsecond clock.
#[inline]
pub(crate) fn micros_before(a: u32, b: u32) -> bool {
    let up = b.wrapping_sub(a);
    up != 0 && up < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wrap_around_order() {
        assert!(SeqNr(65535).is_before(SeqNr(0)));
        assert!(SeqNr(65530).is_before(SeqNr(5)));
        assert!(SeqNr(5).is_after(SeqNr(65530)));
        assert!(!SeqNr(7).is_before(SeqNr(7)));
        assert!(SeqNr(0).is_before(SeqNr(0x7fff)));
        // Exactly half the circle away is neither before nor after from
        // the lower side (the upward distance is 32768).
        assert!(!SeqNr(0).is_before(SeqNr(0x8000)));
        assert_eq!(SeqNr(65535).add(2), SeqNr(1));
        assert_eq!(SeqNr(1).sub(2), SeqNr(65535));
        assert_eq!(SeqNr(65534).distance_to(SeqNr(3)), 5);
    }

    #[test]
    fn timestamps_wrap_and_are_never_zero() {
        let epoch = Instant::now();
        assert_eq!(timestamp_micros(epoch, epoch), 1);
        assert_eq!(
            timestamp_micros(epoch, epoch + Duration::from_micros(1234)),
            1234
        );
        let wrapped = epoch + Duration::from_micros((1u64 << 32) + 5);
        assert_eq!(timestamp_micros(epoch, wrapped), 5);
        assert!(micros_before(u32::MAX - 3, 2));
        assert!(!micros_before(2, u32::MAX - 3));
    }
}
