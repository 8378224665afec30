//! uTP packet parsing (BEP 29) on arbitrary datagrams: no panic, and
//! whatever parses re-encodes to bytes that parse to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_utp::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        assert!(p.payload.len() <= data.len());
        let mut buf = vec![0u8; p.encoded_len()];
        let n = p.encode(&mut buf).expect("sized by encoded_len");
        assert_eq!(
            Packet::parse(&buf[..n]).expect("re-encoded packet parses"),
            p
        );
        if let Some(sack) = p.selective_ack {
            assert!(sack.acked(p.header.ack_nr).count() <= sack.len_bits());
        }
    }
});
