//! Query strings of announce and scrape requests (BEP 3 "Trackers", BEP 48),
//! both directions: [`AnnounceRequest::to_query`] and
//! [`AnnounceRequest::from_query`], the same for [`ScrapeRequest`].

use super::*;

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
