//! Path MTU discovery for one connection: a binary search between
//! [`Config::min_mtu`] (assumed to get through) and [`Config::mtu`] (the
//! largest packet we would send), as libtorrent's uTP does it.
//!
//! Ordinary packets are sized by the floor, the largest MTU known to work.
//! At most one data packet at a time is a probe, sized at the middle of
//! the range and sent with the don't-fragment bit (the driver sets it, see
//! [`Transmit::mtu_probe`](crate::Transmit::mtu_probe)). Its ack raises the
//! floor; its loss (duplicate or selective acks, while the packets around
//! it arrive) lowers the ceiling and is not taken as congestion; a
//! timeout of everything proves nothing. A lost probe is resent without
//! the don't-fragment bit, so a path narrower than the probe fragments it
//! instead of losing it again. The search ends when floor and ceiling are
//! within [`PRECISION`] bytes.

use crate::config::{Config, DATA_SACK_ROOM, IP_UDP_OVERHEAD};
use crate::packet::HEADER_LEN;
use crate::seq::SeqNr;

/// The search stops when the ceiling is less than this many bytes above
/// the floor.
pub(crate) const PRECISION: u16 = 8;

/// The state of the search, in MTU bytes (IP packet: datagram + 48).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathMtu {
    floor: u16,
    ceiling: u16,
    /// The probe in flight: its sequence number and MTU.
    probe: Option<(SeqNr, u16)>,
}

impl PathMtu {
    /// A search over `config.min_mtu..=config.mtu`, or none (the floor at
    /// `config.mtu`) without `config.mtu_discovery`.
    pub(crate) fn new(config: &Config) -> Self {
        let floor = if config.mtu_discovery {
            config.min_mtu.min(config.mtu)
        } else {
            config.mtu
        };
        PathMtu {
            floor,
            ceiling: config.mtu,
            probe: None,
        }
    }

    /// The largest MTU known to get through, bytes.
    pub(crate) fn floor(&self) -> u16 {
        self.floor
    }

    /// The lowest MTU known not to get through, less one, bytes.
    #[cfg(test)]
    pub(crate) fn ceiling(&self) -> u16 {
        self.ceiling
    }

    /// Largest data payload of an ordinary packet, bytes.
    pub(crate) fn payload(&self) -> usize {
        payload_for(self.floor)
    }

    /// Largest datagram of an ordinary packet, bytes.
    pub(crate) fn datagram(&self) -> usize {
        usize::from(self.floor) - IP_UDP_OVERHEAD
    }

    /// The MTU of the next probe, if one may go now: none in flight and
    /// the search not finished.
    pub(crate) fn next_probe(&self) -> Option<u16> {
        if self.probe.is_some() || self.ceiling.saturating_sub(self.floor) < PRECISION {
            return None;
        }
        Some(self.floor + (self.ceiling - self.floor).div_ceil(2))
    }

    /// A probe of `mtu` bytes went out as packet `seq`.
    pub(crate) fn on_probe_sent(&mut self, seq: SeqNr, mtu: u16) {
        self.probe = Some((seq, mtu));
    }

    /// Whether `seq` is the probe in flight.
    pub(crate) fn is_probe(&self, seq: SeqNr) -> bool {
        self.probe.is_some_and(|(s, _)| s == seq)
    }

    /// The probe in flight, if any.
    pub(crate) fn probe_seq(&self) -> Option<SeqNr> {
        self.probe.map(|(s, _)| s)
    }

    /// The probe was acked (its first transmission): the path carries it.
    pub(crate) fn on_probe_acked(&mut self) {
        if let Some((_, mtu)) = self.probe.take() {
            self.floor = self.floor.max(mtu);
            self.ceiling = self.ceiling.max(self.floor);
        }
    }

    /// The probe was lost while packets around it arrived, or the socket
    /// refused it as too big: the path does not carry it.
    pub(crate) fn on_probe_lost(&mut self) {
        if let Some((_, mtu)) = self.probe.take() {
            self.ceiling = (mtu - 1).max(self.floor);
        }
    }

