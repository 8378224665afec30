//! v1 (BEP 3): the `files` list of a multi-file torrent, or the single
//! file's `length`.

use seedbed_bencode::{Dict, Entry, Value};

use crate::error::Error;
use crate::files::FileAttr;
use crate::options::ParseOptions;

use super::parse::{named_like_pad, parse_attr, parse_symlink, string_list};

/// A v1 `files` entry (or the single file) before layout.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct ListFile<'a> {
    pub(super) raw_path: Option<Vec<&'a [u8]>>,
    pub(super) length: u64,
    pub(super) attr: FileAttr,
    pub(super) symlink: Option<Vec<&'a [u8]>>,
    pub(super) mtime: Option<i64>,
}

/// v1: the `files` list (multi-file) or `length` (single file).
pub(super) fn parse_file_list<'a>(
    info: &Entry<'_, '_, 'a>,
    opts: &ParseOptions,
) -> Result<(Vec<ListFile<'a>>, bool), Error> {
    let Some(files) = info.opt_key("files")? else {
        let length = info.key("length")?.uint()?;
        let attr = parse_attr(info)?;
        return Ok((
            vec![ListFile {
                raw_path: None,
                length,
                attr,
                symlink: None,
                mtime: None,
            }],
            false,
        ));
    };
    let mut out = Vec::new();
    for fe in files.items()? {
        if out.len() == opts.max_files {
            return Err(Error::TooManyFiles {
                limit: opts.max_files,
            });
        }
        if let Some(lf) = fe.value().as_dict().and_then(list_file_fast) {
            out.push(lf);
            continue;
        }
        // Something is off: the keyed reads give the error with its key
        // path.
        out.push(list_file_slow(&fe)?);
    }
    if out.is_empty() {
        return Err(Error::NoFiles);
    }
    Ok((out, true))
}

/// A v1 `files` entry, key by key, with error paths
/// (`info.files[3].length`).
pub(super) fn list_file_slow<'a>(fe: &Entry<'_, '_, 'a>) -> Result<ListFile<'a>, Error> {
    fe.dict()?;
    let mut attr = parse_attr(fe)?;
    let utf8 = match fe.opt_key("path.utf-8")? {
        Some(p) => string_list(&p).ok(),
        None => None,
    };
    let raw_path = match utf8 {
        Some(p) => Some(p),
        None => match fe.opt_key("path")? {
            Some(p) => Some(string_list(&p)?),
            None if attr.is_pad() => None,
            None => {
                return Err(Error::Bencode(seedbed_bencode::Error::MissingKey {
                    path: format!("{}.path", fe.path()),
                }))
            }
        },
    };
    if raw_path.as_deref().is_some_and(named_like_pad) {
        attr.set_pad();
    }
    let symlink = parse_symlink(fe, attr)?;
    let length = if symlink.is_some() {
        0
    } else {
        fe.key("length")?.uint()?
    };
    let mtime = fe.opt_key("mtime")?.and_then(|m| m.value().as_int());
    Ok(ListFile {
        raw_path,
        length,
        attr,
        symlink,
        mtime,
    })
}

/// A well-formed v1 `files` entry in one pass over its keys (the first
/// value of each key, as the keyed reads take it). `None` when anything
/// would be an error or needs a fallback: [`parse_file_list`] then reads
/// the entry again key by key, with error paths. Same result as that
/// slow path on every input it accepts.
pub(super) fn list_file_fast<'a>(d: Dict<'_, 'a>) -> Option<ListFile<'a>> {
    let (mut length, mut path, mut path_utf8, mut attr, mut mtime, mut symlink) =
        (None, None, None, None, None, None);
    for (k, v) in d.iter() {
        let slot = match k {
            b"length" => &mut length,
            b"path" => &mut path,
            b"path.utf-8" => &mut path_utf8,
            b"attr" => &mut attr,
            b"mtime" => &mut mtime,
            b"symlink path" => &mut symlink,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v);
        }
    }
    let strings = |v: Value<'_, 'a>| -> Option<Vec<&'a [u8]>> {
        let mut out = Vec::new();
        for item in v.as_list()?.iter() {
            out.push(item.as_bytes()?);
        }
        Some(out)
    };
    let mut attr = attr
        .and_then(|a| a.as_bytes())
        .map(FileAttr::parse)
        .unwrap_or_default();
    let raw_path = match path_utf8.and_then(strings) {
        Some(p) => Some(p),
        None => match path {
            Some(p) => Some(strings(p)?),
            None if attr.is_pad() => None,
            None => return None,
        },
    };
    if raw_path.as_deref().is_some_and(named_like_pad) {
        attr.set_pad();
    }
    let symlink = if attr.is_symlink() {
        Some(strings(symlink?)?)
    } else {
        None
    };
    let length = if symlink.is_some() {
        0
    } else {
        u64::try_from(length?.as_int()?).ok()?
    };
    Some(ListFile {
        raw_path,
        length,
        attr,
        symlink,
        mtime: mtime.and_then(|m| m.as_int()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use seedbed_bencode::decode_with;

    fn value() -> impl Strategy<Value = Vec<u8>> {
        let string = prop_oneof![
            Just(&b"a"[..]),
            Just(&b"p"[..]),
            Just(&b"xl"[..]),
            Just(&b""[..]),
            Just(&b".____padding_file"[..]),
        ]
        .prop_map(|s| {
            let mut v = format!("{}:", s.len()).into_bytes();
            v.extend_from_slice(s);
            v
        });
        let int = (-2i64..5).prop_map(|i| format!("i{i}e").into_bytes());
        let item = prop_oneof![4 => string.clone(), 1 => int.clone()];
        let list = proptest::collection::vec(item, 0..3).prop_map(|items| {
            let mut v = b"l".to_vec();
            items.iter().for_each(|i| v.extend_from_slice(i));
            v.push(b'e');
            v
        });
        prop_oneof![1 => string, 1 => int, 3 => list, 1 => Just(b"de".to_vec())]
    }

    proptest! {
        /// The one-pass read of a `files` entry agrees with the keyed
        /// read wherever it answers, on unsorted and repeated keys too.
        #[test]
        fn fast_file_entry_matches_slow(
            entries in proptest::collection::vec(
                (prop_oneof![
                    Just("length"), Just("path"), Just("path.utf-8"), Just("attr"),
                    Just("mtime"), Just("symlink path"), Just("other"),
                ], value()),
                0..7,
            )
        ) {
            let mut bytes = b"d".to_vec();
            for (k, v) in &entries {
                bytes.extend_from_slice(format!("{}:{k}", k.len()).as_bytes());
                bytes.extend_from_slice(v);
            }
            bytes.push(b'e');
            let doc = decode_with(&bytes, &ParseOptions::new().decode_options()).unwrap();
            let entry = Entry::root(doc.root());
            let slow = list_file_slow(&entry);
            if let Some(fast) = list_file_fast(doc.root().as_dict().unwrap()) {
                prop_assert_eq!(Some(fast), slow.ok());
            }
        }
    }
}
