//! Settings of a connection ([`Config`]) and of a multiplexer
//! ([`EndpointConfig`]). Every limit is here, with its unit, default and
//! allowed range; [`Config::validate`] checks them.

use std::time::Duration;

use crate::error::Error;
use crate::packet::HEADER_LEN;

/// IPv6 (40 bytes) plus UDP (8 bytes) headers: the overhead subtracted
/// from the MTU so that a packet fits both address families.
pub const IP_UDP_OVERHEAD: usize = 48;

/// Bytes kept free in every data packet for a 32-packet selective ack
/// (2-byte extension header and a 4-byte mask).
pub const DATA_SACK_ROOM: usize = 6;

/// Settings of one uTP connection. The defaults follow BEP 29 and
/// libtorrent; `Config::default()` is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Path MTU in bytes: the largest IP packet sent, the ceiling of path
    /// MTU discovery. A datagram is at most `mtu - 48` bytes (IPv6 + UDP
    /// headers), so one setting fits IPv4 and IPv6. Default 1500
    /// (Ethernet); range 576..=65535.
    pub mtu: u16,
    /// Whether the connection searches the path MTU between `min_mtu` and
    /// `mtu` (as libtorrent does): ordinary packets are sized by the
    /// largest MTU known to work, one probe at a time by the middle of
    /// what is left, sent with the don't-fragment bit; the search ends
    /// within 8 bytes. Off: every packet is sized by `mtu`. Default on.
    pub mtu_discovery: bool,
    /// The MTU in bytes assumed to work before any probe is acked: the
    /// floor of path MTU discovery (ordinary packets are sent without the
    /// don't-fragment bit, so a narrower path fragments them). Default
    /// 1280 (the IPv6 minimum); at least 576; above `mtu` it counts as
    /// `mtu`.
    pub min_mtu: u16,
    /// Receive buffer in bytes: in-order data not yet read plus packets
    /// held for reordering. What is free of it is the advertised window
    /// (`wnd_size`). The next packet in order is always taken while the
    /// in-order bytes fit, so received data uses at most twice this.
    /// Default 1 MiB; range 4096..=64 MiB.
    pub recv_buffer: u32,
    /// Most packets held out of order beyond the next expected one.
    /// Packets further ahead are dropped. Default 1024; range 16..=8192.
    pub max_reorder: u16,
    /// Send buffer in bytes: data written and not yet put into packets.
    /// A write beyond it is refused ([`Error::WouldBlock`]), which is the
    /// back-pressure to the writer. Default 1 MiB; range 4096..=64 MiB.
    pub send_buffer: u32,
    /// Largest congestion window in bytes (in flight, not yet acked).
    /// Default 4 MiB; range 16384..=64 MiB.
    pub max_window: u32,
    /// Congestion window at the start, in bytes (at least one packet is
    /// always allowed). Default 3000.
    pub initial_window: u32,
    /// LEDBAT target queuing delay (BEP 29 `CCONTROL_TARGET`). Default
    /// 100 ms; range 1 ms..=1 s.
    pub target_delay: Duration,
    /// LEDBAT's largest window growth per round trip in bytes, reached
    /// when the measured queuing delay is 0 (BEP 29
    /// `MAX_CWND_INCREASE_PACKETS_PER_RTT`, in bytes as libutp has it).
    /// Default 3000.
    pub max_window_growth_per_rtt: u32,
    /// Minutes of base-delay history: the base delay is the lowest
    /// one-way delay sample of the current minute and this many minutes
    /// before it (BEP 29: "the last two minutes"). Default 2; range 1..=15.
    pub base_delay_minutes: u8,
    /// Start with TCP-like slow start (the window grows by the bytes
    /// acked until the delay reaches the target or a packet is lost), as
    /// libtorrent does. BEP 29 has only the linear LEDBAT growth. Default
    /// true.
    pub slow_start: bool,
    /// Retransmission timeout before the first RTT sample (BEP 29: 1000
    /// ms). Range 100 ms..=60 s.
    pub initial_timeout: Duration,
    /// Lowest retransmission timeout, `max(rtt + 4 * rtt_var, this)`
    /// (BEP 29: 500 ms). Range 10 ms..=60 s.
    pub min_timeout: Duration,
    /// Highest retransmission timeout after doubling (libtorrent: 60 s).
    pub max_timeout: Duration,
    /// Lowest wait before our oldest unacked packet is taken as lost
    /// while the remote goes on sending packets that do not ack it: the
    /// wait is `max(2 * rtt + 4 * rtt_var, this)`, then the packet is
    /// sent again at once (as a fast retransmit) instead of at the
    /// retransmission timeout. This is what recovers a lost request in
    /// a download, which has no later packets to bring duplicate or
    /// selective acks. Default 10 ms; range 1 ms..=`min_timeout`.
    pub min_probe_timeout: Duration,
    /// Consecutive retransmission timeouts during which nothing at all
    /// came from the remote, after which the connection is given up
    /// ([`Error::TimedOut`]). A remote that answers (for example with a
    /// zero window) is alive and is probed with backoff instead. Default
    /// 6 (with the doubling from 500 ms: about a minute); range 1..=30.
    pub max_timeouts: u8,
    /// SYN retransmissions before a connection attempt fails (libtorrent:
    /// 2). Default 2; range 0..=10.
    pub max_syn_retransmits: u8,
    /// Send an ST_STATE after this long without sending anything, to keep
    /// NAT mappings alive (libutp: 29 s). `None` disables it.
    pub keepalive: Option<Duration>,
    /// Nagle: hold back a packet smaller than the largest payload while
    /// another undersized packet is unacked (libtorrent does). Default
    /// true.
    pub nagle: bool,
    /// Delayed acks: in-order data is acked every this many packets, or
    /// every quarter of [`recv_buffer`](Self::recv_buffer) in bytes if
    /// that comes first (or sooner, with data or a window update going
    /// out anyway). Packets
    /// out of order, duplicates, FIN and the packet that fills a hole are
    /// acked at once, so the remote's fast retransmit is not delayed.
    /// Fewer acks spare the remote's receive buffer: libtorrent reads its
    /// socket between bursts of sending, and an ack per packet or two
    /// overflows its 208 KiB (then our requests are lost with them).
    /// 1 acks every packet. Default 16; range 1..=64.
    pub ack_every: u16,
    /// Longest wait before acking in-order data (the timer of
    /// [`ack_every`](Self::ack_every)): a sender with fewer packets in
    /// flight gets its ack this late. Default 2 ms; range 0..=100 ms (0
    /// acks in the next [`poll_transmit`](crate::Connection::poll_transmit)
    /// after the timer, as `ack_every` 1 does).
    pub ack_delay: Duration,
    /// How long a released connection ([`Endpoint::release`](crate::Endpoint::release))
    /// waits for the remote's FIN after ours was acked. Default 10 s.
    pub fin_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1500,
            mtu_discovery: true,
            min_mtu: 1280,
            recv_buffer: 1 << 20,
            max_reorder: 1024,
            send_buffer: 1 << 20,
            max_window: 4 << 20,
            initial_window: 3000,
            target_delay: Duration::from_millis(100),
            max_window_growth_per_rtt: 3000,
            base_delay_minutes: 2,
            slow_start: true,
            initial_timeout: Duration::from_millis(1000),
            min_timeout: Duration::from_millis(500),
            max_timeout: Duration::from_secs(60),
            min_probe_timeout: Duration::from_millis(10),
            max_timeouts: 6,
            max_syn_retransmits: 2,
            keepalive: Some(Duration::from_secs(29)),
            nagle: true,
            ack_every: 16,
            ack_delay: Duration::from_millis(2),
            fin_wait: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Largest datagram in bytes: `mtu - 48`. Buffers given to
    /// `poll_transmit` must be at least this long.
    pub const fn max_packet_size(&self) -> usize {
        self.mtu as usize - IP_UDP_OVERHEAD
    }

    /// Largest payload of a data packet in bytes: the datagram less the
    /// 20-byte header and room for a 32-packet selective ack. 1426 with
    /// the default MTU.
    pub const fn max_payload(&self) -> usize {
        self.max_packet_size() - HEADER_LEN - DATA_SACK_ROOM
    }

    /// Checks every setting against its documented range.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), Error> {
        const MIB: u32 = 1 << 20;
        let bad = |setting, reason| Err(Error::Config { setting, reason });
        if self.mtu < 576 {
            return bad("mtu", "below 576 bytes");
        }
        if self.min_mtu < 576 {
            return bad("min_mtu", "below 576 bytes");
        }
        if !(4096..=64 * MIB).contains(&self.recv_buffer) {
            return bad("recv_buffer", "outside 4096..=64 MiB");
        }
        if !(16..=8192).contains(&self.max_reorder) {
            return bad("max_reorder", "outside 16..=8192 packets");
        }
        if !(4096..=64 * MIB).contains(&self.send_buffer) {
            return bad("send_buffer", "outside 4096..=64 MiB");
        }
        if !(16384..=64 * MIB).contains(&self.max_window) {
            return bad("max_window", "outside 16384..=64 MiB");
        }
        if self.initial_window == 0 || self.initial_window > self.max_window {
            return bad("initial_window", "zero or above max_window");
        }
        if self.target_delay < Duration::from_millis(1)
            || self.target_delay > Duration::from_secs(1)
        {
            return bad("target_delay", "outside 1 ms..=1 s");
        }
        if self.max_window_growth_per_rtt == 0 {
            return bad("max_window_growth_per_rtt", "zero");
        }
        if !(1..=15).contains(&self.base_delay_minutes) {
            return bad("base_delay_minutes", "outside 1..=15");
        }
        let sixty = Duration::from_secs(60);
        if self.initial_timeout < Duration::from_millis(100) || self.initial_timeout > sixty {
            return bad("initial_timeout", "outside 100 ms..=60 s");
        }
        if self.min_timeout < Duration::from_millis(10) || self.min_timeout > sixty {
            return bad("min_timeout", "outside 10 ms..=60 s");
        }
        if self.max_timeout < self.min_timeout || self.max_timeout > Duration::from_secs(600) {
            return bad("max_timeout", "below min_timeout or above 600 s");
        }
        if self.min_probe_timeout < Duration::from_millis(1)
            || self.min_probe_timeout > self.min_timeout
        {
            return bad("min_probe_timeout", "outside 1 ms..=min_timeout");
        }
        if !(1..=30).contains(&self.max_timeouts) {
            return bad("max_timeouts", "outside 1..=30");
        }
        if self.max_syn_retransmits > 10 {
            return bad("max_syn_retransmits", "above 10");
        }
        if !(1..=64).contains(&self.ack_every) {
            return bad("ack_every", "outside 1..=64 packets");
        }
        if self.ack_delay > Duration::from_millis(100) {
            return bad("ack_delay", "above 100 ms");
        }
        if self.keepalive.is_some_and(|k| k < Duration::from_secs(1)) {
            return bad("keepalive", "below 1 s");
        }
        Ok(())
    }
}

