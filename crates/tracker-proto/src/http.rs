//! The HTTP tracker protocol (BEP 3 "Trackers", BEP 23 compact peers, BEP 7
//! `peers6`, BEP 48 scrape): URLs and query strings in both directions,
//! response bodies in both directions.
//!
//! Client side: [`announce_url`], [`scrape_url`], [`parse_announce_response`],
//! [`parse_scrape_response`]. Tracker side: [`AnnounceRequest::from_query`],
//! [`ScrapeRequest::from_query`], [`AnnounceResponse::encode_http`],
//! [`ScrapeResponse::encode_http`], [`encode_failure`].
//!
//! This file holds percent-encoding and the URLs; query strings are in
//! `http/query.rs`, response bodies in `http/response.rs`.

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

mod query;
mod response;

pub use response::{encode_failure, parse_announce_response, parse_scrape_response};

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
