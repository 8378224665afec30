//! KRPC decoding (seedbed-dht): never panics; whatever decodes re-encodes
//! canonically and decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedbed_dht::krpc::Message;

fuzz_target!(|data: &[u8]| {
    match Message::decode(data) {
        Ok(m) => {
            let bytes = m.to_vec();
            let again = Message::decode(&bytes).expect("our encoding decodes");
            assert_eq!(again, m);
            assert_eq!(again.to_vec(), bytes);
        }
        Err(e) => {
            let _ = e.error_reply_id();
            let _ = e.to_string();
        }
    }
});
