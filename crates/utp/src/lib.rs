//! uTP, the uTorrent transport protocol (BEP 29), with LEDBAT congestion
//! control: a reliable, ordered byte stream over UDP that yields to other
//! traffic by keeping the queuing delay it causes near a target (100 ms).
//!
//! The core is sans-IO, as quinn-proto is: no socket, clock or randomness
//! inside; time (`now`) and random values (connection ids, sequence
//! numbers, or a seed) are arguments.
//!
//! | layer | what it is |
//! |---|---|
//! | [`Packet`], [`Header`], [`SelectiveAck`], [`SeqNr`] | the wire format: strict parsing with byte offsets, encoding into a caller's buffer |
//! | [`Connection`] | one connection's state machine: handshake, windows, acks, retransmission, FIN / RESET, keep-alive; [`Ledbat`] and [`RttEstimator`] inside |
//! | [`Endpoint`] | the multiplexer of one UDP socket: routing by connection id and address, bounded accept of SYNs, resets for strays, one timer |
//! | [`UtpSocket`], [`UtpStream`] | (feature `tokio`, on by default) the driver: `bind` / `connect` / `accept`, `AsyncRead + AsyncWrite`, and a mode that shares a UDP socket with the DHT |
//!
//! What it guarantees against a hostile remote: parsing never panics and
//! allocates nothing; the work per datagram is bounded (a selective ack
//! covers at most 2040 packets and only packets in flight are looked at);
//! receive, reorder and send buffers, packets in flight, connections,
//! half-open connections and the accept backlog are bounded by settings
//! ([`Config`], [`EndpointConfig`]), each tested at and past its limit;
//! acks of data never sent are dropped.
//!
//! Packets are sized by path MTU discovery, as libtorrent does it:
//! ordinary packets by the largest MTU known to work (from
//! [`Config::min_mtu`] up), one probe at a time with the don't-fragment
//! bit ([`Transmit::mtu_probe`]) until the path MTU is known within 8
//! bytes of it or of [`Config::mtu`].
//!
//! What it is not: a BitTorrent peer (the session composes this crate
//! with `seedbed-peer-wire`).
//!
//! Two connections on a simulated wire, with time passed in:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use seedbed_utp::{Config, Connection, Event, Packet, SeqNr, State};
//!
//! let config = Config::default();
//! let mut now = Instant::now();
//! let mut buf = vec![0u8; config.max_packet_size()];
//!
//! // a dials: its first datagram is the SYN.
//! let mut a = Connection::connect(config, now, 0x1234, SeqNr(1));
//! let n = a.poll_transmit(now, &mut buf).expect("a SYN");
//! // b accepts from the SYN (its id and first sequence number are random).
//! let mut b = Connection::accept(config, now, &Packet::parse(&buf[..n])?, SeqNr(777))?;
//!
//! a.write(b"hello over uTP")?;
//! // Move datagrams until both are quiet.
//! loop {
//!     now += Duration::from_millis(5);
//!     let mut moved = false;
//!     while let Some(n) = a.poll_transmit(now, &mut buf) {
//!         b.handle(now, &buf[..n])?;
//!         moved = true;
//!     }
//!     while let Some(n) = b.poll_transmit(now, &mut buf) {
//!         a.handle(now, &buf[..n])?;
//!         moved = true;
//!     }
//!     if !moved {
//!         break;
//!     }
//! }
//! assert_eq!(a.state(), State::Connected);
//! assert_eq!(b.poll_event(), Some(Event::Connected));
//! let mut got = [0u8; 64];
//! let len = b.read(&mut got)?;
//! assert_eq!(&got[..len], b"hello over uTP");
//! # Ok::<(), seedbed_utp::Error>(())
//! ```
//!
//! With tokio:
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use seedbed_utp::UtpSocket;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let socket = UtpSocket::bind("0.0.0.0:6881").await?;
//! let mut stream = socket.connect("203.0.113.7:6881".parse().unwrap()).await?;
//! stream.write_all(b"\x13BitTorrent protocol").await?;
//! let (mut incoming, from) = socket.accept().await?;
//! let mut buf = [0u8; 68];
//! incoming.read_exact(&mut buf).await?;
//! # Ok(()) }
//! ```
//!
//! | item | BEP 29 section |
//! |---|---|
//! | [`Header`], [`PacketType`], [`SelectiveAck`] | header format, extension, type |
//! | [`Connection::connect`], [`Connection::accept`] | connection setup |
//! | fast retransmit, [`ConnectionStats::losses`] | packet loss |
//! | [`RttEstimator`], [`Config::min_timeout`] | timeouts |
//! | [`Config::mtu`], [`Config::mtu_discovery`] | packet sizes (the path MTU search is libtorrent's) |
//! | [`Ledbat`], [`DelayHistory`] | congestion control |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod connection;
mod endpoint;
mod error;
mod ledbat;
mod packet;
mod pmtu;
mod rtt;
mod seq;
#[cfg(feature = "tokio")]
mod socket;

pub use config::{Config, EndpointConfig, DATA_SACK_ROOM, IP_UDP_OVERHEAD};
pub use connection::{Connection, ConnectionStats, Event, State, MAX_PACKETS_IN_FLIGHT};
pub use endpoint::{ConnectionHandle, Endpoint, EndpointStats, Routed, Transmit};
pub use error::Error;
pub use ledbat::{DelayHistory, Ledbat};
pub use packet::{
    Header, Packet, PacketType, SelectiveAck, EXTENSION_NONE, EXTENSION_SELECTIVE_ACK, HEADER_LEN,
    MAX_SELECTIVE_ACK_LEN, VERSION,
};
pub use rtt::RttEstimator;
pub use seq::{timestamp_micros, SeqNr};
#[cfg(feature = "tokio")]
pub use socket::{UtpSocket, UtpStream};
