//! Hostile input, each at its limit and one past it. Nothing panics, and
//! memory stays bounded: a counting allocator measures what decoding
//! allocates.

use seedbed_bencode::{decode, decode_with, DecodeOptions, Error};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counting allocator sees every thread, so the tests of this file run
/// one at a time: each holds this lock from start to end.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes allocated in total (reallocations included) while running `f`.
/// The caller holds [`serial`]. The test harness allocates on its own
/// threads now and then (starting the next test, capturing output), which
/// the global counter sees too; `f` is deterministic, so the least of three
/// runs is what `f` itself allocates.
fn allocated<T>(f: impl Fn() -> T) -> (T, usize) {
    let mut least = usize::MAX;
    let mut out = None;
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        let value = f();
        least = least.min(region.change().bytes_allocated);
        out = Some(value);
    }
    (out.expect("ran three times"), least)
}

fn nested_lists(depth: usize) -> Vec<u8> {
    let mut v = vec![b'l'; depth];
    v.resize(depth * 2, b'e');
    v
}

#[test]
fn default_depth_limit_at_and_past() {
    let _serial = serial();
    let limit = DecodeOptions::DEFAULT_MAX_DEPTH;
    assert!(decode(&nested_lists(limit)).is_ok());
    assert_eq!(
        decode(&nested_lists(limit + 1)).unwrap_err(),
        Error::DepthLimit {
            offset: limit,
            limit
        }
    );
}

#[test]
fn hundred_thousand_nested_lists() {
    let _serial = serial();
    // 100,000 unclosed `l` with the default limit: stopped at depth 100,
    // having allocated almost nothing.
    let input = vec![b'l'; 100_000];
    let (r, bytes) = allocated(|| decode(&input).map(|_| ()));
    assert!(matches!(r, Err(Error::DepthLimit { offset: 100, .. })));
    assert!(bytes < 64 * 1024, "allocated {bytes} bytes");

    // With the limit raised to 100,000: at the limit it decodes (the
    // decoder does not recurse, so the stack is safe), one past it fails.
    let opts = DecodeOptions::new().max_depth(100_000);
    let input = nested_lists(100_000);
    let (r, bytes) = allocated(|| decode_with(&input, &opts).map(|d| d.item_count()));
    assert_eq!(r, Ok(100_000));
    // Linear in the input (tape and open-container stack, with their
    // regrowth), never in a declared length.
    assert!(bytes < input.len() * 64, "allocated {bytes} bytes");
    let input = nested_lists(100_001);
    assert!(matches!(
        decode_with(&input, &opts),
        Err(Error::DepthLimit {
            offset: 100_000,
            limit: 100_000
        })
    ));
}

#[test]
fn huge_declared_string_length() {
    let _serial = serial();
    let (r, bytes) = allocated(|| decode(b"99999999999:x").map(|_| ()));
    assert_eq!(
        r,
        Err(Error::UnexpectedEof {
            offset: 11,
            expected: seedbed_bencode::Expected::StringBytes(99_999_999_999)
        })
    );
    assert!(
        bytes < 4096,
        "allocated {bytes} bytes for a declared 100 GB string"
    );
}

#[test]
fn integer_range_at_and_past() {
    let _serial = serial();
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().root().as_int(),
        Some(i64::MAX)
    );
    assert!(matches!(
        decode(b"i9223372036854775808e"),
        Err(Error::IntegerOverflow { .. })
    ));
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().root().as_int(),
        Some(i64::MIN)
    );
    assert!(matches!(
        decode(b"i99999999999999999999e"),
        Err(Error::IntegerOverflow { offset: 19 })
    ));
}

#[test]
fn million_byte_string_accepted_without_copy() {
    let _serial = serial();
    let mut input = b"1000000:".to_vec();
    input.resize(8 + 1_000_000, b'x');
    let (doc, bytes) = allocated(|| decode(&input).unwrap());
    let s = doc.root().as_bytes().unwrap();
    assert_eq!(s.len(), 1_000_000);
    assert_eq!(s.as_ptr(), input[8..].as_ptr(), "borrowed, not copied");
    assert!(bytes < 16 * 1024, "allocated {bytes} bytes");
    // One byte short of the declared length.
    assert!(matches!(
        decode(&input[..input.len() - 1]),
        Err(Error::UnexpectedEof { offset: 7, .. })
    ));
}

#[test]
fn item_limit_at_and_past() {
    let _serial = serial();
    // A list of 999 empty strings is 1,000 items with the list itself.
    let mut input = b"l".to_vec();
    for _ in 0..999 {
        input.extend_from_slice(b"0:");
    }
    input.push(b'e');
    let opts = DecodeOptions::new().max_items(1000);
    assert_eq!(decode_with(&input, &opts).unwrap().item_count(), 1000);
    let opts = DecodeOptions::new().max_items(999);
    assert_eq!(
        decode_with(&input, &opts).unwrap_err(),
        Error::ItemLimit {
            offset: 1 + 998 * 2,
            limit: 999
        }
    );
}

#[test]
fn truncations_of_a_valid_document_never_panic() {
    let _serial = serial();
    let input = b"d8:announce3:url4:infod6:lengthi12345e4:name4:file12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
    assert!(decode(input).is_ok());
    for end in 0..input.len() {
        let e = decode(&input[..end]).unwrap_err();
        assert!(e.offset().unwrap() <= end, "{e}");
    }
}
