#![no_main]
//! Resume data as a session reads it at start (`ResumeData::decode` for a
//! torrent of N pieces and F files, both taken from the input): never
//! panics, never allocates by a length it has not checked against the
//! torrent, and whatever it accepts has the torrent's shape and encodes
//! back to the same data within `ResumeData::max_len`.

use libfuzzer_sys::fuzz_target;
use seedbed_session::ResumeData;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let num_pieces = u32::from(u16::from_le_bytes([data[0], data[1]])) + 1;
    let num_files = usize::from(data[2] % 64);
    let input = &data[3..];
    if let Ok(d) = ResumeData::decode(input, num_pieces, num_files) {
        assert_eq!(d.pieces.len(), num_pieces);
        assert_eq!(d.files.len(), num_files);
        let again = d.encode();
        assert!(again.len() <= ResumeData::max_len(num_pieces, num_files));
        assert_eq!(
            ResumeData::decode(&again, num_pieces, num_files).ok(),
            Some(d)
        );
    }
});
