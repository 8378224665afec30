//! uTP packets (BEP 29 "header format"): the 20-byte version 1 header, the
//! linked list of extensions with the selective ack, and the payload.
//!
//! ```text
//! 0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! +-------+-------+---------------+---------------+---------------+
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! +---------------+---------------+---------------+---------------+
//! | seq_nr                        | ack_nr                        |
//! +---------------+---------------+---------------+---------------+
//! ```
//!
//! All fields are big endian. Parsing borrows from the datagram (no
//! allocation); encoding writes into a caller's buffer.

use crate::error::Error;
use crate::seq::SeqNr;

/// Length of the version 1 header in bytes.
pub const HEADER_LEN: usize = 20;

/// The only protocol version this crate speaks (BEP 29 "version").
pub const VERSION: u8 = 1;

/// Extension type 0: end of the extension list.
pub const EXTENSION_NONE: u8 = 0;
/// Extension type 1: selective ack (BEP 29 "Selective ACK").
pub const EXTENSION_SELECTIVE_ACK: u8 = 1;

/// Largest selective-ack bitmask in bytes: the extension length is one
/// byte and must be a multiple of 4, so 252 bytes (2016 packets).
pub const MAX_SELECTIVE_ACK_LEN: usize = 252;

/// The packet type (BEP 29 "type"), the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `ST_DATA` (0): a packet with payload; it takes a sequence number.
    Data = 0,
    /// `ST_FIN` (1): the sender will send nothing after this sequence
    /// number.
    Fin = 1,
    /// `ST_STATE` (2): an ack without payload; it takes no sequence number.
    State = 2,
    /// `ST_RESET` (3): the sender has no state for this connection.
    Reset = 3,
    /// `ST_SYN` (4): opens a connection.
    Syn = 4,
}

impl PacketType {
    /// The type for a 4-bit value, or `None` above 4.
    pub const fn from_u8(v: u8) -> Option<PacketType> {
        Some(match v {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }

    /// The first byte of a version 1 packet of this type: `type << 4 | 1`.
    /// A datagram demultiplexer can tell uTP from KRPC (`d`, 0x64) by it.
    pub const fn first_byte(self) -> u8 {
        (self as u8) << 4 | VERSION
    }
}

/// The fixed 20-byte header of every packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the packet is.
    pub packet_type: PacketType,
    /// The connection id: for a SYN the id its sender receives on, for
    /// every other packet the id its receiver receives on.
    pub connection_id: u16,
    /// Send time: the low 32 bits of the sender's microsecond clock
    /// (BEP 29 `timestamp_microseconds`).
    pub timestamp_micros: u32,
    /// The sender's latest one-way delay sample of the reverse path, in
    /// microseconds (its clock at receipt minus the timestamp of the last
    /// packet it received; 0 before the first sample).
    pub timestamp_difference_micros: u32,
    /// The sender's advertised receive window in bytes (`wnd_size`).
    pub window: u32,
    /// Sequence number of this packet (for STATE: the next one the sender
    /// will use).
    pub seq_nr: SeqNr,
    /// The last sequence number the sender received in order.
    pub ack_nr: SeqNr,
}

impl Header {
    /// Writes the header with `extension` as the first extension type
    /// into `out[..20]`. Panics if `out` is shorter than 20 bytes (callers
    /// check the length first).
    #[inline]
    pub(crate) fn write_to(&self, extension: u8, out: &mut [u8]) {
        let out: &mut [u8; HEADER_LEN] = (&mut out[..HEADER_LEN]).try_into().expect("20 bytes");
        out[0] = self.packet_type.first_byte();
        out[1] = extension;
        out[2..4].copy_from_slice(&self.connection_id.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp_micros.to_be_bytes());
        out[8..12].copy_from_slice(&self.timestamp_difference_micros.to_be_bytes());
        out[12..16].copy_from_slice(&self.window.to_be_bytes());
        out[16..18].copy_from_slice(&self.seq_nr.0.to_be_bytes());
        out[18..20].copy_from_slice(&self.ack_nr.0.to_be_bytes());
    }