/// Settings of an [`Endpoint`](crate::Endpoint), the multiplexer of one
/// UDP socket: the connection settings plus the limits that keep a SYN
/// flood from growing memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Settings of every connection.
    pub connection: Config,
    /// Whether incoming SYNs are accepted at all. Default true.
    pub accept_incoming: bool,
    /// Most connections at once, incoming and outgoing. Default 1000;
    /// range 1..=60000.
    pub max_connections: usize,
    /// Most incoming connections not yet confirmed (nothing heard after
    /// their SYN). Further SYNs are dropped unanswered. Default 64; range
    /// 1..=max_connections.
    pub max_half_open: usize,
    /// Most incoming connections waiting for
    /// [`Endpoint::accept`](crate::Endpoint::accept). Further SYNs are
    /// dropped unanswered. Default 128; range 1..=max_connections.
    pub accept_backlog: usize,
    /// Most ST_RESET answers to stray packets per second (libutp answers
    /// strays with a reset). Beyond it strays are dropped silently.
    /// Default 100; 0 never answers.
    pub max_resets_per_second: u32,
    /// Receive and send buffer of the UDP socket in bytes (`SO_RCVBUF`,
    /// `SO_SNDBUF`), set by the tokio driver on the socket it runs on
    /// (bound or shared). A datagram arriving at a full receive buffer is
    /// dropped by the kernel, which a sender takes as loss and halves its
    /// window for: a remote sending its window in one burst (libtorrent
    /// does) needs room for all of it. The kernel may cap it (Linux:
    /// `net.core.rmem_max` / `wmem_max`) or double it. 0 leaves the
    /// system default (Linux: 208 KiB, about 90 full-size datagrams).
    /// Not used by the sans-IO [`Endpoint`](crate::Endpoint). Default
    /// 4 MiB; 0 or range 64 KiB..=64 MiB.
    pub socket_buffer: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            connection: Config::default(),
            accept_incoming: true,
            max_connections: 1000,
            max_half_open: 64,
            accept_backlog: 128,
            max_resets_per_second: 100,
            socket_buffer: 4 << 20,
        }
    }
}

