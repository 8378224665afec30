//! Magnet links: BEP 9 (`xt`, `dn`, `tr`, `x.pe`), BEP 52/BEP 9 v2
//! (`urn:btmh:`), BEP 19 (`ws`) and BEP 53 (`so`, select-only).
//!
//! [`Magnet`] parses leniently the way libtorrent does (parameter names are
//! case-insensitive, unknown parameters are kept, unusable tracker URLs and
//! peer addresses are dropped) and formats canonically, byte for byte like
//! libtorrent's `make_magnet_uri`: `xt` (btih, then btmh), `dn`, `xl`, `tr`,
//! `ws`, `x.pe`, `dht`, `so`, then unknown parameters in input order, values
//! percent-encoded with lower-case hex.
//!
//! ```
//! use seedbed_metainfo::Magnet;
//!
//! let m: Magnet = "magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\
//!                  &dn=Ubuntu+11.04&tr=udp%3A%2F%2Ftracker.example%3A80&so=0,2-4"
//!     .parse()?;
//! assert_eq!(m.name(), Some("Ubuntu 11.04"));
//! assert_eq!(m.trackers(), ["udp://tracker.example:80"]);
//! assert!(m.selects_file(3) && !m.selects_file(1));
//! assert_eq!(
//!     m.to_string(),
//!     "magnet:?xt=urn:btih:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\
//!      &dn=Ubuntu%2011.04&tr=udp%3a%2f%2ftracker.example%3a80&so=0,2-4"
//! );
//! # Ok::<(), seedbed_metainfo::Error>(())
//! ```

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::error::Error;
use crate::id::{InfoHash, InfoHashV2};
use crate::torrent::Torrent;

/// The largest file index accepted in a BEP 53 `so` parameter; larger
/// indices are ignored (libtorrent's limit, against huge allocations by
/// whoever turns the selection into a priority list).
pub const MAX_SELECT_INDEX: u32 = 10_000;

/// Why a magnet link was rejected; carried by [`Error::InvalidMagnet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MagnetErrorKind {
    /// The text does not start with `magnet:?`.
    NotMagnet,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// `urn:btih:` not followed by 40 hex or 32 base32 characters, or
    /// `urn:btmh:` not followed by `1220` and 64 hex characters.
    InvalidInfoHash,
    /// No `xt=urn:btih:` or `xt=urn:btmh:` parameter.
    MissingInfoHash,
}

impl fmt::Display for MagnetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MagnetErrorKind::NotMagnet => "does not start with \"magnet:?\"",
            MagnetErrorKind::BadEscape => "invalid percent escape",
            MagnetErrorKind::InvalidInfoHash => "invalid info hash",
            MagnetErrorKind::MissingInfoHash => "no urn:btih or urn:btmh exact topic",
        })
    }
}

fn magnet_error(kind: MagnetErrorKind, param: &str) -> Error {
    Error::InvalidMagnet {
        kind,
        param: param.to_owned(),
    }
}

