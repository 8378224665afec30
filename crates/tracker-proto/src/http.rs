//! The HTTP tracker protocol (BEP 3 "Trackers", BEP 23 compact peers, BEP 7
//! `peers6`, BEP 48 scrape): URLs and query strings in both directions,
//! response bodies in both directions.
//!
//! Client side: [`announce_url`], [`scrape_url`], [`parse_announce_response`],
//! [`parse_scrape_response`]. Tracker side: [`AnnounceRequest::from_query`],
//! [`ScrapeRequest::from_query`], [`AnnounceResponse::encode_http`],
//! [`ScrapeResponse::encode_http`], [`encode_failure`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes};
use seedbed_bencode::{decode_with, write_bytes, write_int, DecodeOptions, Entry, Kind};

use crate::common::{
    AnnounceRequest, AnnounceResponse, Event, InfoHash, Peer, PeerId, PeerKey, ScrapeRequest,
    ScrapeResponse, ScrapeStats,
};
use crate::compact;
use crate::error::Error;

/// The longest query string [`AnnounceRequest::from_query`] and
/// [`ScrapeRequest::from_query`] accept: 16 KiB. Longer is
/// [`Error::Query`] at this offset.
pub const MAX_QUERY_LEN: usize = 16 * 1024;

/// The most `info_hash` parameters [`ScrapeRequest::from_query`] accepts:
/// 256. More is [`Error::Query`].
pub const MAX_SCRAPE_HASHES: usize = 256;

/// The interval assumed when a response has none: 1800 s, as libtorrent.
pub const DEFAULT_INTERVAL: u32 = 1800;

// ---------------------------------------------------------------------------
// Percent-encoding
// ---------------------------------------------------------------------------

/// Appends `bytes` to `out`, percent-encoding every byte except the RFC 3986
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`). Binary safe: an info hash
/// becomes 20 to 60 characters.
pub fn percent_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Decodes `%XX` escapes in `s` (binary safe; `+` stays `+`). `base` is the
/// offset of `s` in the whole query, for error offsets.
///
/// # Errors
/// [`Error::Query`] at the `%` of an escape not followed by two hex digits.
pub fn percent_decode(s: &[u8], base: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            out.push(escape(s, i, base)?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// The byte of the `%XX` escape at `s[i]`; `base` is the offset of `s` in
/// the query.
#[inline]
fn escape(s: &[u8], i: usize, base: usize) -> Result<u8, Error> {
    let hex = |at: usize| s.get(at).map_or(0xff, |&c| HEX_VAL[usize::from(c)]);
    let (hi, lo) = (hex(i + 1), hex(i + 2));
    if hi | lo > 15 {
        return Err(Error::Query {
            offset: base + i,
            reason: "`%` not followed by two hex digits".into(),
        });
    }
    Ok(hi << 4 | lo)
}

/// [`percent_decode`] when `escaped`, else the bytes as they are.
#[inline]
fn decode_if(s: &[u8], escaped: bool, base: usize) -> Result<Cow<'_, [u8]>, Error> {
    if escaped {
        percent_decode(s, base).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(s))
    }
}

/// The value of each hex digit, 0xff for other bytes.
const HEX_VAL: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        t[b'A' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

/// Splits `url` into (without fragment) after checking the scheme is
/// `http` or `https`.
fn check_http_url(url: &str) -> Result<&str, Error> {
    let base = url.split('#').next().unwrap_or(url);
    let lower = base.get(..8).unwrap_or(base).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Error::Url {
            url: url.to_owned(),
            reason: "scheme is not http or https",
        });
    }
    let after_scheme = &base[base.find("://").map_or(0, |i| i + 3)..];
    let host_end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    if host_end == 0 {
        return Err(Error::Url {
            url: url.to_owned(),
            reason: "no host",
        });
    }
    Ok(base)
}

/// Appends `query` to `base`, keeping the query `base` already has (private
/// trackers put a passkey there).
fn join_query(base: &str, query: &str) -> String {
    let mut url = String::with_capacity(base.len() + 1 + query.len());
    url.push_str(base);
    if !base.contains('?') {
        url.push('?');
    } else if !(base.ends_with('?') || base.ends_with('&')) {
        url.push('&');
    }
    url.push_str(query);
    url
}

/// The full announce URL: the tracker URL (BEP 3 `announce`) with the
/// request's parameters appended to the query it already has, fragment
/// dropped.
///
/// ```
/// use seedbed_tracker_proto::{http::announce_url, AnnounceRequest, InfoHash, PeerId};
/// let req = AnnounceRequest::new(InfoHash([0xab; 20]), PeerId(*b"-SB0001-abcdefghijkl"), 6881);
/// let url = announce_url("http://t.example/announce?passkey=s3cr3t", &req).unwrap();
/// assert!(url.starts_with("http://t.example/announce?passkey=s3cr3t&info_hash=%AB%AB"));
/// ```
///
/// # Errors
/// [`Error::Url`] when the scheme is not `http`/`https` or there is no host.
pub fn announce_url(tracker: &str, req: &AnnounceRequest) -> Result<String, Error> {
    let base = check_http_url(tracker)?;
    Ok(join_query(base, &req.to_query()))
}

