//! The builder of a new torrent and what it makes: options, the `info`
//! dictionary, the `.torrent` bytes, info hashes and magnet link.

use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use seedbed_bencode::{Encode, OwnedValue};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::content::{io_error, join, Content};
#[cfg(unix)]
use super::disk;
use super::hashing::{hash_content, Hashes};
use super::plan::{Plan, V1Entry};
use crate::error::Error;
use crate::id::{InfoHash, InfoHashV2};
use crate::magnet::Magnet;
use crate::torrent::Torrent;

/// Which kind of torrent to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TorrentVersion {
    /// BEP 3 only: `pieces` over the concatenated files.
    V1,
    /// BEP 52 only: `file tree`, `piece layers`.
    V2,
    /// Both, with BEP 47 pad files so that v1 pieces line up with files
    /// (BEP 52 "Upgrade path"). The default, as in libtorrent.
    #[default]
    Hybrid,
}

/// The smallest piece length accepted, 16 KiB (BEP 52).
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// The largest piece length accepted, 256 MiB (mktorrent's limit).
pub const MAX_PIECE_LENGTH: u32 = 256 * 1024 * 1024;

/// The automatic piece length for `total` bytes of content, libtorrent's
/// rule: 16 KiB, doubled for each of these sizes the content exceeds:
/// 2.56 MiB × 4ⁱ (i = 0…9, rounded as libtorrent rounds them), so at most
/// 16 MiB. This keeps a torrent at roughly 160 to 1300 pieces below
/// 650 GiB.
pub fn auto_piece_length(total: u64) -> u32 {
    const STEPS: [u64; 10] = [
        2_684_355,
        10_737_418,
        42_949_673,
        171_798_692,
        687_194_767,
        2_748_779_069,
        10_995_116_278,
        43_980_465_111,
        175_921_860_444,
        703_687_441_777,
    ];
    let doublings = STEPS.iter().filter(|&&s| total > s).count();
    MIN_PIECE_LENGTH << doublings
}

/// Options for a new torrent; [`build`](TorrentBuilder::build) or
/// [`build_from_path`](TorrentBuilder::build_from_path) hash the content
/// and write the `.torrent`.
#[derive(Clone, Debug, Default)]
pub struct TorrentBuilder {
    version: TorrentVersion,
    piece_length: Option<u32>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    private: bool,
    source: Option<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    threads: Option<usize>,
}

impl TorrentBuilder {
    /// A builder for this kind of torrent, everything else unset.
    pub fn new(version: TorrentVersion) -> Self {
        TorrentBuilder {
            version,
            ..Default::default()
        }
    }

    /// The piece length in bytes: a power of two from [`MIN_PIECE_LENGTH`]
    /// to [`MAX_PIECE_LENGTH`]. Unset: [`auto_piece_length`].
    #[must_use]
    pub fn piece_length(mut self, bytes: u32) -> Self {
        self.piece_length = Some(bytes);
        self
    }

    /// Adds a tracker as a new BEP 12 tier of its own.
    #[must_use]
    pub fn tracker(mut self, url: impl Into<String>) -> Self {
        self.trackers.push(vec![url.into()]);
        self
    }