    /// Reads the 20-byte header only (no extensions), checking the
    /// version and type.
    ///
    /// # Errors
    /// [`Error::Packet`] when the datagram is shorter than 20 bytes, its
    /// version is not 1, or its type is above 4.
    pub fn parse(datagram: &[u8]) -> Result<(Header, u8), Error> {
        let Some(h) = datagram.first_chunk::<HEADER_LEN>() else {
            return Err(Error::packet(
                datagram.len(),
                "shorter than the 20-byte header",
            ));
        };
        if h[0] & 0x0f != VERSION {
            return Err(Error::packet(0, "version is not 1"));
        }
        let Some(packet_type) = PacketType::from_u8(h[0] >> 4) else {
            return Err(Error::packet(0, "unknown packet type"));
        };
        let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok((
            Header {
                packet_type,
                connection_id: be16(2),
                timestamp_micros: be32(4),
                timestamp_difference_micros: be32(8),
                window: be32(12),
                seq_nr: SeqNr(be16(16)),
                ack_nr: SeqNr(be16(18)),
            },
            h[1],
        ))
    }
}

/// A selective-ack bitmask (BEP 29 "Selective ACK"), borrowed from a packet
/// or built by a receiver.
///
/// Bit `i` (byte `i / 8`, least significant bit first) says whether packet
/// `ack_nr + 2 + i` was received; `ack_nr + 1` is the missing one. One
/// built with [`new`](Self::new) is a positive multiple of 4 bytes, at most
/// [`MAX_SELECTIVE_ACK_LEN`], as BEP 29 asks; one parsed from a packet may
/// have any length from 1 to 255 bytes (libtorrent sends such).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectiveAck<'a> {
    bitmask: &'a [u8],
}

impl<'a> SelectiveAck<'a> {
    /// A selective ack over `bitmask`.
    ///
    /// # Errors
    /// [`Error::Encode`] when the length is 0, not a multiple of 4, or
    /// above [`MAX_SELECTIVE_ACK_LEN`].
    pub fn new(bitmask: &'a [u8]) -> Result<Self, Error> {
        if bitmask.is_empty() || bitmask.len() % 4 != 0 || bitmask.len() > MAX_SELECTIVE_ACK_LEN {
            return Err(Error::Encode {
                reason: "selective ack length must be a multiple of 4 in 4..=252 bytes",
            });
        }
        Ok(SelectiveAck { bitmask })
    }

    /// The raw bitmask bytes.
    pub fn bitmask(&self) -> &'a [u8] {
        self.bitmask
    }

    /// Number of packets the mask covers (8 per byte).
    pub fn len_bits(&self) -> usize {
        self.bitmask.len() * 8
    }

    /// Whether bit `i` (packet `ack_nr + 2 + i`) is set; false past the end.
    #[inline]
    pub fn is_set(&self, i: usize) -> bool {
        self.bitmask
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// The sequence numbers this mask acks, given the packet's `ack_nr`,
    /// in increasing order.
    pub fn acked(&self, ack_nr: SeqNr) -> impl Iterator<Item = SeqNr> + 'a {
        let mask = self.bitmask;
        (0..mask.len() * 8)
            .filter(move |&i| mask[i / 8] & (1 << (i % 8)) != 0)
            .map(move |i| ack_nr.add(2).add(i as u16))
    }
}