/// The scrape URL of an HTTP tracker (BEP 48): the text after the last `/`
/// of the path must start with `announce`, which becomes `scrape`
/// (`/x/announce.php?pk=1` becomes `/x/scrape.php?pk=1`). Each info hash is
/// appended as an `info_hash` parameter; none asks for a full scrape.
///
/// # Errors
/// [`Error::ScrapeUnsupported`] when the last segment is not `announce…`;
/// [`Error::Url`] for a non-HTTP URL.
pub fn scrape_url(tracker: &str, info_hashes: &[InfoHash]) -> Result<String, Error> {
    let base = check_http_url(tracker)?;
    let (path_part, query) = match base.find('?') {
        Some(q) => (&base[..q], &base[q..]),
        None => (base, ""),
    };
    let authority_start = path_part.find("://").map_or(0, |i| i + 3);
    let unsupported = || Error::ScrapeUnsupported {
        url: tracker.to_owned(),
    };
    let path_start = path_part[authority_start..]
        .find('/')
        .map(|i| i + authority_start)
        .ok_or_else(unsupported)?;
    let last = path_part.rfind('/').unwrap_or(path_start);
    let segment = &path_part[last + 1..];
    if !segment.starts_with("announce") {
        return Err(unsupported());
    }
    let mut url = String::with_capacity(base.len() + 64 * info_hashes.len());
    url.push_str(&path_part[..last + 1]);
    url.push_str("scrape");
    url.push_str(&segment["announce".len()..]);
    url.push_str(query);
    let q = ScrapeRequest {
        info_hashes: info_hashes.to_vec(),
    }
    .to_query();
    if q.is_empty() {
        return Ok(url);
    }
    Ok(join_query(&url, &q))
}

// ---------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------

/// One `key=value` parameter of a query: the offsets of key and value in
/// the query, and whether each holds a `%` escape to decode.
struct Pair<'q> {
    ko: usize,
    k: &'q [u8],
    vo: usize,
    v: &'q [u8],
    k_escaped: bool,
    v_escaped: bool,
}

impl<'q> Pair<'q> {
    /// The key, percent-decoded when it has escapes.
    #[inline]
    fn key(&self) -> Result<Cow<'q, [u8]>, Error> {
        decode_if(self.k, self.k_escaped, self.ko)
    }

    /// The value, percent-decoded when it has escapes.
    #[inline]
    fn value(&self) -> Result<Cow<'q, [u8]>, Error> {
        decode_if(self.v, self.v_escaped, self.vo)
    }

    /// The value as a 20-byte id (info hash, peer id), decoded straight
    /// into the array.
    #[inline]
    fn id20(&self, what: &str) -> Result<[u8; 20], Error> {
        if !self.v_escaped {
            return id20(self.v, self.vo, what);
        }
        let (v, base) = (self.v, self.vo);
        let mut out = [0u8; 20];
        let (mut i, mut n) = (0, 0);
        while let Some(&c) = v.get(i) {
            let b = if c == b'%' {
                i += 3;
                escape(v, i - 3, base)?
            } else {
                i += 1;
                c
            };
            if let Some(o) = out.get_mut(n) {
                *o = b;
            }
            n += 1;
        }
        if n != 20 {
            return Err(Error::Query {
                offset: base,
                reason: format!("{what} is {n} bytes, expected 20"),
            });
        }
        Ok(out)
    }
}

/// Bytes that end a run of plain bytes in a query: `&`, `=`, `%`.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'=' as usize] = true;
    t[b'%' as usize] = true;
    t
};

/// The `key=value` parameters of a query, in one pass over its bytes.
/// Empty parameters (`&&`) are skipped; a parameter without `=` has an
/// empty value.
struct Pairs<'q> {
    q: &'q [u8],
    at: usize,
}

impl<'q> Iterator for Pairs<'q> {
    type Item = Pair<'q>;

    #[inline]
    fn next(&mut self) -> Option<Pair<'q>> {
        loop {
            let start = self.at;
            let rest = self.q.get(start..)?;
            let (mut eq, mut k_escaped, mut v_escaped) = (None, false, false);
            let mut i = 0;
            let end = loop {
                match rest[i..].iter().position(|&c| SPECIAL[usize::from(c)]) {
                    None => break rest.len(),
                    Some(j) => {
                        i += j;
                        match rest[i] {
                            b'&' => break i,
                            b'=' if eq.is_none() => eq = Some(i),
                            b'%' if eq.is_none() => k_escaped = true,
                            b'%' => v_escaped = true,
                            _ => {}
                        }
                        i += 1;
                    }
                }
            };
            self.at = start + end + 1;
            if end == 0 {
                continue;
            }
            let pair = &rest[..end];
            return Some(match eq {
                Some(eq) => Pair {
                    ko: start,
                    k: &pair[..eq],
                    vo: start + eq + 1,
                    v: &pair[eq + 1..],
                    k_escaped,
                    v_escaped,
                },
                None => Pair {
                    ko: start,
                    k: pair,
                    vo: start + end,
                    v: &[],
                    k_escaped,
                    v_escaped,
                },
            });
        }
    }
}

/// Iterates the `key=value` pairs of a query.
fn pairs(query: &[u8]) -> Pairs<'_> {
    Pairs { q: query, at: 0 }
}

fn check_len(query: &[u8]) -> Result<(), Error> {
    if query.len() > MAX_QUERY_LEN {
        return Err(Error::Query {
            offset: MAX_QUERY_LEN,
            reason: format!("query longer than {MAX_QUERY_LEN} bytes"),
        });
    }
    Ok(())
}

