//! Safe relative file paths and the sanitiser that makes them from the
//! untrusted path elements of a torrent.
//!
//! The rules follow libtorrent (master, 2026), so the on-disk layout matches
//! what libtorrent users see:
//!
//! - an element `.` or `..` is dropped;
//! - an empty element becomes `_`;
//! - `/`, `\` and NUL inside an element are removed; an element made only
//!   of them becomes `_` (`"foo/../bar"` → `"foo..bar"`);
//! - each invalid UTF-8 sequence becomes `_`;
//! - a drive prefix (`C:` at the start of an element) becomes `C_`;
//! - an element longer than 255 bytes is shortened, keeping a short
//!   extension;
//! - a path left with no element becomes `_`.
//!
//! The result can never name a parent, the root, or another drive, on any
//! platform.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Longest path component, in bytes: elements over 240 bytes are cut to
/// 240 bytes plus an extension of up to 10 bytes, as libtorrent does.
pub const MAX_COMPONENT_LEN: usize = SHORTEN_OVER + MAX_EXT;

const SHORTEN_OVER: usize = 240;
const MAX_EXT: usize = 10;

/// A relative path whose every component is safe to create under a
/// download folder: non-empty, valid UTF-8, not `.` or `..`, without `/`,
/// `\` or NUL, not a drive prefix, at most [`MAX_COMPONENT_LEN`] bytes.
///
/// Made only by this crate's sanitiser (from a torrent) or by
/// [`FilePath::from_components`], which sanitises too. Displayed and
/// [`as_str`](FilePath::as_str) with `/` between components.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath {
    /// Components joined by `/`; never empty; no component is empty.
    joined: String,
}

impl FilePath {
    /// Sanitises untrusted path elements (the rules are in the module
    /// documentation) into a safe path. Never fails: a path with nothing left
    /// becomes `_`.
    ///
    /// ```
    /// use seedbed_metainfo::FilePath;
    /// let p = FilePath::from_components([&b".."[..], b"C:", b"a/b", b"", b"x.txt"]);
    /// assert_eq!(p.as_str(), "C_/ab/_/x.txt");
    /// ```
    pub fn from_components<I, C>(components: I) -> FilePath
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        let mut b = PathBuilder::default();
        for c in components {
            b.push(c.as_ref());
        }
        b.finish()
    }

    /// The path with `/` between components.
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// The components, each safe on its own.
    pub fn components(&self) -> impl Iterator<Item = &str> + '_ {
        self.joined.split('/')
    }

    /// The last component (the file name).
    pub fn file_name(&self) -> &str {
        self.joined.rsplit('/').next().unwrap_or(&self.joined)
    }

    /// How many components.
    pub fn len(&self) -> usize {
        self.components().count()
    }

    /// Always `false`: a `FilePath` has at least one component.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `root` joined with every component, one at a time. The result is
    /// always inside `root`: each component is checked again against the
    /// platform's own path rules, and one that would not be a plain name
    /// there is replaced by `_`; on Windows a device name (`CON`, `nul.txt`)
    /// gets a `_` in front.
    ///
    /// ```
    /// use std::path::Path;
    /// use seedbed_metainfo::FilePath;
    /// let p = FilePath::from_components(["..", "etc", "passwd"]);
    /// assert_eq!(p.to_path_buf_under("/dl"), Path::new("/dl/etc/passwd"));
    /// ```
    pub fn to_path_buf_under(&self, root: impl AsRef<Path>) -> PathBuf {
        let mut out = root.as_ref().to_path_buf();
        for c in self.components() {
            let mut parts = Path::new(c).components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(n)), None) if n == c => {
                    if cfg!(windows) && is_windows_device_name(c) {
                        // `CON`, `NUL.txt`, ... open devices on Windows.
                        out.push(format!("_{c}"));
                    } else {
                        out.push(c);
                    }
                }
                _ => out.push("_"),
            }
        }
        out
    }

    /// This path with `prefix` (one more sanitised element) in front.
    #[cfg(test)]
    pub(crate) fn prefixed(&self, prefix: &FilePath) -> FilePath {
        FilePath {
            joined: format!("{}/{}", prefix.joined, self.joined),
        }
    }

    /// A path from a string already known to be safe (internal use: names
    /// made here, like `.pad/16384`).
    pub(crate) fn from_safe(s: String) -> FilePath {
        debug_assert!(!s.is_empty());
        FilePath { joined: s }
    }

    /// `self` with `.n` inserted before the extension of the last
    /// component (`a/b.txt` → `a/b.1.txt`, `a/_` → `a/_.1`).
    pub(crate) fn with_counter(&self, n: usize) -> FilePath {
        let (dir, name) = match self.joined.rfind('/') {
            Some(i) => (&self.joined[..=i], &self.joined[i + 1..]),
            None => ("", &self.joined[..]),
        };
        let joined = match name.rfind('.') {
            Some(dot) if dot > 0 => format!("{dir}{}.{n}{}", &name[..dot], &name[dot..]),
            _ => format!("{dir}{name}.{n}"),
        };
        FilePath { joined }
    }
}

