//! uTP, the uTorrent transport protocol (BEP 29), with LEDBAT congestion
//! control.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod packet;
mod seq;

pub use error::Error;
pub use packet::{
    Header, Packet, PacketType, SelectiveAck, EXTENSION_NONE, EXTENSION_SELECTIVE_ACK, HEADER_LEN,
    MAX_SELECTIVE_ACK_LEN, VERSION,
};
pub use seq::{timestamp_micros, SeqNr};