/// A peer or DHT node address from `x.pe` or `dht`: an IP socket address
/// (IPv6 written in brackets) or a host name with a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPort {
    /// `1.2.3.4:6881` or `[::1]:6881`.
    Ip(SocketAddr),
    /// `router.example.org:6881`. The host is a DNS name: dot-separated
    /// labels of ASCII letters, digits, `-` and `_`.
    Name {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl From<SocketAddr> for HostPort {
    fn from(a: SocketAddr) -> Self {
        HostPort::Ip(a)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort::Ip(a) => write!(f, "{a}"),
            HostPort::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl FromStr for HostPort {
    type Err = Error;

    /// Parses `host:port`, `ipv4:port` or `[ipv6]:port`.
    ///
    /// # Errors
    /// [`Error::InvalidHostPort`] when the text is none of those forms.
    fn from_str(s: &str) -> Result<Self, Error> {
        parse_host_port(s).ok_or_else(|| Error::InvalidHostPort {
            input: s.to_owned(),
        })
    }
}

fn parse_host_port(s: &str) -> Option<HostPort> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(HostPort::Ip(a));
    }
    let (host, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid_name || host.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(HostPort::Name {
        host: host.to_owned(),
        port,
    })
}

/// A magnet link (BEP 9) with its BEP 53 file selection.
///
/// Invariant: it has a v1 info hash (`xt=urn:btih:`), a v2 info hash
/// (`xt=urn:btmh:1220…`) or both (a hybrid torrent). All text values are
/// percent-decoded (`+` is a space); bytes that are not UTF-8 are replaced
/// with U+FFFD. Parsing then formatting then parsing gives the same value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    v1: Option<InfoHash>,
    v2: Option<InfoHashV2>,
    name: Option<String>,
    exact_length: Option<u64>,
    trackers: Vec<String>,
    web_seeds: Vec<String>,
    peers: Vec<HostPort>,
    dht_nodes: Vec<HostPort>,
    select_only: Vec<RangeInclusive<u32>>,
    extra: Vec<(String, String)>,
}

impl Magnet {
    fn with_hashes(v1: Option<InfoHash>, v2: Option<InfoHashV2>) -> Self {
        Magnet {
            v1,
            v2,
            name: None,
            exact_length: None,
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            peers: Vec::new(),
            dht_nodes: Vec::new(),
            select_only: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// A link to a v1 torrent (`xt=urn:btih:`).
    pub fn new_v1(info_hash: InfoHash) -> Self {
        Self::with_hashes(Some(info_hash), None)
    }

    /// A link to a v2-only torrent (`xt=urn:btmh:1220…`).
    pub fn new_v2(info_hash: InfoHashV2) -> Self {
        Self::with_hashes(None, Some(info_hash))
    }

    /// A link to a hybrid torrent: both exact topics.
    pub fn new_hybrid(v1: InfoHash, v2: InfoHashV2) -> Self {
        Self::with_hashes(Some(v1), Some(v2))
    }

    /// From whichever hashes a torrent has.
    ///
    /// # Errors
    /// [`Error::InvalidMagnet`] with [`MagnetErrorKind::MissingInfoHash`]
    /// when both are `None`.
    pub fn from_hashes(v1: Option<InfoHash>, v2: Option<InfoHashV2>) -> Result<Self, Error> {
        if v1.is_none() && v2.is_none() {
            return Err(magnet_error(MagnetErrorKind::MissingInfoHash, "xt"));
        }
        Ok(Self::with_hashes(v1, v2))
    }

    /// Sets the display name (`dn`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the exact length in bytes (`xl`).
    #[must_use]
    pub fn with_exact_length(mut self, bytes: u64) -> Self {
        self.exact_length = Some(bytes);
        self
    }

    /// Appends a tracker URL (`tr`) unless it is already there. Each tracker
    /// is its own BEP 12 tier, in order. Parsing keeps only `http://`,
    /// `https://` and `udp://` URLs, so others do not survive a round trip.
    #[must_use]
    pub fn with_tracker(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        if !self.trackers.contains(&url) {
            self.trackers.push(url);
        }
        self
    }

    /// Appends several tracker URLs, see [`Magnet::with_tracker`].
    #[must_use]
    pub fn with_trackers<S: Into<String>>(self, urls: impl IntoIterator<Item = S>) -> Self {
        urls.into_iter().fold(self, Magnet::with_tracker)
    }

    /// Appends a web seed URL (`ws`, BEP 19).
    #[must_use]
    pub fn with_web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Appends a peer address (`x.pe`).
    #[must_use]
    pub fn with_peer(mut self, peer: impl Into<HostPort>) -> Self {
        self.peers.push(peer.into());
        self
    }

    /// Appends a DHT bootstrap node (`dht`).
    #[must_use]
    pub fn with_dht_node(mut self, node: impl Into<HostPort>) -> Self {
        self.dht_nodes.push(node.into());
        self
    }

    /// Selects only these file indices (BEP 53 `so`); an empty iterator
    /// clears the selection (every file wanted). Indices above
    /// [`MAX_SELECT_INDEX`] are ignored.
    #[must_use]
    pub fn with_select_only(mut self, indices: impl IntoIterator<Item = u32>) -> Self {
        self.select_only = normalize(
            indices
                .into_iter()
                .filter(|&i| i <= MAX_SELECT_INDEX)
                .map(|i| i..=i)
                .collect(),
        );
        self
    }

    /// Sets the selection from per-file wanted flags, as libtorrent does
    /// from file priorities: no `so` when every file is wanted, otherwise
    /// the wanted indices.
    #[must_use]
    pub fn with_file_selection(self, wanted: &[bool]) -> Self {
        if wanted.iter().all(|&w| w) {
            return self.with_select_only([]);
        }
        let wanted = wanted
            .iter()
            .enumerate()
            .filter(|(_, &w)| w)
            .filter_map(|(i, _)| u32::try_from(i).ok());
        self.with_select_only(wanted)
    }

    /// Appends an unknown parameter, written after the known ones. Known
    /// names (`xt`, `dn`, `tr`, …) belong in their own setters: when
    /// parsed back they are interpreted, not kept here.
    #[must_use]
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// The v1 info hash (`urn:btih:`), if any.
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.v1
    }

    /// The v2 info hash (`urn:btmh:`), if any.
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.v2
    }

    /// The 20-byte hash used at trackers and in handshakes: the v1 hash if
    /// present, else the truncated v2 hash (BEP 52).
    pub fn info_hash(&self) -> InfoHash {
        match (self.v1, self.v2) {
            (Some(h), _) => h,
            (None, Some(h)) => h.truncated(),
            (None, None) => unreachable!("a Magnet always has an info hash"),
        }
    }

    /// The display name (`dn`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The exact length in bytes (`xl`).
    pub fn exact_length(&self) -> Option<u64> {
        self.exact_length
    }

    /// Tracker URLs (`tr` and `tr.N`), in order, without duplicates; only
    /// `http://`, `https://` and `udp://` URLs are kept when parsing.
    /// Each is its own BEP 12 tier.
    pub fn trackers(&self) -> &[String] {
        &self.trackers
    }

    /// Web seed URLs (`ws`), in order.
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }

    /// Peer addresses (`x.pe`); unparsable ones are dropped when parsing.
    pub fn peers(&self) -> &[HostPort] {
        &self.peers
    }

    /// DHT nodes (`dht`); unparsable ones are dropped when parsing.
    pub fn dht_nodes(&self) -> &[HostPort] {
        &self.dht_nodes
    }

    /// The BEP 53 selection as sorted, disjoint, non-adjacent inclusive
    /// ranges of file indices; empty when every file is wanted.
    pub fn select_only(&self) -> &[RangeInclusive<u32>] {
        &self.select_only
    }

    /// Whether file `index` is wanted: true for every file when there is no
    /// selection.
    pub fn selects_file(&self, index: u32) -> bool {
        self.select_only.is_empty() || self.select_only.iter().any(|r| r.contains(&index))
    }

    /// Unknown parameters `(name, value)` in input order, both
    /// percent-decoded, names as written (not lower-cased).
    pub fn extra_params(&self) -> &[(String, String)] {
        &self.extra
    }

    /// Parses a magnet link given as bytes (it may hold raw non-ASCII
    /// bytes, which are kept as they are and decoded like escapes).
    ///
    /// # Errors
    /// [`Error::InvalidMagnet`]: not `magnet:?…`, a bad `%` escape in any
    /// name or value, an exact topic `urn:btih:`/`urn:btmh:` with a bad
    /// hash, or no such exact topic at all. Everything else that cannot be
    /// used (bad tracker URL, peer address, `so` item) is dropped.
    pub fn parse_bytes(input: &[u8]) -> Result<Self, Error> {
        let query = strip_prefix_ignore_case(input, b"magnet:?")
            .ok_or_else(|| magnet_error(MagnetErrorKind::NotMagnet, ""))?;
        let mut m = Self::with_hashes(None, None);
        let mut select = Vec::new();
        for part in query.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (raw_key, raw_value) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let key = percent_decode(raw_key)
                .ok_or_else(|| magnet_error(MagnetErrorKind::BadEscape, ""))?;
            let lower = key.to_ascii_lowercase();
            let value = percent_decode(raw_value)
                .ok_or_else(|| magnet_error(MagnetErrorKind::BadEscape, &key))?;
            match lower.as_str() {
                "xt" => {
                    if !m.parse_exact_topic(&value)? {
                        m.extra.push((key, value));
                    }
                }
                "dn" => {
                    if m.name.is_none() {
                        m.name = Some(value);
                    }
                }
                "xl" => {
                    if let (None, Ok(n)) = (m.exact_length, value.parse::<u64>()) {
                        m.exact_length = Some(n);
                    }
                }
                "ws" => {
                    if !value.is_empty() {
                        m.web_seeds.push(value);
                    }
                }
                "x.pe" => m.peers.extend(parse_host_port(&value)),
                "dht" => m.dht_nodes.extend(parse_host_port(&value)),
                "so" => parse_select_only(&value, &mut select),
                _ if is_tracker_key(&lower) => {
                    if is_tracker_url(&value) && !m.trackers.contains(&value) {
                        m.trackers.push(value);
                    }
                }
                _ => m.extra.push((key, value)),
            }
        }
        if m.v1.is_none() && m.v2.is_none() {
            return Err(magnet_error(MagnetErrorKind::MissingInfoHash, "xt"));
        }
        m.select_only = normalize(select);
        Ok(m)
    }

    /// Handles one `xt` value; returns false if it is not a BitTorrent
    /// topic (or a repeated one), which the caller keeps as unknown.
    fn parse_exact_topic(&mut self, value: &str) -> Result<bool, Error> {
        let bytes = value.as_bytes();
        if let Some(hash) = strip_prefix_ignore_case(bytes, b"urn:btih:") {
            let h = parse_btih(hash)
                .ok_or_else(|| magnet_error(MagnetErrorKind::InvalidInfoHash, "xt"))?;
            if self.v1.is_none() {
                self.v1 = Some(h);
                return Ok(true);
            }
        } else if let Some(hash) = strip_prefix_ignore_case(bytes, b"urn:btmh:") {
            let h = parse_btmh(hash)
                .ok_or_else(|| magnet_error(MagnetErrorKind::InvalidInfoHash, "xt"))?;
            if self.v2.is_none() {
                self.v2 = Some(h);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The link libtorrent's `make_magnet_uri` makes for a loaded torrent: its
/// info hashes, name, trackers (every tier, in order) and web seeds.
impl From<&Torrent> for Magnet {
    fn from(t: &Torrent) -> Self {
        let mut m = Magnet::with_hashes(t.info_hash_v1(), t.info_hash_v2());
        if m.v1.is_none() && m.v2.is_none() {
            // Not reachable for a parsed torrent; keep the invariant anyway.
            m.v1 = Some(t.info_hash());
        }
        let mut m = m
            .with_name(t.name())
            .with_trackers(t.trackers().iter().flatten().cloned());
        for w in t.web_seeds() {
            m = m.with_web_seed(w.clone());
        }
        m
    }
}

impl FromStr for Magnet {
    type Err = Error;

    /// See [`Magnet::parse_bytes`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Magnet::parse_bytes(s.as_bytes())
    }
}

impl fmt::Display for Magnet {
    /// The canonical link, in libtorrent's `make_magnet_uri` layout.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("magnet:?")?;
        let mut sep = "";
        if let Some(h) = self.v1 {
            write!(f, "xt=urn:btih:{h}")?;
            sep = "&";
        }
        if let Some(h) = self.v2 {
            write!(f, "{sep}xt=urn:btmh:1220{h}")?;
        }
        if let Some(name) = &self.name {
            write!(f, "&dn={}", Escaped(name, ESCAPE_VALUE))?;
        }
        if let Some(n) = self.exact_length {
            write!(f, "&xl={n}")?;
        }
        for t in &self.trackers {
            write!(f, "&tr={}", Escaped(t, ESCAPE_VALUE))?;
        }
        for w in &self.web_seeds {
            write!(f, "&ws={}", Escaped(w, ESCAPE_VALUE))?;
        }
        for p in &self.peers {
            write!(f, "&x.pe={}", Escaped(&p.to_string(), ESCAPE_ADDR))?;
        }
        for n in &self.dht_nodes {
            write!(f, "&dht={}", Escaped(&n.to_string(), ESCAPE_ADDR))?;
        }
        if !self.select_only.is_empty() {
            f.write_str("&so=")?;
            for (i, r) in self.select_only.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                if r.start() == r.end() {
                    write!(f, "{}", r.start())?;
                } else {
                    write!(f, "{}-{}", r.start(), r.end())?;
                }
            }
        }
        for (k, v) in &self.extra {
            write!(
                f,
                "&{}={}",
                Escaped(k, ESCAPE_VALUE),
                Escaped(v, ESCAPE_VALUE)
            )?;
        }
        Ok(())
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// `tr` or `tr.<digits>`.
fn is_tracker_key(lower: &str) -> bool {
    match lower.strip_prefix("tr") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// Announce URLs worth keeping: `http`, `https` (BEP 3) and `udp` (BEP 15).
/// WebTorrent's `ws`/`wss` are dropped like in libtorrent builds without
/// WebRTC.
fn is_tracker_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    !rest.is_empty()
        && ["http", "https", "udp"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
}

/// 40 hex digits or 32 base32 characters (RFC 4648, either case).
fn parse_btih(s: &[u8]) -> Option<InfoHash> {
    match s.len() {
        40 => std::str::from_utf8(s).ok()?.parse().ok(),
        32 => {
            let mut out = [0u8; 20];
            let mut acc: u64 = 0;
            let mut bits = 0;
            let mut n = 0;
            for &c in s {
                let v = match c {
                    b'A'..=b'Z' => c - b'A',
                    b'a'..=b'z' => c - b'a',
                    b'2'..=b'7' => c - b'2' + 26,
                    _ => return None,
                };
                acc = acc << 5 | u64::from(v);
                bits += 5;
                if bits >= 8 {
                    bits -= 8;
                    out[n] = (acc >> bits) as u8;
                    n += 1;
                }
            }
            Some(InfoHash(out))
        }
        _ => None,
    }
}

/// A multihash in hex: `12` (sha2-256), `20` (32 bytes), 64 hex digits.
fn parse_btmh(s: &[u8]) -> Option<InfoHashV2> {
    let digest = s.strip_prefix(b"1220")?;
    std::str::from_utf8(digest).ok()?.parse().ok()
}

/// Adds the items of one `so` value to `out`, following libtorrent: a value
/// with anything but digits, `-` and `,` is ignored as a whole; empty items,
/// open or inverted ranges and indices above [`MAX_SELECT_INDEX`] are
/// skipped.
fn parse_select_only(value: &str, out: &mut Vec<RangeInclusive<u32>>) {
    if !value
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b',')
    {
        return;
    }
    let index = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|&i| !s.is_empty() && i <= MAX_SELECT_INDEX)
    };
    for item in value.split(',') {
        let range = match item.split_once('-') {
            Some((a, b)) => match (index(a), index(b)) {
                (Some(a), Some(b)) if a <= b => a..=b,
                _ => continue,
            },
            None => match index(item) {
                Some(i) => i..=i,
                None => continue,
            },
        };
        out.push(range);
    }
}