fn id20(value: &[u8], offset: usize, what: &str) -> Result<[u8; 20], Error> {
    <[u8; 20]>::try_from(value).map_err(|_| Error::Query {
        offset,
        reason: format!("{what} is {} bytes, expected 20", value.len()),
    })
}

fn number<T: TryFrom<u64>>(value: &[u8], offset: usize, what: &str) -> Result<T, Error> {
    parse_u64(value)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| Error::Query {
            offset,
            reason: format!("{what} is not a number in range"),
        })
}

/// Decimal digits with an optional leading `+`, as `u64::from_str` reads
/// them; `None` when empty, not digits, or over `u64::MAX`.
#[inline]
fn parse_u64(v: &[u8]) -> Option<u64> {
    let digits = match v {
        [b'+', rest @ ..] => rest,
        _ => v,
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

impl AnnounceRequest {
    /// The request's parameters as a query string (no leading `?`), info
    /// hash and peer id percent-encoded byte by byte: `info_hash`,
    /// `peer_id`, `port`, `uploaded`, `downloaded`, `left`, `event` (unless
    /// none), `compact`, then `numwant`, `key` (8 hex digits), `ip`,
    /// `trackerid` when set, then [`extra`](AnnounceRequest::extra).
    pub fn to_query(&self) -> String {
        let mut q = String::with_capacity(256);
        q.push_str("info_hash=");
        percent_encode(&self.info_hash.0, &mut q);
        q.push_str("&peer_id=");
        percent_encode(&self.peer_id.0, &mut q);
        use std::fmt::Write;
        let _ = write!(
            q,
            "&port={}&uploaded={}&downloaded={}&left={}",
            self.port, self.uploaded, self.downloaded, self.left
        );
        if let Some(e) = self.event.as_param() {
            q.push_str("&event=");
            q.push_str(e);
        }
        q.push_str(if self.compact {
            "&compact=1"
        } else {
            "&compact=0"
        });
        if let Some(n) = self.numwant {
            let _ = write!(q, "&numwant={n}");
        }
        if let Some(k) = self.key {
            let _ = write!(q, "&key={k}");
        }
        if let Some(ip) = self.ip {
            q.push_str("&ip=");
            percent_encode(ip.to_string().as_bytes(), &mut q);
        }
        if let Some(id) = &self.tracker_id {
            q.push_str("&trackerid=");
            percent_encode(id, &mut q);
        }
        for (k, v) in &self.extra {
            q.push('&');
            percent_encode(k, &mut q);
            q.push('=');
            percent_encode(v, &mut q);
        }
        q
    }

    /// Parses an announce query string (tracker side; no leading `?`),
    /// percent-decoding every value as bytes. `info_hash`, `peer_id` and
    /// `port` are required; a parameter given twice keeps its first value.
    /// `compact` is true unless `0` (absent is false). A `key` that is not
    /// 1 to 8 hex digits and an `ip` that is not an address go to
    /// [`extra`](AnnounceRequest::extra), like every unknown parameter.
    ///
    /// # Errors
    /// [`Error::Query`] with the byte offset of the offending parameter: a
    /// bad `%` escape, an id that is not 20 bytes, a number out of range,
    /// an unknown event, a missing required parameter (offset = length), a
    /// query over [`MAX_QUERY_LEN`].
    pub fn from_query(query: &[u8]) -> Result<Self, Error> {
        check_len(query)?;
        let mut info_hash = None;
        let mut peer_id = None;
        let mut port = None;
        let mut req = AnnounceRequest::new(InfoHash::default(), PeerId::default(), 0);
        req.compact = false;
        let (mut up, mut down, mut left, mut event, mut compact, mut numwant) =
            (false, false, false, false, false, false);
        let (mut key, mut ip, mut tid) = (false, false, false);
        for p in pairs(query) {
            let k = p.key()?;
            // The ids decode straight into their arrays; every other value
            // is decoded (and so checked) whether it is used or not.
            match &*k {
                b"info_hash" if info_hash.is_none() => {
                    info_hash = Some(InfoHash(p.id20("info_hash")?));
                    continue;
                }
                b"peer_id" if peer_id.is_none() => {
                    peer_id = Some(PeerId(p.id20("peer_id")?));
                    continue;
                }
                _ => {}
            }
            let (vo, v) = (p.vo, p.value()?);
            match &*k {
                b"port" if port.is_none() => port = Some(number(&v, vo, "port")?),
                b"uploaded" if !up => (req.uploaded, up) = (number(&v, vo, "uploaded")?, true),
                b"downloaded" if !down => {
                    (req.downloaded, down) = (number(&v, vo, "downloaded")?, true)
                }
                b"left" if !left => (req.left, left) = (number(&v, vo, "left")?, true),
                b"event" if !event => {
                    req.event = parse_event(&v).ok_or_else(|| {
                        let s = std::str::from_utf8(&v).unwrap_or("\u{fffd}");
                        Error::Query {
                            offset: vo,
                            reason: format!("unknown event {s:?}"),
                        }
                    })?;
                    event = true;
                }
                b"compact" if !compact => (req.compact, compact) = (&*v != b"0", true),
                b"numwant" if !numwant => {
                    (req.numwant, numwant) = (Some(number(&v, vo, "numwant")?), true)
                }
                b"key" if !key && parse_key(&v).is_some() => (req.key, key) = (parse_key(&v), true),
                b"ip" if !ip && parse_ip(&v).is_some() => (req.ip, ip) = (parse_ip(&v), true),
                b"trackerid" if !tid => {
                    (req.tracker_id, tid) = (Some(Bytes::copy_from_slice(&v)), true)
                }
                b"info_hash" | b"peer_id" | b"port" | b"uploaded" | b"downloaded" | b"left"
                | b"event" | b"compact" | b"numwant" | b"trackerid" => {}
                _ => req
                    .extra
                    .push((Bytes::copy_from_slice(&k), Bytes::copy_from_slice(&v))),
            }
        }
        let missing = |what: &str| Error::Query {
            offset: query.len(),
            reason: format!("missing {what}"),
        };
        req.info_hash = info_hash.ok_or_else(|| missing("info_hash"))?;
        req.peer_id = peer_id.ok_or_else(|| missing("peer_id"))?;
        req.port = port.ok_or_else(|| missing("port"))?;
        Ok(req)
    }
}

/// The event words [`Event`]'s `FromStr` accepts, read from bytes.
fn parse_event(v: &[u8]) -> Option<Event> {
    Some(match v {
        b"" | b"none" | b"empty" => Event::None,
        b"started" => Event::Started,
        b"completed" => Event::Completed,
        b"stopped" => Event::Stopped,
        _ => return None,
    })
}

fn parse_key(v: &[u8]) -> Option<PeerKey> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    let s = std::str::from_utf8(v).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok().map(PeerKey)
}

fn parse_ip(v: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl ScrapeRequest {
    /// One `info_hash=` parameter per torrent (BEP 48), percent-encoded; the
    /// empty string for none.
    pub fn to_query(&self) -> String {
        let mut q = String::with_capacity(self.info_hashes.len() * 40);
        for (i, h) in self.info_hashes.iter().enumerate() {
            if i > 0 {
                q.push('&');
            }
            q.push_str("info_hash=");
            percent_encode(&h.0, &mut q);
        }
        q
    }

    /// Parses a scrape query string (tracker side): every `info_hash`
    /// parameter, in order; other parameters are ignored.
    ///
    /// # Errors
    /// [`Error::Query`] for a bad escape, an info hash that is not 20 bytes,
    /// more than [`MAX_SCRAPE_HASHES`] hashes, or a query over
    /// [`MAX_QUERY_LEN`].
    pub fn from_query(query: &[u8]) -> Result<Self, Error> {
        check_len(query)?;
        let mut info_hashes = Vec::new();
        for p in pairs(query) {
            if *p.key()? != *b"info_hash" {
                continue;
            }
            if info_hashes.len() == MAX_SCRAPE_HASHES {
                return Err(Error::Query {
                    offset: p.ko,
                    reason: format!("more than {MAX_SCRAPE_HASHES} info hashes"),
                });
            }
            info_hashes.push(InfoHash(p.id20("info_hash")?));
        }
        Ok(ScrapeRequest { info_hashes })
    }
}

// ---------------------------------------------------------------------------
// Response bodies: parsing (client side)
// ---------------------------------------------------------------------------

fn u32_at(e: &Entry<'_, '_, '_>) -> Result<u32, Error> {
    let v = e.int()?;
    u32::try_from(v).map_err(|_| e.invalid(format!("{v} is not in 0..=4294967295")).into())
}

fn opt_u32(root: &Entry<'_, '_, '_>, key: &str) -> Result<Option<u32>, Error> {
    root.opt_key(key)?.map(|e| u32_at(&e)).transpose()
}

fn failure(root: &Entry<'_, '_, '_>) -> Result<(), Error> {
    if let Some(f) = root.opt_key("failure reason")? {
        let reason = match f.value().as_bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => format!("{:?}", f.value()),
        };
        return Err(Error::Failure { reason });
    }
    Ok(())
}

fn compact_peers(bytes: &[u8], stride: usize, path: &str) -> Result<Vec<Peer>, Error> {
    if bytes.len() % stride != 0 {
        return Err(Error::Response {
            path: path.to_owned(),
            reason: format!(
                "compact peers of {} bytes is not a multiple of {stride}",
                bytes.len()
            ),
        });
    }
    Ok(compact::read_all(bytes, stride == compact::V6_LEN)
        .into_iter()
        .map(Peer::from)
        .collect())
}

/// Parses an HTTP announce response body (BEP 3, 23, 7). Lenient: keys in
/// any order, unknown keys ignored, trailing bytes after the dictionary
/// ignored, `peers` as a compact string (6 bytes per IPv4 peer) or a list
/// of dictionaries (`ip` text, `port`, optional 20-byte `peer id`; entries
/// whose `ip` is a host name are skipped), `peers6` compact (18 bytes per
/// peer). A missing `interval` is [`DEFAULT_INTERVAL`].
///
/// ```
/// use seedbed_tracker_proto::http::parse_announce_response;
/// let body = b"d8:intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";
/// let r = parse_announce_response(body).unwrap();
/// assert_eq!(r.interval, 900);
/// assert_eq!(r.peers[0].addr.to_string(), "127.0.0.1:6881");
/// ```
///
/// # Errors
/// [`Error::Failure`] when the body has a `failure reason`;
/// [`Error::Bencode`] (with byte offset or key path) for invalid bencode or
/// wrong types; [`Error::Response`] for a compact string of the wrong
/// length or a port out of range.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, Error> {
    let doc = decode_with(body, &DecodeOptions::new().allow_trailing(true))?;
    let root = Entry::root(doc.root());
    root.dict()?;
    failure(&root)?;
    let mut r = AnnounceResponse {
        interval: opt_u32(&root, "interval")?.unwrap_or(DEFAULT_INTERVAL),
        min_interval: opt_u32(&root, "min interval")?,
        complete: opt_u32(&root, "complete")?,
        incomplete: opt_u32(&root, "incomplete")?,
        ..AnnounceResponse::default()
    };
    if let Some(t) = root.opt_key("tracker id")? {
        r.tracker_id = Some(Bytes::copy_from_slice(t.bytes()?));
    }
    if let Some(w) = root.opt_key("warning message")? {
        r.warning_message = Some(String::from_utf8_lossy(w.bytes()?).into_owned());
    }
    if let Some(p) = root.opt_key("peers")? {
        match p.value().kind() {
            Kind::Bytes(b) => r.peers = compact_peers(b, 6, "peers")?,
            Kind::List(_) => {
                for item in p.items()? {
                    if let Some(peer) = dict_peer(&item)? {
                        r.peers.push(peer);
                    }
                }
            }
            _ => return Err(p.invalid("expected a string or a list").into()),
        }
    }
    if let Some(p) = root.opt_key("peers6")? {
        r.peers.extend(compact_peers(p.bytes()?, 18, "peers6")?);
    }
    Ok(r)
}

