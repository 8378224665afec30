#![no_main]
//! UDP tracker response decoding (BEP 15, IPv4 and IPv6 peer formats) never
//! panics; an accepted packet re-encodes to the same bytes or, for an error
//! message that is not UTF-8, to bytes that decode to the same response.

use libfuzzer_sys::fuzz_target;
use seedbed_tracker_proto::udp::Response;

fuzz_target!(|data: &[u8]| {
    for ipv6 in [false, true] {
        match Response::parse(data, ipv6) {
            Ok(resp) => {
                let bytes = resp.to_bytes();
                assert_eq!(
                    Response::parse(&bytes, ipv6).expect("re-encoded response decodes"),
                    resp
                );
                if !matches!(resp, Response::Error(_)) {
                    // Fixed-layout packets come back byte for byte (a
                    // connect response may have trailing bytes we drop).
                    assert_eq!(&data[..bytes.len()], &bytes[..]);
                }
            }
            Err(e) => {
                assert_eq!(e.transaction_id().is_some(), data.len() >= 8);
                assert!(e.offset().is_some_and(|o| o <= data.len()));
            }
        }
    }
});