/// Sorts and merges overlapping or adjacent ranges.
fn normalize(mut ranges: Vec<RangeInclusive<u32>>) -> Vec<RangeInclusive<u32>> {
    ranges.sort_by_key(|r| (*r.start(), *r.end()));
    let mut out: Vec<RangeInclusive<u32>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if *r.start() <= last.end().saturating_add(1) => {
                if r.end() > last.end() {
                    *last = *last.start()..=*r.end();
                }
            }
            _ => out.push(r),
        }
    }
    out
}

/// Strict percent-decoding: `%` must be followed by two hex digits, `+` is a
/// space. Invalid UTF-8 is replaced with U+FFFD. `None` on a bad escape.
fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hi = s.get(i + 1).and_then(|&c| (c as char).to_digit(16))?;
                let lo = s.get(i + 2).and_then(|&c| (c as char).to_digit(16))?;
                out.push((hi << 4 | lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Characters written as they are in a value: ASCII letters and digits plus
/// libtorrent's unreserved set `-_!.~*()`.
const ESCAPE_VALUE: &[u8] = b"-_!.~*()";
/// Peer and node addresses also keep `:`, `[` and `]`.
const ESCAPE_ADDR: &[u8] = b"-_!.~*():[]";

/// Percent-encodes with lower-case hex, leaving alphanumerics and `keep`.
struct Escaped<'a>(&'a str, &'static [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in self.0.as_bytes() {
            if b.is_ascii_alphanumeric() || self.1.contains(&b) {
                f.write_char(char::from(b))?;
            } else {
                f.write_char('%')?;
                f.write_char(char::from(HEX[usize::from(b >> 4)]))?;
                f.write_char(char::from(HEX[usize::from(b & 15)]))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

    fn parse(s: &str) -> Magnet {
        s.parse().unwrap()
    }

    #[test]
    fn base32_decodes() {
        let m = parse("magnet:?xt=urn:btih:MFRGCYTBMJQWEYLCMFRGCYTBMJQWEYLC");
        assert_eq!(m.info_hash_v1().unwrap().0, *b"abababababababababab");
        assert!("magnet:?xt=urn:btih:MFRGCYTBMJQWEYLCMFRGCYTBMJQWEYL1"
            .parse::<Magnet>()
            .is_err());
    }

    #[test]
    fn errors_are_structured() {
        let e = "http://x".parse::<Magnet>().unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidMagnet {
                kind: MagnetErrorKind::NotMagnet,
                ..
            }
        ));
        let e = "magnet:?dn=a&tr=udp%zz".parse::<Magnet>().unwrap_err();
        assert_eq!(
            e,
            Error::InvalidMagnet {
                kind: MagnetErrorKind::BadEscape,
                param: "tr".into()
            }
        );
        assert!(Magnet::from_hashes(None, None).is_err());
    }

    #[test]
    fn select_only_normalizes_and_formats() {
        let m = parse(&format!("magnet:?xt=urn:btih:{H}&so=6-8,0,2,4,3,9"));
        assert_eq!(m.select_only(), [0..=0, 2..=4, 6..=9]);
        assert!(m.to_string().ends_with("&so=0,2-4,6-9"));
        let m = Magnet::new_v1(m.info_hash()).with_file_selection(&[true, true]);
        assert!(m.select_only().is_empty());
        let m = m.with_select_only([MAX_SELECT_INDEX + 1, 1]);
        assert_eq!(m.select_only(), [1..=1]);
    }

    #[test]
    fn escapes_like_libtorrent() {
        // python3-libtorrent 2.0.8 make_magnet_uri for the same fields.
        let m = Magnet::new_v1(InfoHash([b'a'; 20]))
            .with_name("a b+c/\u{e9}~*()!'\"")
            .with_tracker("http://x.org/ann?a=1&b=2")
            .with_web_seed("http://w/ x");
        assert_eq!(
            m.to_string(),
            "magnet:?xt=urn:btih:6161616161616161616161616161616161616161\
             &dn=a%20b%2bc%2f%c3%a9~*()!%27%22&tr=http%3a%2f%2fx.org%2fann%3fa%3d1%26b%3d2\
             &ws=http%3a%2f%2fw%2f%20x"
        );
        assert_eq!(parse(&m.to_string()), m);
    }

    #[test]
    fn from_torrent() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/corpus/anacrolix/testdata/bittorrent-v2-hybrid-test.torrent"
        );
        let Ok(bytes) = std::fs::read(path) else {
            println!("SKIPPED: corpus not found at {path}");
            return;
        };
        let t = Torrent::from_bytes(bytes).unwrap();
        let m = Magnet::from(&t);
        assert_eq!(
            m.info_hash_v1().unwrap().to_hex(),
            "631a31dd0a46257d5078c0dee4e66e26f73e42ac"
        );
        assert_eq!(
            m.info_hash_v2().unwrap().to_hex(),
            "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb"
        );
        assert_eq!(m.name(), Some(t.name()));
        assert_eq!(parse(&m.to_string()), m);
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            "[::1]:45".parse::<HostPort>().unwrap().to_string(),
            "[::1]:45"
        );
        assert_eq!(
            "router.example.org:6881".parse::<HostPort>().unwrap(),
            HostPort::Name {
                host: "router.example.org".into(),
                port: 6881
            }
        );
        for bad in ["<x>:1", "x", "x:", ":1", "x:99999", "1.2.3.4", "a..b:1"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_params_round_trip() {
        let m = parse(&format!(
            "magnet:?xt=urn:btih:{H}&kt=a+b&xs=http%3A%2F%2Fx&flag"
        ));
        assert_eq!(
            m.extra_params(),
            [
                ("kt".to_owned(), "a b".to_owned()),
                ("xs".to_owned(), "http://x".to_owned()),
                ("flag".to_owned(), String::new())
            ]
        );
        assert_eq!(
            m.to_string(),
            format!("magnet:?xt=urn:btih:{H}&kt=a%20b&xs=http%3a%2f%2fx&flag=")
        );
        assert_eq!(parse(&m.to_string()), m);
    }

    fn arb_magnet() -> impl Strategy<Value = Magnet> {
        let text = "\\PC{0,12}";
        (
            (
                proptest::option::of(any::<[u8; 20]>()),
                any::<[u8; 32]>(),
                any::<bool>(),
            ),
            proptest::option::of(text),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(("(http|https|udp|HTTP)", "[a-z0-9.:/?=&%+ ]{1,10}"), 0..4),
            proptest::collection::vec(text, 0..3),
            proptest::collection::vec((any::<IpAddr>(), any::<u16>()), 0..3),
            proptest::collection::vec(0..=MAX_SELECT_INDEX, 0..5),
            proptest::collection::vec(("[a-z][a-z0-9.]{0,4}", text), 0..3),
        )
            .prop_map(|((v1, v2, has_v2), name, xl, trs, ws, peers, so, extra)| {
                let v2 = (has_v2 || v1.is_none()).then_some(InfoHashV2(v2));
                let mut m = Magnet::from_hashes(v1.map(InfoHash), v2).unwrap();
                m.name = name;
                m.exact_length = xl;
                m = m.with_trackers(trs.into_iter().map(|(s, r)| format!("{s}://{r}")));
                for w in ws.into_iter().filter(|w| !w.is_empty()) {
                    m = m.with_web_seed(w);
                }
                for p in peers {
                    let p = SocketAddr::from(p);
                    m = m.with_peer(p).with_dht_node(p);
                }
                m = m.with_dht_node(HostPort::Name {
                    host: "router.example".into(),
                    port: 1,
                });
                m = m.with_select_only(so);
                for (k, v) in extra {
                    let known = ["xt", "dn", "xl", "ws", "so", "dht", "tr"];
                    if !known.contains(&k.as_str()) && k != "x.pe" && !k.starts_with("tr.") {
                        m = m.with_param(k, v);
                    }
                }
                m
            })
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(m in arb_magnet()) {
            let text = m.to_string();
            prop_assert_eq!(parse(&text), m);
        }

        #[test]
        fn parse_never_panics_and_is_stable(s in "magnet:\\?[ -~]{0,80}") {
            if let Ok(m) = s.parse::<Magnet>() {
                let again: Magnet = m.to_string().parse().unwrap();
                prop_assert_eq!(again, m);
            }
        }
    }
}