fn dict_peer(item: &Entry<'_, '_, '_>) -> Result<Option<Peer>, Error> {
    let ip = item.key("ip")?;
    let port = item.key("port")?;
    let p = port.int()?;
    let port_n = u16::try_from(p).map_err(|_| Error::Response {
        path: port.path(),
        reason: format!("port {p} out of range"),
    })?;
    let Ok(addr) = std::str::from_utf8(ip.bytes()?)
        .unwrap_or("")
        .parse::<IpAddr>()
    else {
        return Ok(None);
    };
    let peer_id = match item.opt_key("peer id")? {
        Some(id) => PeerId::from_slice(id.bytes()?).ok(),
        None => None,
    };
    Ok(Some(Peer {
        addr: SocketAddr::new(addr, port_n),
        peer_id,
    }))
}

/// Parses an HTTP scrape response body (BEP 48): the `files` dictionary,
/// keyed by 20-byte info hash (other keys skipped), each with `complete`,
/// `downloaded`, `incomplete` (absent counts are 0).
///
/// # Errors
/// As [`parse_announce_response`]: [`Error::Failure`], [`Error::Bencode`].
pub fn parse_scrape_response(body: &[u8]) -> Result<ScrapeResponse, Error> {
    let doc = decode_with(body, &DecodeOptions::new().allow_trailing(true))?;
    let root = Entry::root(doc.root());
    root.dict()?;
    failure(&root)?;
    let mut files = BTreeMap::new();
    if let Some(f) = root.opt_key("files")? {
        for (key, stats) in f.entries()? {
            let Ok(h) = InfoHash::from_slice(key) else {
                continue;
            };
            let s = ScrapeStats {
                complete: opt_u32(&stats, "complete")?.unwrap_or(0),
                downloaded: opt_u32(&stats, "downloaded")?.unwrap_or(0),
                incomplete: opt_u32(&stats, "incomplete")?.unwrap_or(0),
            };
            files.insert(h, s);
        }
    }
    Ok(ScrapeResponse { files })
}