/// A parsed packet: the header, the selective ack if there is one, and
/// the payload, all borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// The selective-ack extension, if present.
    pub selective_ack: Option<SelectiveAck<'a>>,
    /// The bytes after the header and its extensions.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses one datagram as a uTP version 1 packet.
    ///
    /// Unknown extensions (for example libtorrent's close reason, type 3)
    /// are skipped by their length. The extension list is walked at most
    /// once per 2 bytes of input, so the work is bounded by the datagram.
    ///
    /// # Errors
    /// [`Error::Packet`] with the byte offset when: the datagram is shorter
    /// than 20 bytes; the version is not 1; the type is above 4; an
    /// extension header or body runs past the end; a selective ack has
    /// length 0 or appears twice; an ST_DATA packet has no payload.
    ///
    /// A selective ack of any length from 1 to 255 bytes is accepted:
    /// BEP 29 asks for a multiple of 4, but libtorrent sends as many bytes
    /// as the packets it holds need (`(span + 7) / 8`). What this crate
    /// sends is always a multiple of 4 (see [`SelectiveAck::new`]).
    pub fn parse(datagram: &'a [u8]) -> Result<Packet<'a>, Error> {
        let (header, mut extension) = Header::parse(datagram)?;
        let mut pos = HEADER_LEN;
        let mut selective_ack = None;
        while extension != EXTENSION_NONE {
            let Some(&[next, len]) = datagram.get(pos..pos + 2).and_then(|s| s.first_chunk())
            else {
                return Err(Error::packet(pos, "truncated extension header"));
            };
            let len = usize::from(len);
            let body_start = pos + 2;
            let Some(body) = datagram.get(body_start..body_start + len) else {
                return Err(Error::packet(pos + 1, "extension longer than the packet"));
            };
            if extension == EXTENSION_SELECTIVE_ACK {
                // BEP 29 asks for a multiple of 4 bytes, but libtorrent
                // sends (packets it holds past the hole + 7) / 8 bytes, any
                // length up to its MTU: refusing those made every one of its
                // acks after a loss vanish and the connection stall.
                if len == 0 {
                    return Err(Error::packet(pos + 1, "selective ack of length 0"));
                }
                if selective_ack.is_some() {
                    return Err(Error::packet(pos, "second selective ack"));
                }
                selective_ack = Some(SelectiveAck { bitmask: body });
            }
            pos = body_start + len;
            extension = next;
        }
        let payload = &datagram[pos..];
        if header.packet_type == PacketType::Data && payload.is_empty() {
            return Err(Error::packet(pos, "data packet without payload"));
        }
        Ok(Packet {
            header,
            selective_ack,
            payload,
        })
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.selective_ack.map_or(0, |s| 2 + s.bitmask.len()) + self.payload.len()
    }

    /// Writes the packet into `out`, returning the number of bytes written.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when `out` is shorter than
    /// [`encoded_len`](Self::encoded_len).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let len = self.encoded_len();
        if out.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                available: out.len(),
            });
        }
        let mut pos = HEADER_LEN;
        match self.selective_ack {
            Some(sack) => {
                self.header.write_to(EXTENSION_SELECTIVE_ACK, out);
                out[pos] = EXTENSION_NONE;
                out[pos + 1] = sack.bitmask.len() as u8;
                pos += 2;
                out[pos..pos + sack.bitmask.len()].copy_from_slice(sack.bitmask);
                pos += sack.bitmask.len();
            }
            None => self.header.write_to(EXTENSION_NONE, out),
        }
        out[pos..pos + self.payload.len()].copy_from_slice(self.payload);
        Ok(len)
    }

    /// The packet as a new `Vec` (tests, examples; the hot path writes into
    /// a reused buffer with [`encode`](Self::encode)).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.encoded_len()];
        let n = self.encode(&mut v).expect("sized by encoded_len");
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(packet_type: PacketType) -> Header {
        Header {
            packet_type,
            connection_id: 0x1234,
            timestamp_micros: 0xdead_beef,
            timestamp_difference_micros: 77,
            window: 1 << 20,
            seq_nr: SeqNr(65535),
            ack_nr: SeqNr(3),
        }
    }

    #[test]
    fn header_layout_is_big_endian_with_type_in_the_high_nibble() {
        let p = Packet {
            header: header(PacketType::Syn),
            selective_ack: None,
            payload: &[],
        };
        let bytes = p.to_vec();
        assert_eq!(
            bytes,
            [
                0x41, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 77, 0, 0x10, 0, 0, 0xff,
                0xff, 0, 3
            ]
        );
        assert_eq!(Packet::parse(&bytes).unwrap(), p);
        for (t, b) in [
            (PacketType::Data, 0x01),
            (PacketType::Fin, 0x11),
            (PacketType::State, 0x21),
            (PacketType::Reset, 0x31),
            (PacketType::Syn, 0x41),
        ] {
            assert_eq!(t.first_byte(), b);
            assert_ne!(b, b'd', "never mistaken for KRPC");
        }
    }

    #[test]
    fn every_type_round_trips() {
        for t in [
            PacketType::Data,
            PacketType::Fin,
            PacketType::State,
            PacketType::Reset,
            PacketType::Syn,
        ] {
            let payload: &[u8] = if t == PacketType::Data { b"abc" } else { &[] };
            let p = Packet {
                header: header(t),
                selective_ack: None,
                payload,
            };
            assert_eq!(Packet::parse(&p.to_vec()).unwrap(), p);
        }
    }

    #[test]
    fn strict_errors_carry_offsets() {
        let good = Packet {
            header: header(PacketType::State),
            selective_ack: None,
            payload: &[],
        }
        .to_vec();
        assert_eq!(
            Packet::parse(&good[..19]),
            Err(Error::packet(19, "shorter than the 20-byte header"))
        );
        let mut v2 = good.clone();
        v2[0] = 0x22;
        assert_eq!(
            Packet::parse(&v2),
            Err(Error::packet(0, "version is not 1"))
        );
        let mut bad_type = good.clone();
        bad_type[0] = 0x51;
        assert_eq!(
            Packet::parse(&bad_type),
            Err(Error::packet(0, "unknown packet type"))
        );
        // An extension announced but no extension header.
        let mut trunc = good.clone();
        trunc[1] = 1;
        assert_eq!(
            Packet::parse(&trunc),
            Err(Error::packet(20, "truncated extension header"))
        );
        // Selective ack of 8 bytes announced, 4 present.
        let mut short = good.clone();
        short[1] = 1;
        short.extend_from_slice(&[0, 8, 1, 2, 3, 4]);
        assert_eq!(
            Packet::parse(&short),
            Err(Error::packet(21, "extension longer than the packet"))
        );
        // Selective ack of 0 bytes.
        let mut empty = good.clone();
        empty[1] = 1;
        empty.extend_from_slice(&[0, 0]);
        assert_eq!(
            Packet::parse(&empty),
            Err(Error::packet(21, "selective ack of length 0"))
        );
        // Two selective acks.
        let mut twice = good.clone();
        twice[1] = 1;
        twice.extend_from_slice(&[1, 4, 1, 0, 0, 0, 0, 4, 1, 0, 0, 0]);
        assert_eq!(
            Packet::parse(&twice),
            Err(Error::packet(26, "second selective ack"))
        );
        // ST_DATA without payload.
        let mut empty = good.clone();
        empty[0] = PacketType::Data.first_byte();
        assert_eq!(
            Packet::parse(&empty),
            Err(Error::packet(20, "data packet without payload"))
        );
    }

    #[test]
    fn unknown_extensions_are_skipped_by_length() {
        // libtorrent's close reason (type 3, 4 bytes) after a selective ack.
        let mut v = Packet {
            header: header(PacketType::Fin),
            selective_ack: None,
            payload: &[],
        }
        .to_vec();
        v[1] = 1; // first: selective ack
        v.extend_from_slice(&[3, 4, 0b101, 0, 0, 0x80]); // sack, next = 3
        v.extend_from_slice(&[0, 4, 0, 0, 0, 7]); // close reason, next = none
        v.extend_from_slice(b"xy");
        let p = Packet::parse(&v).unwrap();
        let sack = p.selective_ack.unwrap();
        assert_eq!(
            sack.acked(SeqNr(65534)).collect::<Vec<_>>(),
            [SeqNr(0), SeqNr(2), SeqNr(31)]
        );
        assert_eq!(p.payload, b"xy");
        // An unknown extension of length 0 is fine too.
        let mut z = Packet {
            header: header(PacketType::State),
            selective_ack: None,
            payload: &[],
        }
        .to_vec();
        z[1] = 9;
        z.extend_from_slice(&[0, 0]);
        assert!(Packet::parse(&z).unwrap().selective_ack.is_none());
    }

    #[test]
    fn absurd_selective_ack_is_bounded_by_the_length_byte() {
        let mask = [0xffu8; 252];
        let p = Packet {
            header: header(PacketType::State),
            selective_ack: Some(SelectiveAck::new(&mask).unwrap()),
            payload: &[],
        };
        let v = p.to_vec();
        assert_eq!(v.len(), 20 + 2 + 252);
        assert_eq!(
            Packet::parse(&v).unwrap().selective_ack.unwrap().len_bits(),
            2016
        );
        assert!(SelectiveAck::new(&[0; 256]).is_err());
        assert!(SelectiveAck::new(&[0; 5]).is_err());
        assert!(SelectiveAck::new(&[]).is_err());
    }

    /// libtorrent sends `(span + 7) / 8` bytes of selective ack, not a
    /// multiple of 4: a STATE packet as its `send_pkt` builds one after a
    /// loss, holding 33 packets past the hole (5 bytes), and the longest
    /// the length byte allows (255 bytes).
    #[test]
    fn selective_acks_of_any_length_are_accepted_as_libtorrent_sends_them() {
        let good = Packet {
            header: header(PacketType::State),
            selective_ack: None,
            payload: &[],
        }
        .to_vec();
        let mut five = good.clone();
        five[1] = 1;
        five.extend_from_slice(&[0, 5, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let p = Packet::parse(&five).unwrap();
        let sack = p.selective_ack.unwrap();
        assert_eq!(sack.len_bits(), 40);
        assert_eq!(sack.acked(p.header.ack_nr).count(), 33);
        assert_eq!(
            sack.acked(p.header.ack_nr).last(),
            Some(p.header.ack_nr.add(2 + 32))
        );
        assert_eq!(p.to_vec(), five, "re-encodes to the same bytes");
        let mut longest = good.clone();
        longest[1] = 1;
        longest.extend_from_slice(&[0, 255]);
        longest.extend_from_slice(&[0x80; 255]);
        let p = Packet::parse(&longest).unwrap();
        assert_eq!(p.selective_ack.unwrap().len_bits(), 2040);
        assert_eq!(p.selective_ack.unwrap().acked(p.header.ack_nr).count(), 255);
    }

    #[test]
    fn encode_checks_the_buffer() {
        let p = Packet {
            header: header(PacketType::Data),
            selective_ack: None,
            payload: b"hello",
        };
        let mut small = [0u8; 24];
        assert_eq!(
            p.encode(&mut small),
            Err(Error::BufferTooSmall {
                needed: 25,
                available: 24
            })
        );
    }

    fn packet_type() -> impl Strategy<Value = PacketType> {
        (0u8..5).prop_map(|v| PacketType::from_u8(v).unwrap())
    }

    proptest! {
        #[test]
        fn round_trip(
            t in packet_type(),
            connection_id: u16,
            ts: u32,
            tsd: u32,
            window: u32,
            seq: u16,
            ack: u16,
            words in proptest::option::of(1usize..=63),
            mask_seed: u8,
            payload in proptest::collection::vec(any::<u8>(), 0..1500),
        ) {
            let mask: Vec<u8> = (0..words.unwrap_or(0) * 4)
                .map(|i| (i as u8).wrapping_mul(31) ^ mask_seed)
                .collect();
            let payload = if t == PacketType::Data && payload.is_empty() { vec![1] } else { payload };
            let p = Packet {
                header: Header {
                    packet_type: t,
                    connection_id,
                    timestamp_micros: ts,
                    timestamp_difference_micros: tsd,
                    window,
                    seq_nr: SeqNr(seq),
                    ack_nr: SeqNr(ack),
                },
                selective_ack: words.map(|_| SelectiveAck::new(&mask).unwrap()),
                payload: &payload,
            };
            let bytes = p.to_vec();
            prop_assert_eq!(bytes.len(), p.encoded_len());
            prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(p) = Packet::parse(&bytes) {
                // Whatever parses re-encodes to a packet that parses the same
                // (unknown extensions are dropped).
                let again = p.to_vec();
                prop_assert_eq!(Packet::parse(&again).unwrap(), p);
            }
        }
    }
}