    /// Adds a BEP 12 tier of trackers (ignored if empty).
    #[must_use]
    pub fn tracker_tier<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        let tier: Vec<String> = urls.into_iter().map(Into::into).collect();
        if !tier.is_empty() {
            self.trackers.push(tier);
        }
        self
    }

    /// Adds a web seed (BEP 19 `url-list`).
    #[must_use]
    pub fn web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets the BEP 27 private flag (`private` = 1 in `info`).
    #[must_use]
    pub fn private(mut self, yes: bool) -> Self {
        self.private = yes;
        self
    }

    /// Sets `source` in `info` (as mktorrent's `-s`; changes the info hash).
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the `comment`.
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }

    /// Sets `created by` (default `seedbed/<version>`).
    #[must_use]
    pub fn created_by(mut self, text: impl Into<String>) -> Self {
        self.created_by = Some(text.into());
        self
    }

    /// Sets `creation date`, seconds since the Unix epoch. Left unset, the
    /// key is not written and the output is deterministic.
    #[must_use]
    pub fn creation_date(mut self, unix_seconds: i64) -> Self {
        self.creation_date = Some(unix_seconds);
        self
    }

    /// Hashing threads (default: the available parallelism).
    #[must_use]
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Scans `path` ([`Content::scan`]) and hashes the files from disk.
    /// `progress(bytes_hashed, total_bytes)` is called on this thread as
    /// hashing advances.
    ///
    /// # Errors
    /// See [`Content::scan`] and [`TorrentBuilder::build`].
    pub fn build_from_path(
        &self,
        path: impl AsRef<Path>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        let content = Content::scan(path)?;
        let disk = content.disk.clone().unwrap_or_default();
        #[cfg(unix)]
        {
            let (plan, threads) = self.plan(&content)?;
            let hashes = disk::hash_files(&plan, &content, &disk, threads, progress)?;
            Ok(self.assemble(&content, &plan, hashes))
        }
        #[cfg(not(unix))]
        self.build_inner(
            &content,
            |i| {
                let p = &disk[i];
                std::fs::File::open(p).map_err(|e| io_error(p, &e))
            },
            progress,
        )
    }

    /// Hashes `content`, reading file `i` (index into
    /// [`Content::files`]) from `open(i)`, and writes the torrent.
    /// `progress(bytes_hashed, total_bytes)` is called on this thread.
    ///
    /// # Errors
    /// [`Error::InvalidPieceLength`] for a bad piece length;
    /// [`Error::Io`] when opening or reading fails;
    /// [`Error::InvalidCreateInput`] when a reader gives fewer or more
    /// bytes than the file's length.
    pub fn build<R: Read>(
        &self,
        content: &Content,
        mut open: impl FnMut(usize) -> io::Result<R>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        self.build_inner(
            content,
            |i| open(i).map_err(|e| io_error(Path::new(&join(&content.files[i].path)), &e)),
            progress,
        )
    }

    fn build_inner<R: Read>(
        &self,
        content: &Content,
        open: impl FnMut(usize) -> Result<R, Error>,
        progress: impl FnMut(u64, u64),
    ) -> Result<CreatedTorrent, Error> {
        let (plan, threads) = self.plan(content)?;
        let hashes = hash_content(&plan, content, threads, open, progress)?;
        Ok(self.assemble(content, &plan, hashes))
    }

    /// The piece plan and the number of hashing threads.
    pub(super) fn plan(&self, content: &Content) -> Result<(Plan, usize), Error> {
        let piece_length = match self.piece_length {
            Some(pl) => {
                if !pl.is_power_of_two() || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&pl) {
                    return Err(Error::InvalidPieceLength {
                        piece_length: i64::from(pl),
                        reason: "must be a power of two from 16 KiB to 256 MiB",
                    });
                }
                pl
            }
            None => auto_piece_length(content.total_length()),
        };
        let plan = Plan::new(content, self.version, piece_length);
        let threads = self
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        Ok((plan, threads))
    }

    fn assemble(&self, content: &Content, plan: &Plan, hashes: Hashes) -> CreatedTorrent {
        let version = plan.version;
        let mut info = OwnedValue::dict();
        info.insert("name", content.name.clone());
        info.insert("piece length", i64::from(plan.piece_length));
        if self.private {
            info.insert("private", 1);
        }
        if let Some(s) = &self.source {
            info.insert("source", s.clone());
        }
        if version != TorrentVersion::V2 {
            info.insert("pieces", hashes.v1.concat());
            if content.single {
                let f = &content.files[0];
                info.insert("length", f.length as i64);
                if f.executable && version == TorrentVersion::Hybrid {
                    // libtorrent: a single file's attributes sit in `info`.
                    info.insert("attr", "x");
                }
            } else {
                let list = plan
                    .v1_entries
                    .iter()
                    .map(|e| match *e {
                        V1Entry::File(i) => {
                            let f = &content.files[i];
                            let mut d = OwnedValue::dict();
                            d.insert("length", f.length as i64);
                            d.insert("path", path_list(&f.path));
                            if f.executable && version == TorrentVersion::Hybrid {
                                d.insert("attr", "x");
                            }
                            d
                        }
                        V1Entry::Pad(len) => {
                            let mut d = OwnedValue::dict();
                            d.insert("attr", "p");
                            d.insert("length", len as i64);
                            d.insert(
                                "path",
                                path_list(&[Bytes::from_static(b".pad"), len.to_string().into()]),
                            );
                            d
                        }
                    })
                    .collect();
                info.insert("files", OwnedValue::List(list));
            }
        }
        let mut piece_layers = OwnedValue::dict();
        if version != TorrentVersion::V1 {
            info.insert("meta version", 2);
            let mut tree = OwnedValue::dict();
            for (i, f) in content.files.iter().enumerate() {
                let file_hashes = &hashes.v2_files[i];
                let mut leaf = OwnedValue::dict();
                leaf.insert("length", f.length as i64);
                if let Some(root) = file_hashes.root {
                    leaf.insert("pieces root", root.to_vec());
                    if !file_hashes.piece_layer.is_empty() {
                        piece_layers.insert(root.to_vec(), file_hashes.piece_layer.concat());
                    }
                }
                if f.executable {
                    leaf.insert("attr", "x");
                }
                insert_tree(&mut tree, &f.path, leaf);
            }
            info.insert("file tree", tree);
        }

        let mut root = OwnedValue::dict();
        let mut all_trackers = self.trackers.iter().flatten();
        if let Some(first) = all_trackers.next() {
            root.insert("announce", first.clone());
            if all_trackers.next().is_some() {
                let tiers = self
                    .trackers
                    .iter()
                    .map(|t| OwnedValue::List(t.iter().map(|u| u.clone().into()).collect()))
                    .collect();
                root.insert("announce-list", OwnedValue::List(tiers));
            }
        }
        if let Some(c) = &self.comment {
            root.insert("comment", c.clone());
        }
        root.insert(
            "created by",
            self.created_by
                .clone()
                .unwrap_or_else(|| concat!("seedbed/", env!("CARGO_PKG_VERSION")).to_owned()),
        );
        if let Some(d) = self.creation_date {
            root.insert("creation date", d);
        }
        let info_bytes = info.to_bencode();
        root.insert("info", info);
        if version != TorrentVersion::V1 {
            root.insert("piece layers", piece_layers);
        }
        match self.web_seeds.as_slice() {
            [] => {}
            [one] => {
                root.insert("url-list", one.clone());
            }
            many => {
                root.insert(
                    "url-list",
                    OwnedValue::List(many.iter().map(|u| u.clone().into()).collect()),
                );
            }
        }
        let bytes = root.to_bencode();
        let start = info_offset(&root);
        assert_eq!(
            bytes.get(start..start + info_bytes.len()),
            Some(&info_bytes[..]),
            "info offset"
        );
        let v1 =
            (version != TorrentVersion::V2).then(|| InfoHash(Sha1::digest(&info_bytes).into()));
        let v2 =
            (version != TorrentVersion::V1).then(|| InfoHashV2(Sha256::digest(&info_bytes).into()));
        CreatedTorrent {
            info: start..start + info_bytes.len(),
            bytes,
            v1,
            v2,
            name: String::from_utf8_lossy(&content.name).into_owned(),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            web_seeds: self.web_seeds.clone(),
        }
    }
}