impl fmt::Display for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined)
    }
}

impl fmt::Debug for FilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilePath({:?})", self.joined)
    }
}

impl AsRef<str> for FilePath {
    fn as_ref(&self) -> &str {
        &self.joined
    }
}

/// Builds a [`FilePath`] one untrusted element at a time, sanitising each
/// straight into the joined string.
#[derive(Default)]
pub(crate) struct PathBuilder {
    joined: String,
    /// Length of the prefix (a safe path given up front), 0 if none.
    base: usize,
}

impl PathBuilder {
    /// A builder whose path starts with `prefix` (already safe), the way a
    /// multi-file torrent's files start with its name. Holds `extra` more
    /// bytes without reallocating.
    pub(crate) fn with_prefix(prefix: &FilePath, extra: usize) -> Self {
        let mut joined = String::with_capacity(prefix.joined.len() + 1 + extra);
        joined.push_str(&prefix.joined);
        PathBuilder {
            base: joined.len(),
            joined,
        }
    }

    pub(crate) fn push(&mut self, raw: &[u8]) {
        // Most elements are already safe: copy them without a temporary.
        if let Some(c) = already_safe(raw) {
            if !self.joined.is_empty() {
                self.joined.push('/');
            }
            self.joined.push_str(c);
        } else if let Some(c) = sanitize_component(raw) {
            if !self.joined.is_empty() {
                self.joined.push('/');
            }
            self.joined.push_str(&c);
        }
    }

    /// The path; `_` (after the prefix, if any) when no element was kept.
    pub(crate) fn finish(mut self) -> FilePath {
        if self.joined.len() == self.base {
            if self.base > 0 {
                self.joined.push('/');
            }
            self.joined.push('_');
        }
        FilePath {
            joined: self.joined,
        }
    }
}

/// `raw` as a `&str` when [`sanitize_component`] would return it
/// unchanged: non-empty valid UTF-8 of at most 240 bytes, not `.` or `..`,
/// without `/`, `\` or NUL, not starting with a drive prefix.
fn already_safe(raw: &[u8]) -> Option<&str> {
    if raw.is_empty()
        || raw.len() > SHORTEN_OVER
        || raw == b"."
        || raw == b".."
        || raw.iter().any(|b| matches!(b, b'/' | b'\\' | 0))
        || (raw.len() >= 2 && raw[0].is_ascii_alphabetic() && raw[1] == b':')
    {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

/// One untrusted element → a safe component, or `None` to drop it (`.`,
/// `..`, or something that becomes one of them).
pub(crate) fn sanitize_component(raw: &[u8]) -> Option<String> {
    if raw == b"." || raw == b".." {
        return None;
    }
    if raw.is_empty() {
        return Some("_".into());
    }
    let mut out = String::with_capacity(raw.len().min(MAX_COMPONENT_LEN + 4));
    for chunk in raw.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if !matches!(ch, '/' | '\\' | '\0') {
                out.push(ch);
            }
        }
        if !chunk.invalid().is_empty() {
            out.push('_');
        }
    }
    if out.is_empty() {
        return Some("_".into());
    }
    if out == "." || out == ".." {
        return None;
    }
    // A drive prefix: one ASCII letter then ':' (Windows `C:` or `C:foo`).
    let b = out.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        out.replace_range(1..2, "_");
    }
    if out.len() > SHORTEN_OVER {
        out = shorten(&out);
    }
    Some(out)
}

/// Whether `name` is a Windows device name (`CON`, `PRN`, `AUX`, `NUL`,
/// `COM1`-`COM9`, `LPT1`-`LPT9`, any case, with or without an extension).
pub(crate) fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_bytes() {
        b"CON" | b"PRN" | b"AUX" | b"NUL" => true,
        [b'C', b'O', b'M', d] | [b'L', b'P', b'T', d] => (b'1'..=b'9').contains(d),
        _ => false,
    }
}

/// A torrent name → one safe component, or `None` when nothing usable is
/// left (empty, only separators or NULs, `.` or `..`).
pub(crate) fn sanitize_name(raw: &[u8]) -> Option<String> {
    let keep = raw.iter().any(|b| !matches!(b, b'/' | b'\\' | 0));
    if !keep {
        return None;
    }
    sanitize_component(raw)
}