impl EndpointConfig {
    /// Checks every setting, including those of [`connection`](Self::connection).
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<(), Error> {
        self.connection.validate()?;
        let bad = |setting, reason| Err(Error::Config { setting, reason });
        if !(1..=60000).contains(&self.max_connections) {
            return bad("max_connections", "outside 1..=60000");
        }
        if self.max_half_open == 0 || self.max_half_open > self.max_connections {
            return bad("max_half_open", "outside 1..=max_connections");
        }
        if self.accept_backlog == 0 || self.accept_backlog > self.max_connections {
            return bad("accept_backlog", "outside 1..=max_connections");
        }
        if self.socket_buffer != 0 && !(64 << 10..=64 << 20).contains(&self.socket_buffer) {
            return bad("socket_buffer", "not 0 and outside 64 KiB..=64 MiB");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fit_a_1500_byte_mtu() {
        let c = Config::default();
        c.validate().unwrap();
        EndpointConfig::default().validate().unwrap();
        assert_eq!(c.max_packet_size(), 1452);
        assert_eq!(c.max_payload(), 1426);
        // IPv4: 20 + 8 + 1452 = 1480 <= 1500; IPv6: 40 + 8 + 1452 = 1500.
        assert_eq!(40 + 8 + c.max_packet_size(), 1500);
    }

    #[test]
    fn every_limit_at_and_past_its_bound() {
        let ok = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate()
        };
        assert!(ok(|c| c.mtu = 576).is_ok());
        assert!(ok(|c| c.mtu = 575).is_err());
        assert!(ok(|c| c.mtu = 65535).is_ok());
        assert!(ok(|c| c.min_mtu = 576).is_ok());
        assert!(ok(|c| c.min_mtu = 575).is_err());
        assert!(ok(|c| c.min_mtu = 65535).is_ok());
        assert!(ok(|c| c.mtu_discovery = false).is_ok());
        assert!(ok(|c| c.recv_buffer = 4096).is_ok());
        assert!(ok(|c| c.recv_buffer = 4095).is_err());
        assert!(ok(|c| c.recv_buffer = 64 << 20).is_ok());
        assert!(ok(|c| c.recv_buffer = (64 << 20) + 1).is_err());
        assert!(ok(|c| c.max_reorder = 16).is_ok());
        assert!(ok(|c| c.max_reorder = 15).is_err());
        assert!(ok(|c| c.max_reorder = 8192).is_ok());
        assert!(ok(|c| c.max_reorder = 8193).is_err());
        assert!(ok(|c| c.send_buffer = 4096).is_ok());
        assert!(ok(|c| c.send_buffer = 4095).is_err());
        assert!(ok(|c| c.max_window = 16384).is_ok());
        assert!(ok(|c| c.max_window = 16383).is_err());
        assert!(ok(|c| c.initial_window = 0).is_err());
        assert!(ok(|c| c.target_delay = Duration::from_millis(1)).is_ok());
        assert!(ok(|c| c.target_delay = Duration::from_micros(999)).is_err());
        assert!(ok(|c| c.target_delay = Duration::from_secs(1)).is_ok());
        assert!(ok(|c| c.target_delay = Duration::from_millis(1001)).is_err());
        assert!(ok(|c| c.base_delay_minutes = 15).is_ok());
        assert!(ok(|c| c.base_delay_minutes = 16).is_err());
        assert!(ok(|c| c.base_delay_minutes = 0).is_err());
        assert!(ok(|c| c.min_timeout = Duration::from_millis(10)).is_ok());
        assert!(ok(|c| c.min_timeout = Duration::from_millis(9)).is_err());
        assert!(ok(|c| c.initial_timeout = Duration::from_millis(99)).is_err());
        assert!(ok(|c| c.min_probe_timeout = Duration::from_millis(1)).is_ok());
        assert!(ok(|c| c.min_probe_timeout = Duration::from_micros(999)).is_err());
        assert!(ok(|c| c.min_probe_timeout = c.min_timeout).is_ok());
        assert!(ok(|c| c.min_probe_timeout = c.min_timeout + Duration::from_micros(1)).is_err());
        assert!(ok(|c| c.max_timeouts = 30).is_ok());
        assert!(ok(|c| c.max_timeouts = 31).is_err());
        assert!(ok(|c| c.max_timeouts = 0).is_err());
        assert!(ok(|c| c.max_syn_retransmits = 10).is_ok());
        assert!(ok(|c| c.max_syn_retransmits = 11).is_err());
        assert!(ok(|c| c.keepalive = Some(Duration::from_secs(1))).is_ok());
        assert!(ok(|c| c.keepalive = Some(Duration::from_millis(999))).is_err());
        assert!(ok(|c| c.keepalive = None).is_ok());
        assert!(ok(|c| c.max_window_growth_per_rtt = 0).is_err());
        assert!(ok(|c| c.ack_every = 1).is_ok());
        assert!(ok(|c| c.ack_every = 0).is_err());
        assert!(ok(|c| c.ack_every = 64).is_ok());
        assert!(ok(|c| c.ack_every = 65).is_err());
        assert!(ok(|c| c.ack_delay = Duration::ZERO).is_ok());
        assert!(ok(|c| c.ack_delay = Duration::from_millis(100)).is_ok());
        assert!(ok(|c| c.ack_delay = Duration::from_micros(100_001)).is_err());

        let e = |f: fn(&mut EndpointConfig)| {
            let mut c = EndpointConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(e(|c| c.max_connections = 60000).is_ok());
        assert!(e(|c| c.max_connections = 60001).is_err());
        assert!(e(|c| c.max_connections = 0).is_err());
        assert!(e(|c| {
            c.max_connections = 10;
            c.max_half_open = 10;
            c.accept_backlog = 10;
        })
        .is_ok());
        assert!(e(|c| {
            c.max_connections = 10;
            c.max_half_open = 11;
            c.accept_backlog = 10;
        })
        .is_err());
        assert!(e(|c| {
            c.max_connections = 10;
            c.max_half_open = 10;
            c.accept_backlog = 11;
        })
        .is_err());
        assert!(e(|c| c.max_half_open = 0).is_err());
        assert!(e(|c| c.accept_backlog = 0).is_err());
        assert!(e(|c| c.socket_buffer = 0).is_ok());
        assert!(e(|c| c.socket_buffer = 64 << 10).is_ok());
        assert!(e(|c| c.socket_buffer = (64 << 10) - 1).is_err());
        assert!(e(|c| c.socket_buffer = 64 << 20).is_ok());
        assert!(e(|c| c.socket_buffer = (64 << 20) + 1).is_err());
    }
}
