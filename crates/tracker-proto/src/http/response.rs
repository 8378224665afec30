//! Response bodies of HTTP trackers (BEP 3, BEP 23 compact peers, BEP 7
//! `peers6`, BEP 48 scrape), both directions: parsed on the client side,
//! encoded on the tracker side.

use super::*;

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
