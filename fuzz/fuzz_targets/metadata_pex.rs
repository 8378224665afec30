#![no_main]
//! ut_metadata (BEP 9) and ut_pex (BEP 11) handling as a session does it:
//! metadata messages from several fake peers drive a `MetadataAssembler`,
//! PeX messages are decoded and re-encoded. Never panics; the assembler
//! keeps its invariants (a completed dictionary has exactly the advertised
//! size; every accepted piece has exactly its length).

use libfuzzer_sys::fuzz_target;
use seedbed_peer_wire::Bytes;
use seedbed_peer_wire::{Limits, MetadataAssembler, MetadataMessage, PexMessage};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let limits = Limits::new().max_metadata_size(1 << 20);
    let size = u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]])) % (1 << 21);
    let Ok(mut asm) = MetadataAssembler::<u8>::new(size, 1 << 20) else {
        assert!(size == 0 || size > 1 << 20);
        return;
    };
    let mut rest = &data[4..];
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]) * 64);
        let body = &rest[2..];
        let take = len.min(body.len());
        let payload = Bytes::copy_from_slice(&body[..take]);
        rest = &body[take..];
        let peer = kind >> 4;
        match kind % 4 {
            0 => {
                if let Ok(msg) = MetadataMessage::decode(&payload, &limits) {
                    assert_eq!(
                        MetadataMessage::decode(&msg.to_bytes(), &limits).ok(),
                        Some(msg.clone())
                    );
                    if let MetadataMessage::Data {
                        piece,
                        total_size,
                        data,
                    } = msg
                    {
                        let len = data.len();
                        if let Ok(complete) = asm.on_data(peer, piece, u64::from(total_size), data)
                        {
                            assert!(len <= 16384);
                            if complete {
                                let (bytes, peers) = asm.take().expect("complete");
                                assert_eq!(bytes.len() as u64, size);
                                assert!(!peers.is_empty());
                            }
                        }
                    }
                }
            }
            1 => {
                let _ = asm.next_request(peer);
            }
            2 => asm.release(peer),
            _ => {
                if let Ok(pex) = PexMessage::decode(&payload) {
                    assert_eq!(PexMessage::decode(&pex.to_bytes()).ok(), Some(pex));
                }
            }
        }
    }
});
