//! A whole `.torrent` file: the `info` dictionary plus trackers (BEP 12),
//! web seeds (BEP 19, BEP 17), DHT nodes (BEP 5), piece layers (BEP 52) and
//! descriptive keys.

use std::collections::{HashMap, HashSet};
use std::fmt;

use bytes::Bytes;
use seedbed_bencode::{decode_with, DecodeOptions, Document, Entry, Kind, Value};

use crate::error::Error;
use crate::geometry::PieceIndex;
use crate::id::{InfoHash, InfoHashV2};
use crate::info::{parse_info, Info};
use crate::merkle::root_from_layer;
use crate::options::ParseOptions;

/// A DHT bootstrap node from `nodes` (BEP 5): a host name or IP address
/// and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DhtNode {
    /// Host name or IP address, as written.
    pub host: String,
    /// UDP port.
    pub port: u16,
}

/// A parsed `.torrent` file (BEP 3, BEP 52).
///
/// Holds the input bytes (cheaply, as [`Bytes`]); the [`Info`] and the
/// piece layers are slices of them. Unknown keys stay reachable through
/// [`decode`](Torrent::decode).
///
/// ```
/// use seedbed_metainfo::Torrent;
/// let data = b"d8:announce16:http://t.example4:infod6:lengthi5e4:name5:a.txt\
/// 12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
/// let t = Torrent::from_bytes(&data[..]).unwrap();
/// assert_eq!(t.info().name(), "a.txt");
/// assert_eq!(t.trackers(), [vec!["http://t.example".to_string()]]);
/// assert_eq!(t.info().num_pieces(), 1);
/// ```
#[derive(Clone)]
pub struct Torrent {
    raw: Bytes,
    info: Info,
    max_depth: usize,
    announce: Option<String>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    http_seeds: Vec<String>,
    nodes: Vec<DhtNode>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    encoding: Option<String>,
    /// `piece layers` entries in source order; `None` for a value that is
    /// not a string (reported by `verify_piece_layers`).
    piece_layers: Vec<(Bytes, Option<Bytes>)>,
}

impl Torrent {
    /// Parses a `.torrent` file with the default [`ParseOptions`].
    ///
    /// Lenient like libtorrent: unsorted and duplicate keys, bytes after the
    /// root dictionary, non-UTF-8 names and unknown keys are accepted;
    /// unsafe paths are sanitised ([`FilePath`](crate::FilePath)). Then the
    /// invariants of [`Info`] are checked, and, for v2 torrents, the piece
    /// layers ([`verify_piece_layers`](Self::verify_piece_layers)).
    ///
    /// Where clients disagree we follow libtorrent (master):
    ///
    /// - a duplicate file path is renamed (`a.txt` → `a.1.txt`), up to
    ///   [`ParseOptions::max_duplicate_names`]; a repeated `info` key keeps
    ///   its first value. Both are recorded as [`Warning`](crate::Warning)s,
    ///   and [`Info::check_strict`] rejects them as Transmission does;
    /// - a single-file torrent whose name sanitises to nothing is rejected;
    ///   a folder gets the info hash as its name;
    /// - a v2 or hybrid `info` dictionary must be canonical bencode (sorted
    ///   keys, no leading zeros), since its SHA-256 identifies it;
    /// - symlinks have length 0 whatever they declare; v2 files may lack a
    ///   piece layer, but a layer that is present must verify;
    /// - `announce-list` replaces `announce` (BEP 12) unless it is empty.
    ///
    /// # Errors
    /// - [`Error::TooLarge`] past the input size limit;
    /// - [`Error::Bencode`]: invalid bencode (with byte offset), a missing
    ///   key or a wrong type (with key path, for example
    ///   `info.files[3].length`);
    /// - [`Error::NotADictionary`], [`Error::UnsupportedMetaVersion`],
    ///   [`Error::InvalidPieceLength`], [`Error::Invalid`],
    ///   [`Error::PiecesNotMultipleOf20`], [`Error::PieceCountMismatch`],
    ///   [`Error::TooManyPieces`], [`Error::TooManyFiles`],
    ///   [`Error::TooManyDuplicateNames`], [`Error::NoFiles`],
    ///   [`Error::InvalidTotalSize`], [`Error::MissingPiecesRoot`],
    ///   [`Error::PadFileInV2`], [`Error::InconsistentHybrid`],
    ///   [`Error::NonCanonicalV2`], [`Error::InvalidPieceLayer`].
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Torrent, Error> {
        Self::from_bytes_with(bytes, &ParseOptions::new())
    }