/// Where the encoded `info` value starts in the canonical encoding of
/// `root`: after `d`, every entry whose key sorts before `info`, and the
/// key `4:info` itself.
fn info_offset(root: &OwnedValue) -> usize {
    let OwnedValue::Dict(map) = root else {
        unreachable!("the torrent root is a dict")
    };
    let before: usize = map
        .range(..Bytes::from_static(b"info"))
        .map(|(k, v)| OwnedValue::Bytes(k.clone()).encoded_len() + v.encoded_len())
        .sum();
    1 + before + b"4:info".len()
}

fn path_list(path: &[Bytes]) -> OwnedValue {
    OwnedValue::List(path.iter().map(|c| OwnedValue::Bytes(c.clone())).collect())
}

fn insert_tree(tree: &mut OwnedValue, path: &[Bytes], leaf: OwnedValue) {
    let OwnedValue::Dict(map) = tree else {
        unreachable!("file tree nodes are dicts")
    };
    let node = map.entry(path[0].clone()).or_insert_with(OwnedValue::dict);
    if path.len() == 1 {
        node.insert("", leaf);
    } else {
        insert_tree(node, &path[1..], leaf);
    }
}

/// A created torrent: the `.torrent` bytes, where its `info` is, and its
/// info hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTorrent {
    bytes: Vec<u8>,
    info: Range<usize>,
    v1: Option<InfoHash>,
    v2: Option<InfoHashV2>,
    name: String,
    trackers: Vec<String>,
    web_seeds: Vec<String>,
}

impl CreatedTorrent {
    /// The whole `.torrent` file (canonical bencode).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole `.torrent` file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bencoded `info` dictionary (what the info hashes are of, and
    /// what ut_metadata serves).
    pub fn info_bytes(&self) -> &[u8] {
        &self.bytes[self.info.clone()]
    }

    /// SHA-1 of the info dictionary, for v1 and hybrid torrents.
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.v1
    }

    /// SHA-256 of the info dictionary, for v2 and hybrid torrents.
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.v2
    }

    /// Parses the created bytes with the reader, [`Torrent::from_bytes`].
    ///
    /// # Errors
    /// None expected: the reader accepts what the creator writes.
    pub fn to_torrent(&self) -> Result<Torrent, Error> {
        Torrent::from_bytes(self.bytes.clone())
    }

    /// A magnet link with the info hashes, name, trackers and web seeds.
    pub fn magnet(&self) -> Magnet {
        let mut m = Magnet::from_hashes(self.v1, self.v2)
            .expect("a created torrent has an info hash")
            .with_name(self.name.clone())
            .with_trackers(self.trackers.iter().cloned());
        for w in &self.web_seeds {
            m = m.with_web_seed(w.clone());
        }
        m
    }
}