// ---------------------------------------------------------------------------
// Response bodies: encoding (tracker side)
// ---------------------------------------------------------------------------

impl AnnounceResponse {
    /// Writes the response as canonical bencode (keys sorted). With
    /// `compact`, IPv4 peers are one `peers` string (6 bytes each, BEP 23)
    /// and IPv6 peers one `peers6` string (18 bytes each, BEP 7), both
    /// written even when empty for `peers`; otherwise `peers` is a list of
    /// `{ip, peer id, port}` dictionaries holding every peer.
    pub fn encode_http<B: BufMut + ?Sized>(&self, compact: bool, buf: &mut B) {
        // The keys up to the `peers` length prefix are gathered on the stack
        // and written with one call: at most 125 bytes.
        let mut head = StackBuf::<128>::new();
        head.put(b"d");
        if let Some(c) = self.complete {
            head.put(b"8:completei");
            head.put_u64(c.into());
            head.put(b"e");
        }
        if let Some(c) = self.incomplete {
            head.put(b"10:incompletei");
            head.put_u64(c.into());
            head.put(b"e");
        }
        head.put(b"8:intervali");
        head.put_u64(self.interval.into());
        head.put(b"e");
        if let Some(m) = self.min_interval {
            head.put(b"12:min intervali");
            head.put_u64(m.into());
            head.put(b"e");
        }
        head.put(b"5:peers");
        if compact {
            // The usual list, IPv4 only, in one pass: its first peers are
            // gathered on the stack while checking their family, so the
            // length prefix is known without counting first.
            let mut tmp = [0u8; compact::GATHER * compact::V4_LEN];
            let n = compact::gather_v4(&mut tmp, &self.peers, |p| &p.addr);
            let rest = self.peers.get(n..).unwrap_or_default();
            if rest.iter().all(|p| p.addr.is_ipv4()) {
                head.put_u64((self.peers.len() * compact::V4_LEN) as u64);
                head.put(b":");
                buf.put_slice(head.as_bytes());
                buf.put_slice(tmp.get(..n * compact::V4_LEN).unwrap_or_default());
                if !rest.is_empty() {
                    compact::write_all(buf, rest, |p| &p.addr);
                }
                self.encode_tail(buf);
                return;
            }
            let v4 = self.peers.iter().filter(|p| p.addr.is_ipv4()).count();
            head.put_u64((v4 * compact::V4_LEN) as u64);
            head.put(b":");
            buf.put_slice(head.as_bytes());
            let v6 = self.peers.len() - v4;
            compact::write_family(buf, &self.peers, |p| &p.addr, false);
            let mut h6 = StackBuf::<32>::new();
            h6.put(b"6:peers6");
            h6.put_u64((v6 * compact::V6_LEN) as u64);
            h6.put(b":");
            buf.put_slice(h6.as_bytes());
            compact::write_family(buf, &self.peers, |p| &p.addr, true);
        } else {
            buf.put_slice(head.as_bytes());
            buf.put_u8(b'l');
            for p in &self.peers {
                buf.put_u8(b'd');
                write_bytes(buf, b"ip");
                write_bytes(buf, p.addr.ip().to_string().as_bytes());
                if let Some(id) = &p.peer_id {
                    write_bytes(buf, b"peer id");
                    write_bytes(buf, &id.0);
                }
                write_bytes(buf, b"port");
                write_int(buf, i64::from(p.addr.port()));
                buf.put_u8(b'e');
            }
            buf.put_u8(b'e');
        }
        self.encode_tail(buf);
    }

