//! uTP, the uTorrent transport protocol (BEP 29), with LEDBAT congestion
//! control.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod connection;
mod endpoint;
mod error;
mod ledbat;
mod packet;
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