/// Cuts the stem of `s` to 240 bytes on a char boundary, keeping an
/// extension of up to 10 bytes.
fn shorten(s: &str) -> String {
    let ext = match s.rfind('.') {
        Some(dot) if dot > 0 && s.len() - dot <= MAX_EXT => &s[dot..],
        _ => "",
    };
    let mut cut = SHORTEN_OVER;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    fn p(parts: &[&[u8]]) -> String {
        FilePath::from_components(parts.iter().copied())
            .as_str()
            .to_owned()
    }

    #[test]
    fn libtorrent_rules() {
        assert_eq!(p(&[b"/foobar"]), "foobar");
        assert_eq!(p(&[b"\\", b"\\", b"bar"]), "_/_/bar");
        assert_eq!(p(&[b"", b""]), "_/_");
        assert_eq!(p(&[b"foo/../../../bar", b"bar"]), "foo......bar/bar");
        assert_eq!(p(&[b"..", b"..", b"bar"]), "bar");
        assert_eq!(p(&[b"."]), "_");
        assert_eq!(p(&[b"abc/../../def", b"/", b"bar"]), "abc....def/_/bar");
        assert_eq!(p(&[b"\x82est/MB"]), "_estMB");
        assert_eq!(p(&[b"foobar "]), "foobar ");
        assert_eq!(p(&[b"./."]), "_");
        assert_eq!(p(&[b".\\."]), "_");
        assert_eq!(p(&[b"C:", b"x"]), "C_/x");
        assert_eq!(p(&[b"c:\\windows"]), "c_windows");
        assert_eq!(p(&[b"a\0b"]), "ab");
        assert_eq!(p(&[b"Re: Zero"]), "Re: Zero");
    }

    #[test]
    fn long_names_are_shortened() {
        let long = format!("{}.mkv", "é".repeat(200));
        let out = p(&[long.as_bytes()]);
        assert!(out.len() <= MAX_COMPONENT_LEN);
        assert!(out.ends_with(".mkv"));
        let over = "b".repeat(SHORTEN_OVER + 1);
        assert_eq!(p(&[over.as_bytes()]), "b".repeat(SHORTEN_OVER));
        let exact = "a".repeat(SHORTEN_OVER);
        assert_eq!(p(&[exact.as_bytes()]), exact);
    }

    #[test]
    fn windows_device_names() {
        for n in ["CON", "con.txt", "Nul", "com1", "LPT9.tar.gz", "aux .x"] {
            assert!(is_windows_device_name(n), "{n}");
        }
        for n in ["CONSOLE", "com0", "com10", "x.con", "_CON", "LPT"] {
            assert!(!is_windows_device_name(n), "{n}");
        }
    }

    #[test]
    fn counters() {
        let f = FilePath::from_components(["foo", "bar.txt"]);
        assert_eq!(f.with_counter(1).as_str(), "foo/bar.1.txt");
        assert_eq!(
            FilePath::from_components(["_"]).with_counter(2).as_str(),
            "_.2"
        );
        assert_eq!(
            FilePath::from_components([".hidden"])
                .with_counter(1)
                .as_str(),
            ".hidden.1"
        );
    }

    #[test]
    fn joins_under_root() {
        let f = FilePath::from_components(["..", "/", "a", "C:"]);
        let out = f.to_path_buf_under("/dl");
        assert!(out.starts_with("/dl"));
        assert_eq!(out, Path::new("/dl/_/a/C_"));
        for c in out.strip_prefix("/dl").unwrap().components() {
            assert!(matches!(c, Component::Normal(_)));
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_path_matches_sanitiser(raw in proptest::prop_oneof![
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            "[a-zA-Z0-9 .:/\\\\é]{0,250}".prop_map(String::into_bytes),
        ]) {
            if let Some(s) = already_safe(&raw) {
                let slow = sanitize_component(&raw);
                proptest::prop_assert_eq!(slow.as_deref(), Some(s));
            }
            let name = FilePath::from_components(["n"]);
            let mut b = PathBuilder::with_prefix(&name, 0);
            b.push(&raw);
            let want = FilePath::from_components([&raw]).prefixed(&name);
            proptest::prop_assert_eq!(b.finish(), want);
        }

        #[test]
        fn never_escapes(parts in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..6)) {
            let f = FilePath::from_components(&parts);
            for c in f.components() {
                proptest::prop_assert!(!c.is_empty());
                proptest::prop_assert!(c != "." && c != "..");
                proptest::prop_assert!(!c.contains(['/', '\\', '\0']));
                proptest::prop_assert!(c.len() <= MAX_COMPONENT_LEN);
            }
            let out = f.to_path_buf_under("/root");
            let rest = out.strip_prefix("/root").unwrap();
            for c in rest.components() {
                proptest::prop_assert!(matches!(c, Component::Normal(_)));
            }
        }
    }
}