    /// [`Torrent::from_bytes`] with options.
    ///
    /// # Errors
    /// As [`Torrent::from_bytes`].
    pub fn from_bytes_with(bytes: impl Into<Bytes>, opts: &ParseOptions) -> Result<Torrent, Error> {
        let raw: Bytes = bytes.into();
        if raw.len() > opts.max_torrent_size {
            return Err(Error::TooLarge {
                size: raw.len(),
                limit: opts.max_torrent_size,
            });
        }
        let doc = decode_with(&raw, &opts.decode_options())?;
        let root_value = doc.root();
        if root_value.as_dict().is_none() {
            return Err(Error::NotADictionary {
                path: "<root>",
                found: root_value.type_name(),
            });
        }
        let root = Entry::root(root_value);
        let info = parse_info(&raw, &root.key("info")?, opts)?;

        let announce = root.opt_key("announce")?.and_then(|a| clean_url(a.value()));
        let mut seen = Seen::default();
        let mut trackers = Vec::new();
        if let Some(list) = root.opt_key("announce-list")? {
            if let Some(tiers) = list.value().as_list() {
                for tier in tiers.iter() {
                    let urls: Vec<String> = match tier.kind() {
                        Kind::List(l) => l.iter().filter_map(clean_url).collect(),
                        Kind::Bytes(_) => clean_url(tier).into_iter().collect(),
                        _ => Vec::new(),
                    };
                    let urls: Vec<String> =
                        urls.into_iter().filter(|u| seen.first_time(u)).collect();
                    if !urls.is_empty() {
                        trackers.push(urls);
                    }
                }
            }
        }
        if trackers.is_empty() {
            if let Some(a) = &announce {
                trackers.push(vec![a.clone()]);
            }
        }

        let web_seeds = url_list(root.opt_key("url-list")?);
        let http_seeds = url_list(root.opt_key("httpseeds")?);
        let nodes = match root.opt_key("nodes")?.and_then(|n| n.value().as_list()) {
            None => Vec::new(),
            Some(l) => l.iter().filter_map(dht_node).collect(),
        };
        let text = |key: &str, utf8_key: &str| -> Option<String> {
            let d = root_value.as_dict()?;
            let b = d.get(utf8_key).and_then(|v| v.as_bytes());
            let b = b.or_else(|| d.get(key).and_then(|v| v.as_bytes()))?;
            Some(String::from_utf8_lossy(b).into_owned())
        };
        let comment = text("comment", "comment.utf-8");
        let created_by = text("created by", "created by.utf-8");
        let encoding = text("encoding", "encoding.utf-8");
        let creation_date = root
            .opt_key("creation date")?
            .and_then(|d| d.value().as_int());

        let mut piece_layers = Vec::new();
        if info.has_v2() {
            if let Some(layers) = root.opt_key("piece layers")? {
                for (k, v) in layers.dict()?.iter() {
                    let value = v.as_bytes().map(|b| raw.slice_ref(b));
                    piece_layers.push((raw.slice_ref(k), value));
                }
            }
        }

        drop(doc);
        let t = Torrent {
            raw,
            info,
            max_depth: opts.max_depth,
            announce,
            trackers,
            web_seeds,
            http_seeds,
            nodes,
            comment,
            created_by,
            creation_date,
            encoding,
            piece_layers,
        };
        if opts.verify_piece_layers {
            t.verify_piece_layers()?;
        }
        Ok(t)
    }