    /// The keys after `peers`/`peers6` and the closing `e`.
    #[inline]
    fn encode_tail<B: BufMut + ?Sized>(&self, buf: &mut B) {
        if let Some(t) = &self.tracker_id {
            write_bytes(buf, b"tracker id");
            write_bytes(buf, t);
        }
        if let Some(w) = &self.warning_message {
            write_bytes(buf, b"warning message");
            write_bytes(buf, w.as_bytes());
        }
        buf.put_u8(b'e');
    }
}

/// A small stack buffer for the fixed-size parts of a bencoded response,
/// so they reach the caller's buffer in one `put_slice`. Callers size it
/// for the most they write; anything past its capacity would be dropped.
struct StackBuf<const N: usize> {
    b: [u8; N],
    n: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf { b: [0; N], n: 0 }
    }

    #[inline]
    fn put(&mut self, s: &[u8]) {
        if let Some(d) = self.b.get_mut(self.n..self.n + s.len()) {
            d.copy_from_slice(s);
            self.n += s.len();
        }
    }

    /// The decimal digits of `v`.
    #[inline]
    fn put_u64(&mut self, mut v: u64) {
        let len = v.checked_ilog10().map_or(1, |l| l as usize + 1);
        if let Some(out) = self.b.get_mut(self.n..self.n + len) {
            for d in out.iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
            self.n += len;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
}

impl ScrapeResponse {
    /// Writes the response as canonical bencode (BEP 48):
    /// `d5:filesd<hash>d8:complete…10:downloaded…10:incomplete…eee`.
    pub fn encode_http<B: BufMut + ?Sized>(&self, buf: &mut B) {
        buf.put_slice(b"d5:filesd");
        for (h, s) in &self.files {
            write_bytes(buf, &h.0);
            buf.put_u8(b'd');
            write_bytes(buf, b"complete");
            write_int(buf, i64::from(s.complete));
            write_bytes(buf, b"downloaded");
            write_int(buf, i64::from(s.downloaded));
            write_bytes(buf, b"incomplete");
            write_int(buf, i64::from(s.incomplete));
            buf.put_u8(b'e');
        }
        buf.put_slice(b"ee");
    }
}

/// Writes a failure response: `d14:failure reason<len>:<reason>e` (BEP 3).
pub fn encode_failure<B: BufMut + ?Sized>(reason: &str, buf: &mut B) {
    buf.put_u8(b'd');
    write_bytes(buf, b"failure reason");
    write_bytes(buf, reason.as_bytes());
    buf.put_u8(b'e');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req() -> AnnounceRequest {
        let mut r = AnnounceRequest::new(
            InfoHash(*b"\x00\x01%&=+ ~abcdefghij\xff\xfe"),
            PeerId(*b"-SB0001-\x00\x80abcdefghij"),
            6881,
        );
        r.uploaded = 1;
        r.downloaded = 2;
        r.left = 3;
        r.event = Event::Started;
        r.numwant = Some(20);
        r.key = Some(PeerKey(0xdeadbeef));
        r
    }

    #[test]
    fn announce_url_keeps_passkey_and_encodes_binary() {
        let url = announce_url("https://t.example/a/announce?passkey=abc#frag", &req()).unwrap();
        assert!(url.starts_with(
            "https://t.example/a/announce?passkey=abc&info_hash=%00%01%25%26%3D%2B%20~abcdefghij%FF%FE&peer_id=-SB0001-%00%80abcdefghij&port=6881"
        ), "{url}");
        assert!(url.contains("&event=started&compact=1&numwant=20&key=DEADBEEF"));
        assert!(!url.contains("frag"));
        let url = announce_url("http://t.example/announce", &req()).unwrap();
        assert!(url.starts_with("http://t.example/announce?info_hash="));
        assert!(matches!(
            announce_url("udp://t.example:80", &req()),
            Err(Error::Url { .. })
        ));
        assert!(matches!(
            announce_url("http:///announce", &req()),
            Err(Error::Url { .. })
        ));
    }

    #[test]
    fn scrape_url_rule() {
        let h = [InfoHash([0x41; 20])];
        assert_eq!(
            scrape_url("http://t.example/x/announce.php?pk=a/b", &[]).unwrap(),
            "http://t.example/x/scrape.php?pk=a/b"
        );
        assert_eq!(
            scrape_url("http://t.example/announce", &h).unwrap(),
            format!("http://t.example/scrape?info_hash={}", "A".repeat(20))
        );
        assert_eq!(
            scrape_url("http://t.example/announce?pk=1", &h).unwrap(),
            format!("http://t.example/scrape?pk=1&info_hash={}", "A".repeat(20))
        );
        for bad in [
            "http://t.example/a",
            "http://t.example/announce/x",
            "http://t.example",
            "http://t.example?announce",
        ] {
            assert!(
                matches!(scrape_url(bad, &h), Err(Error::ScrapeUnsupported { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_round_trip_and_errors() {
        let mut r = req();
        r.ip = Some("::1".parse().unwrap());
        r.tracker_id = Some(Bytes::from_static(b"t\x00id"));
        r.extra.push((
            Bytes::from_static(b"supportcrypto"),
            Bytes::from_static(b"1"),
        ));
        let q = r.to_query();
        assert_eq!(AnnounceRequest::from_query(q.as_bytes()).unwrap(), r);

        let e = AnnounceRequest::from_query(b"info_hash=%zz").unwrap_err();
        assert_eq!(e.offset(), Some(10));
        let e = AnnounceRequest::from_query(b"info_hash=abc").unwrap_err();
        assert_eq!(e.offset(), Some(10));
        let e = AnnounceRequest::from_query(b"peer_id=aaaaaaaaaaaaaaaaaaaa&port=1").unwrap_err();
        assert!(e.to_string().contains("missing info_hash"), "{e}");
        let q = format!("{q}&port=99999");
        assert_eq!(
            AnnounceRequest::from_query(q.as_bytes()).unwrap().port,
            6881
        );
        let e = AnnounceRequest::from_query(b"port=99999").unwrap_err();
        assert_eq!(e.offset(), Some(5));
        // Unknown key format and non-address ip are kept as extra.
        let q = format!(
            "{}&key=zz&ip=host.example",
            req().to_query().replace("&key=DEADBEEF", "")
        );
        let p = AnnounceRequest::from_query(q.as_bytes()).unwrap();
        assert_eq!(p.key, None);
        assert_eq!(p.extra.len(), 2);
    }

    #[test]
    fn query_length_limit() {
        let base = req().to_query();
        let mut at = base.clone();
        at.push_str("&x=");
        at.push_str(&"y".repeat(MAX_QUERY_LEN - at.len()));
        assert_eq!(at.len(), MAX_QUERY_LEN);
        assert!(AnnounceRequest::from_query(at.as_bytes()).is_ok());
        at.push('y');
        assert_eq!(
            AnnounceRequest::from_query(at.as_bytes())
                .unwrap_err()
                .offset(),
            Some(MAX_QUERY_LEN)
        );
    }

    #[test]
    fn scrape_query_limit() {
        let at = ScrapeRequest {
            info_hashes: vec![InfoHash([b'a'; 20]); MAX_SCRAPE_HASHES],
        };
        assert_eq!(
            ScrapeRequest::from_query(at.to_query().as_bytes()).unwrap(),
            at
        );
        let q = format!("{}&info_hash={}", at.to_query(), "a".repeat(20));
        let e = ScrapeRequest::from_query(q.as_bytes()).unwrap_err();
        assert_eq!(e.offset(), Some(at.to_query().len() + 1));
    }

    #[test]
    fn lenient_response_parsing() {
        // Unsorted keys, unknown keys, dictionary peers with a host name,
        // trailing newline.
        let body = b"d5:peersld4:porti6881e2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaaed2:ip6:a.host4:porti1eee8:intervali60e3:fooi1e8:completei2e6:peers618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50e\n";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.interval, 60);
        assert_eq!(r.complete, Some(2));
        assert_eq!(r.peers.len(), 2);
        assert_eq!(r.peers[0].addr.to_string(), "127.0.0.1:6881");
        assert_eq!(r.peers[0].peer_id, Some(PeerId([b'a'; 20])));
        assert_eq!(r.peers[1].addr.to_string(), "[::1]:80");

        let e = parse_announce_response(b"d14:failure reason9:forbiddene").unwrap_err();
        assert_eq!(e.failure_reason(), Some("forbidden"));
        let e = parse_announce_response(b"d8:intervali1e5:peers5:abcdee").unwrap_err();
        assert!(matches!(e, Error::Response { .. }), "{e}");
        let e = parse_announce_response(b"d8:intervali-1ee").unwrap_err();
        assert!(e.to_string().contains("interval"), "{e}");
        let e = parse_announce_response(b"d8:interval").unwrap_err();
        assert!(e.offset().is_some());
    }

    #[test]
    fn encodes_canonically() {
        let r = AnnounceResponse {
            interval: 30,
            min_interval: Some(10),
            tracker_id: Some(Bytes::from_static(b"x")),
            complete: Some(1),
            incomplete: Some(2),
            warning_message: Some("w".into()),
            peers: vec![
                Peer::from("1.2.3.4:5".parse::<SocketAddr>().unwrap()),
                Peer::from("[::1]:6".parse::<SocketAddr>().unwrap()),
            ],
        };
        for compact in [true, false] {
            let mut out = Vec::new();
            r.encode_http(compact, &mut out);
            let strict = DecodeOptions::new().canonical(true);
            decode_with(&out, &strict).unwrap();
            assert_eq!(parse_announce_response(&out).unwrap(), r);
        }
        let mut out = Vec::new();
        encode_failure("no", &mut out);
        assert_eq!(out, b"d14:failure reason2:noe");
    }

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
        ]
    }

    pub(crate) fn arb_request() -> impl Strategy<Value = AnnounceRequest> {
        (
            (any::<[u8; 20]>(), any::<[u8; 20]>(), any::<u16>()),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            (
                0u32..4,
                any::<bool>(),
                any::<Option<u32>>(),
                any::<Option<u32>>(),
            ),
            proptest::option::of(arb_addr().prop_map(|a| a.ip())),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            proptest::collection::vec(
                ("[a-z]{3,6}", proptest::collection::vec(any::<u8>(), 0..5)),
                0..3,
            ),
        )
            .prop_map(|((h, id, port), (u, d, l), (e, c, n, k), ip, tid, extra)| {
                let mut r = AnnounceRequest::new(InfoHash(h), PeerId(id), port);
                (r.uploaded, r.downloaded, r.left) = (u, d, l);
                r.event = Event::from_udp(e).unwrap();
                r.compact = c;
                r.numwant = n;
                r.key = k.map(PeerKey);
                r.ip = ip;
                r.tracker_id = tid.map(Bytes::from);
                r.extra = extra
                    .into_iter()
                    .map(|(k, v)| (Bytes::from(format!("x{k}")), Bytes::from(v)))
                    .collect();
                r
            })
    }

    proptest! {
        #[test]
        fn announce_query_round_trip(r in arb_request()) {
            let q = r.to_query();
            prop_assert_eq!(AnnounceRequest::from_query(q.as_bytes()).unwrap(), r);
        }

        #[test]
        fn scrape_query_round_trip(h in proptest::collection::vec(any::<[u8; 20]>(), 0..10)) {
            let r = ScrapeRequest { info_hashes: h.into_iter().map(InfoHash).collect() };
            prop_assert_eq!(ScrapeRequest::from_query(r.to_query().as_bytes()).unwrap(), r);
        }

        #[test]
        fn compact_peers_any_order_and_length(
            v4 in proptest::collection::vec((any::<[u8; 4]>(), any::<u16>()), 0..200),
            v6 in proptest::collection::vec((any::<usize>(), any::<[u8; 16]>(), any::<u16>()), 0..3),
        ) {
            // Up to and past the stack-gathered peers, IPv6 peers anywhere:
            // `peers` holds the IPv4 peers in order, `peers6` the IPv6 ones.
            let mut peers: Vec<Peer> = v4.into_iter().map(|(a, p)| Peer::from(SocketAddr::from((a, p)))).collect();
            for (at, a, p) in v6 {
                peers.insert(at % (peers.len() + 1), Peer::from(SocketAddr::from((a, p))));
            }
            let mut want: Vec<Peer> = peers.iter().filter(|p| p.addr.is_ipv4()).copied().collect();
            want.extend(peers.iter().filter(|p| p.addr.is_ipv6()).copied());
            let r = AnnounceResponse { interval: 1800, peers, ..Default::default() };
            let mut out = Vec::new();
            r.encode_http(true, &mut out);
            decode_with(&out, &DecodeOptions::new().canonical(true)).unwrap();
            let back = parse_announce_response(&out).unwrap();
            prop_assert_eq!(back.peers, want);
        }

        #[test]
        fn announce_response_round_trip(
            interval in any::<u32>(),
            min in any::<Option<u32>>(),
            counts in any::<(Option<u32>, Option<u32>)>(),
            tid in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            warn in proptest::option::of(".{0,10}"),
            v4 in proptest::collection::vec((any::<[u8; 4]>(), any::<u16>(), any::<Option<[u8; 20]>>()), 0..10),
            v6 in proptest::collection::vec((any::<[u8; 16]>(), any::<u16>(), any::<Option<[u8; 20]>>()), 0..10),
            compact in any::<bool>(),
        ) {
            let mut peers: Vec<Peer> = v4.into_iter().map(|(a, p, id)| Peer { addr: SocketAddr::from((a, p)), peer_id: id.map(PeerId) }).collect();
            peers.extend(v6.into_iter().map(|(a, p, id)| Peer { addr: SocketAddr::from((a, p)), peer_id: id.map(PeerId) }));
            if compact {
                for p in &mut peers { p.peer_id = None; }
            }
            let r = AnnounceResponse {
                interval, min_interval: min, tracker_id: tid.map(Bytes::from),
                complete: counts.0, incomplete: counts.1, warning_message: warn, peers,
            };
            let mut out = Vec::new();
            r.encode_http(compact, &mut out);
            decode_with(&out, &DecodeOptions::new().canonical(true)).unwrap();
            prop_assert_eq!(parse_announce_response(&out).unwrap(), r);
        }

        #[test]
        fn scrape_response_round_trip(files in proptest::collection::btree_map(any::<[u8; 20]>(), any::<(u32, u32, u32)>(), 0..10)) {
            let r = ScrapeResponse { files: files.into_iter().map(|(h, (c, d, i))| (InfoHash(h), ScrapeStats { complete: c, downloaded: d, incomplete: i })).collect() };
            let mut out = Vec::new();
            r.encode_http(&mut out);
            decode_with(&out, &DecodeOptions::new().canonical(true)).unwrap();
            prop_assert_eq!(parse_scrape_response(&out).unwrap(), r);
        }
    }
}
