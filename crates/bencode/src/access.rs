//! Typed access with key paths in the errors.
//!
//! An [`Entry`] is a [`Value`] that remembers how it was reached, so a
//! missing key or a wrong type reports `info.files[3].length` rather than
//! just "expected integer". Paths are built only when an error is made.

use std::fmt::{self, Write};

use crate::document::{Dict, Kind, List, Value};
use crate::error::Error;

#[derive(Clone, Copy, Debug)]
enum Step<'a> {
    Root,
    Key(&'a [u8]),
    Index(usize),
}

/// A value plus the path that reached it.
///
/// A child entry borrows its parent (the path is a chain of borrows, built
/// into a string only for an error), so bind each level to a variable.
///
/// ```
/// use seedbed_bencode::{decode, Entry};
/// let doc = decode(b"d4:infod5:filesld6:lengthi1eed4:path0:eeee").unwrap();
/// let root = Entry::root(doc.root());
/// let info = root.key("info").unwrap();
/// let files_entry = info.key("files").unwrap();
/// let files: Vec<_> = files_entry.items().unwrap().collect();
/// let err = files[1].key("length").unwrap_err();
/// assert_eq!(err.to_string(), "missing key info.files[1].length");
/// ```
#[derive(Clone, Copy)]
pub struct Entry<'p, 'd, 'a> {
    value: Value<'d, 'a>,
    parent: Option<&'p Entry<'p, 'd, 'a>>,
    step: Step<'a>,
}

impl<'p, 'd, 'a> Entry<'p, 'd, 'a> {
    /// The root of a path: `value` with an empty path.
    pub fn root(value: Value<'d, 'a>) -> Self {
        Entry {
            value,
            parent: None,
            step: Step::Root,
        }
    }

    /// The value.
    pub fn value(&self) -> Value<'d, 'a> {
        self.value
    }

    /// The key path, like `info.files[3].length` (keys as lossy UTF-8).
    pub fn path(&self) -> String {
        let mut steps = Vec::new();
        let mut cur = Some(self);
        while let Some(e) = cur {
            steps.push(e.step);
            cur = e.parent;
        }
        let mut out = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&String::from_utf8_lossy(k));
                }
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        if out.is_empty() {
            out.push_str("<root>");
        }
        out
    }

    fn wrong_type(&self, expected: &'static str) -> Error {
        Error::WrongType {
            path: self.path(),
            expected,
            found: self.value.type_name(),
        }
    }

    /// An [`Error::InvalidValue`] at this path, for checks done by callers.
    pub fn invalid(&self, reason: impl fmt::Display) -> Error {
        Error::InvalidValue {
            path: self.path(),
            reason: reason.to_string(),
        }
    }

    /// The dictionary.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a dictionary.
    pub fn dict(&self) -> Result<Dict<'d, 'a>, Error> {
        self.value
            .as_dict()
            .ok_or_else(|| self.wrong_type("dictionary"))
    }

    /// The list.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a list.
    pub fn list(&self) -> Result<List<'d, 'a>, Error> {
        self.value.as_list().ok_or_else(|| self.wrong_type("list"))
    }

    /// The integer.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not an integer.
    pub fn int(&self) -> Result<i64, Error> {
        self.value
            .as_int()
            .ok_or_else(|| self.wrong_type("integer"))
    }

    /// The integer, which must be `>= 0`.
    ///
    /// # Errors
    /// [`Error::WrongType`], or [`Error::InvalidValue`] if negative.
    pub fn uint(&self) -> Result<u64, Error> {
        let i = self.int()?;
        u64::try_from(i).map_err(|_| self.invalid(format_args!("{i} is negative")))
    }

    /// The byte string's content.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a byte string.
    pub fn bytes(&self) -> Result<&'a [u8], Error> {
        self.value
            .as_bytes()
            .ok_or_else(|| self.wrong_type("string"))
    }

    /// The byte string's content as UTF-8.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a byte string,
    /// [`Error::InvalidValue`] if it is not UTF-8.
    pub fn str(&self) -> Result<&'a str, Error> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|e| self.invalid(format_args!("not UTF-8: {e}")))
    }

    /// The value of `key` (first occurrence) in this dictionary.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a dictionary,
    /// [`Error::MissingKey`] if the key is absent.
    pub fn key<'s>(&'s self, key: &'a str) -> Result<Entry<'s, 'd, 'a>, Error> {
        self.opt_key(key)?.ok_or_else(|| Error::MissingKey {
            path: self.child(Step::Key(key.as_bytes()), self.value).path(),
        })
    }

    /// The value of `key` in this dictionary, `None` if absent.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a dictionary.
    pub fn opt_key<'s>(&'s self, key: &'a str) -> Result<Option<Entry<'s, 'd, 'a>>, Error> {
        let d = self.dict()?;
        Ok(d.get(key).map(|v| self.child(Step::Key(key.as_bytes()), v)))
    }

    /// The items of this list, each with its index in the path.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a list.
    pub fn items<'s>(&'s self) -> Result<impl Iterator<Item = Entry<'s, 'd, 'a>> + 's, Error> {
        let l = self.list()?;
        Ok(l.iter()
            .enumerate()
            .map(move |(i, v)| self.child(Step::Index(i), v)))
    }

    /// The entries of this dictionary, each with its key in the path.
    ///
    /// # Errors
    /// [`Error::WrongType`] if this is not a dictionary.
    pub fn entries<'s>(
        &'s self,
    ) -> Result<impl Iterator<Item = (&'a [u8], Entry<'s, 'd, 'a>)> + 's, Error> {
        let d = self.dict()?;
        Ok(d.iter().map(move |(k, v)| (k, self.child(Step::Key(k), v))))
    }

    fn child<'s>(&'s self, step: Step<'a>, value: Value<'d, 'a>) -> Entry<'s, 'd, 'a> {
        Entry {
            value,
            parent: Some(self),
            step,
        }
    }

    /// The value's type and content.
    pub fn kind(&self) -> Kind<'d, 'a> {
        self.value.kind()
    }
}

impl fmt::Debug for Entry<'_, '_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("path", &self.path())
            .field("value", &self.value)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    #[test]
    fn paths_in_errors() {
        let doc = decode(b"d4:infod5:filesld6:lengthi1eed6:length3:abceeee").unwrap();
        let root = Entry::root(doc.root());
        let info = root.key("info").unwrap();
        let files = info.key("files").unwrap();
        let mut items = files.items().unwrap();
        assert_eq!(items.next().unwrap().key("length").unwrap().int(), Ok(1));
        let second = items.next().unwrap();
        let err = second.key("length").unwrap().int().unwrap_err();
        assert_eq!(
            err,
            Error::WrongType {
                path: "info.files[1].length".into(),
                expected: "integer",
                found: "string"
            }
        );
        assert_eq!(
            root.key("announce").unwrap_err().to_string(),
            "missing key announce"
        );
        assert_eq!(
            info.int().unwrap_err().to_string(),
            "info: expected integer, found dictionary"
        );
    }
}