    /// The whole input, trailing bytes included.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Decodes [`raw`](Self::raw) again, to reach keys this type does not
    /// interpret (BEP 38 `similar`/`collections`, `publisher`, ...), in
    /// source order.
    ///
    /// # Errors
    /// None in practice: the bytes decoded once already with the same
    /// limits.
    pub fn decode(&self) -> Result<Document<'_>, Error> {
        let opts = DecodeOptions::new()
            .allow_trailing(true)
            .max_depth(self.max_depth);
        Ok(decode_with(&self.raw, &opts)?)
    }

    /// The `info` dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Consumes the torrent, keeping the `info` dictionary.
    pub fn into_info(self) -> Info {
        self.info
    }

    /// Shortcut for [`Info::info_hash_v1`].
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.info.info_hash_v1()
    }

    /// Shortcut for [`Info::info_hash_v2`].
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.info.info_hash_v2()
    }

    /// Shortcut for [`Info::info_hash`]: the 20-byte hash used on the wire.
    pub fn info_hash(&self) -> InfoHash {
        self.info.info_hash()
    }

    /// Shortcut for [`Info::name`].
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// `announce`, whitespace trimmed; `None` if absent, empty or not
    /// UTF-8.
    pub fn announce(&self) -> Option<&str> {
        self.announce.as_deref()
    }

    /// Tracker tiers to use (BEP 12): the `announce-list` tiers, else a
    /// single tier holding `announce`. URLs are trimmed; empty, non-UTF-8
    /// and repeated URLs are dropped, then empty tiers. A tier given as a
    /// bare string counts as a tier of one. Shuffling within tiers is the
    /// caller's job.
    pub fn trackers(&self) -> &[Vec<String>] {
        &self.trackers
    }

    /// BEP 19 web seeds (`url-list`, a string or a list), trimmed, without
    /// empty and repeated entries or entries of other types. URLs are as
    /// written: a multi-file torrent's URL names the folder holding
    /// [`Info::name`].
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }

    /// BEP 17 HTTP seeds (`httpseeds`), cleaned as [`web_seeds`](Self::web_seeds).
    pub fn http_seeds(&self) -> &[String] {
        &self.http_seeds
    }

    /// DHT bootstrap nodes (`nodes`, BEP 5): the `[host, port]` pairs;
    /// entries of other shapes are ignored.
    pub fn nodes(&self) -> &[DhtNode] {
        &self.nodes
    }

    /// `comment` (`comment.utf-8` preferred), lossy UTF-8.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// `created by`, lossy UTF-8.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// `creation date`, seconds since the Unix epoch.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }

    /// `encoding` (legacy; names are read as bytes whatever it says).
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_deref()
    }

    /// The BEP 52 piece layer of file `file` (index in
    /// [`Info::files`]): concatenated 32-byte SHA-256 hashes, one per
    /// piece of the file. `None` for files of one piece or less (their
    /// `pieces root` is the piece hash), for v1 torrents and when the torrent
    /// omits it (allowed; peers can send it, BEP 52 `hashes`).
    pub fn piece_layer(&self, file: usize) -> Option<&[u8]> {
        let root = self.info.files().get(file)?.pieces_root()?;
        self.piece_layers
            .iter()
            .find(|(k, v)| k.as_ref() == root && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }

    /// The BEP 52 hash of piece `p`: the SHA-256 merkle root of its 16 KiB
    /// blocks, 32 bytes. For a file of one piece or less it is the file's
    /// `pieces root`; otherwise it comes from the file's piece layer.
    /// `None` for v1 torrents, pieces of pad files, and files whose layer is
    /// missing.
    pub fn piece_hash_v2(&self, p: PieceIndex) -> Option<[u8; 32]> {
        let info = &self.info;
        let span = info.file_spans(info.geometry().piece_offset(p), 1).next()?;
        let file = &info.files()[span.file];
        let root = file.pieces_root()?;
        let pl = u64::from(info.piece_length());
        if file.length() <= pl {
            return Some(*root);
        }
        let layer = self.piece_layer(span.file)?;
        let i = usize::try_from(span.offset / pl).ok()?;
        layer.get(i * 32..i * 32 + 32)?.try_into().ok()
    }

    /// The BEP 52 validation of `piece layers`, run by
    /// [`from_bytes`](Self::from_bytes) unless
    /// [`ParseOptions::verify_piece_layers`] is off.
    ///
    /// Every key must be 32 bytes and equal the `pieces root` of a file;
    /// every value must be a string of 32 × ceil(file length / piece length)
    /// bytes whose merkle root (padded as BEP 52 says) is that `pieces
    /// root`. A file of more than one piece may lack a layer (libtorrent
    /// loads those too; the layer can come from peers).
    ///
    /// # Errors
    /// [`Error::InvalidPieceLayer`] naming the file where one matches.
    pub fn verify_piece_layers(&self) -> Result<(), Error> {
        let info = &self.info;
        let pl = u64::from(info.piece_length());
        let mut by_root: HashMap<&[u8; 32], (usize, u64)> = HashMap::new();
        for (i, f) in info.files().iter().enumerate() {
            if let Some(r) = f.pieces_root() {
                by_root.entry(r).or_insert((i, f.length()));
            }
        }
        for (key, value) in &self.piece_layers {
            let fail = |file, reason| Error::InvalidPieceLayer { file, reason };
            let Ok(key) = <&[u8; 32]>::try_from(key.as_ref()) else {
                return Err(fail(None, "key is not 32 bytes"));
            };
            let Some(&(file, length)) = by_root.get(key) else {
                return Err(fail(None, "key matches no file's pieces root"));
            };
            let Some(layer) = value else {
                return Err(fail(Some(file), "value is not a string"));
            };
            if layer.len() % 32 != 0 {
                return Err(fail(Some(file), "length is not a multiple of 32"));
            }
            let want = length.div_ceil(pl);
            if layer.len() as u64 != want * 32 {
                return Err(fail(Some(file), "wrong number of hashes for the file"));
            }
            let root = if want == 1 {
                let mut h = [0u8; 32];
                h.copy_from_slice(layer);
                h
            } else {
                root_from_layer(layer, info.piece_length())
            };
            if &root != key {
                return Err(fail(Some(file), "hashes do not match the pieces root"));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Torrent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Torrent")
            .field("info", &self.info)
            .field("trackers", &self.trackers)
            .field("web_seeds", &self.web_seeds)
            .finish_non_exhaustive()
    }
}

fn clean_url(v: Value<'_, '_>) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn url_list(e: Option<Entry<'_, '_, '_>>) -> Vec<String> {
    let Some(e) = e else { return Vec::new() };
    let urls: Vec<String> = match e.kind() {
        Kind::Bytes(_) => clean_url(e.value()).into_iter().collect(),
        Kind::List(l) => l.iter().filter_map(clean_url).collect(),
        _ => Vec::new(),
    };
    let mut seen = Seen::default();
    urls.into_iter().filter(|u| seen.first_time(u)).collect()
}

/// Which URLs were seen already: a short list scanned in place (the usual
/// handful of trackers), a hash set past [`Seen::SCAN_UP_TO`] entries so
/// that a hostile list stays linear.
#[derive(Default)]
struct Seen {
    list: Vec<String>,
    set: HashSet<String>,
}

impl Seen {
    const SCAN_UP_TO: usize = 16;

    /// Records `url`; whether it is new.
    fn first_time(&mut self, url: &str) -> bool {
        if self.set.is_empty() {
            if self.list.iter().any(|u| u == url) {
                return false;
            }
            if self.list.len() < Self::SCAN_UP_TO {
                self.list.push(url.to_owned());
                return true;
            }
            self.set.extend(self.list.drain(..));
        }
        self.set.insert(url.to_owned())
    }
}

fn dht_node(v: Value<'_, '_>) -> Option<DhtNode> {
    let l = v.as_list()?;
    let mut it = l.iter();
    let host = it.next()?.as_str()?.trim();
    let port = u16::try_from(it.next()?.as_int()?).ok()?;
    (!host.is_empty()).then(|| DhtNode {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_switches_to_a_set_and_keeps_answers() {
        let mut seen = Seen::default();
        let urls: Vec<String> = (0..40)
            .map(|i| format!("http://t{}.example", i % 25))
            .collect();
        let kept: Vec<&String> = urls.iter().filter(|u| seen.first_time(u)).collect();
        assert_eq!(kept.len(), 25);
        assert!(!seen.set.is_empty());
        assert!(!seen.first_time("http://t3.example"));
        assert!(seen.first_time("http://new.example"));
    }

    #[test]
    fn hybrid_v2_hash_on_first_use() {
        let created = crate::TorrentBuilder::new(crate::TorrentVersion::Hybrid)
            .build(
                &crate::Content::single_file("a.bin", 40_000).unwrap(),
                |_| Ok(&[7u8; 40_000][..]),
                |_, _| {},
            )
            .unwrap();
        let t = created.to_torrent().unwrap();
        assert!(t.info().hash_v2.get().is_none());
        use sha2::Digest;
        let want = InfoHashV2(sha2::Sha256::digest(t.info().raw()).into());
        assert_eq!(t.info_hash_v2(), Some(want));
        assert_eq!(t.info().hash_v2.get(), Some(&want));
        assert_eq!(created.info_hash_v2(), Some(want));
    }
}