    /// Everything in flight timed out: no conclusion about the probe.
    pub(crate) fn on_timeout(&mut self) {
        self.probe = None;
    }
}

/// Largest data payload that fits an IP packet of `mtu` bytes: less the
/// IPv6 and UDP headers, the uTP header and room for a selective ack.
pub(crate) fn payload_for(mtu: u16) -> usize {
    usize::from(mtu) - IP_UDP_OVERHEAD - HEADER_LEN - DATA_SACK_ROOM
}

/// Payload of a probe for `mtu`: the datagram fills the MTU exactly (a
/// probe carries no selective ack).
pub(crate) fn probe_payload(mtu: u16) -> usize {
    usize::from(mtu) - IP_UDP_OVERHEAD - HEADER_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(min: u16, max: u16) -> PathMtu {
        PathMtu::new(&Config {
            mtu: max,
            min_mtu: min,
            ..Config::default()
        })
    }

    /// Runs the search against a path that carries `path` bytes; returns
    /// the probes sent.
    fn converge(s: &mut PathMtu, path: u16) -> usize {
        let mut probes = 0;
        while let Some(mtu) = s.next_probe() {
            probes += 1;
            assert!(probes < 20, "the search does not end");
            s.on_probe_sent(SeqNr(probes as u16), mtu);
            if mtu <= path {
                s.on_probe_acked();
            } else {
                s.on_probe_lost();
            }
        }
        probes
    }

    #[test]
    fn converges_to_the_path_mtu_within_the_precision() {
        for path in [1280, 1281, 1400, 1420, 1460, 1492, 1499, 1500] {
            let mut s = search(1280, 1500);
            let probes = converge(&mut s, path);
            assert!(
                s.floor() <= path && path - s.floor() < PRECISION,
                "{path}: {s:?}"
            );
            assert!(s.ceiling() >= path, "{path}: {s:?}");
            assert!(probes <= 5, "{path}: {probes} probes");
        }
        // A path narrower than the floor: the floor stays (ordinary
        // packets are fragmented), the ceiling comes down to it.
        let mut s = search(1280, 1500);
        converge(&mut s, 1000);
        assert_eq!(s.floor(), 1280);
        assert!(s.ceiling() < 1280 + PRECISION, "{s:?}");
        // Loopback-sized ceilings take a few more probes.
        let mut s = search(1280, 65535);
        let probes = converge(&mut s, 16384);
        assert!(16384 - s.floor() < PRECISION && probes <= 14, "{probes}");
    }

    #[test]
    fn one_probe_at_a_time_and_a_timeout_concludes_nothing() {
        let mut s = search(1280, 1500);
        let mtu = s.next_probe().unwrap();
        assert_eq!(mtu, 1390);
        s.on_probe_sent(SeqNr(7), mtu);
        assert!(s.is_probe(SeqNr(7)) && !s.is_probe(SeqNr(8)));
        assert_eq!(s.next_probe(), None);
        s.on_timeout();
        assert_eq!((s.floor(), s.ceiling(), s.probe_seq()), (1280, 1500, None));
        assert_eq!(s.next_probe(), Some(1390));
        // Acks and losses without a probe change nothing.
        s.on_probe_acked();
        s.on_probe_lost();
        assert_eq!((s.floor(), s.ceiling()), (1280, 1500));
    }

    #[test]
    fn sizes_follow_the_floor_and_no_discovery_means_the_configured_mtu() {
        let s = search(1280, 1500);
        assert_eq!(s.datagram(), 1232);
        assert_eq!(s.payload(), 1206);
        assert_eq!(payload_for(1500), Config::default().max_payload());
        let off = PathMtu::new(&Config {
            mtu_discovery: false,
            ..Config::default()
        });
        assert_eq!((off.floor(), off.next_probe()), (1500, None));
        assert_eq!(off.payload(), Config::default().max_payload());
        // A floor above the ceiling is the ceiling.
        let high = PathMtu::new(&Config {
            mtu: 1000,
            min_mtu: 1280,
            ..Config::default()
        });
        assert_eq!((high.floor(), high.next_probe()), (1000, None));
    }
}
