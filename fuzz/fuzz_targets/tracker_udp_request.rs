#![no_main]
//! UDP tracker request decoding (BEP 15, BEP 41) never panics; an accepted
//! packet re-encodes to bytes that decode to the same request.

use libfuzzer_sys::fuzz_target;
use seedbed_tracker_proto::udp::Request;

fuzz_target!(|data: &[u8]| {
    match Request::parse(data) {
        Ok(req) => {
            let bytes = req.to_bytes();
            assert_eq!(
                Request::parse(&bytes).expect("re-encoded request decodes"),
                req
            );
            assert_eq!(req.transaction_id().0.to_be_bytes(), data[12..16]);
        }
        Err(e) => {
            // The transaction id is kept exactly when it was readable.
            assert_eq!(e.transaction_id().is_some(), data.len() >= 16);
            assert!(e.offset().is_some_and(|o| o <= data.len()));
        }
    }
});
