//! serde support (cargo feature `serde`).
//!
//! Deserializing borrows `&[u8]` and `&str` from the input; serializing
//! writes canonical bencode (keys sorted) and skips `None` fields.
//! Booleans are the integers 0 and 1. Floats and integers outside `i64` are
//! errors. `None` inside a list is an error (bencode has no null).

mod de;
mod ser;

pub use de::{from_bytes, from_bytes_with, from_value};
pub use ser::{to_bytes, to_value, to_writer};

impl serde::de::Error for crate::Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        crate::Error::Custom(msg.to_string())
    }
}

impl serde::ser::Error for crate::Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        crate::Error::Custom(msg.to_string())
    }
}
