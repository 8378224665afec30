//! Async announce and scrape for `http://`, `https://` (reqwest with
//! rustls) and `udp://` trackers (tokio, driving
//! [`UdpClient`]). Feature `client`, on by
//! default.
//!
//! ```no_run
//! use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
//! use seedbed_tracker_proto::{AnnounceRequest, InfoHash, PeerId};
//!
//! # async fn run() -> Result<(), seedbed_tracker_proto::Error> {
//! let client = TrackerClient::new(ClientOptions::default())?;
//! let req = AnnounceRequest::new(InfoHash([1; 20]), PeerId(*b"-SB0001-123456789012"), 6881);
//! let resp = client.announce("udp://tracker.example:6969/announce", &req).await?;
//! println!("{} peers, next in {} s", resp.peers.len(), resp.interval);
//! # Ok(()) }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::common::{AnnounceRequest, AnnounceResponse, InfoHash, ScrapeResponse};
use crate::error::Error;
use crate::http::{announce_url, parse_announce_response, parse_scrape_response, scrape_url};
use crate::tier::{Position, Tiers};
use crate::udp_client::{UdpClient, UdpClientConfig, UdpClientEvent};

/// Settings of a [`TrackerClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Upper bound for one announce or scrape, connect and retransmissions
    /// included. Default 30 s.
    pub timeout: Duration,
    /// `User-Agent` of HTTP requests. Default `seedbed/<version>`.
    pub user_agent: String,
    /// Extra HTTP request headers (name, value), sent with every HTTP
    /// request; some private trackers want them.
    pub headers: Vec<(String, String)>,
    /// Largest HTTP response body read, in bytes; larger is
    /// [`Error::Transport`]. Default 4 MiB.
    pub max_response_bytes: usize,
    /// First UDP retransmission timeout, doubled after each (BEP 15: 15 s).
    pub udp_retransmit: Duration,
    /// The local address every request leaves from (HTTP connections and
    /// UDP sockets are bound to it, port chosen by the system), as
    /// libtorrent's `outgoing_interfaces`: a client bound to a VPN's
    /// address never sends from another one. A tracker only reachable
    /// over the other IP version fails with [`Error::Transport`] instead.
    /// `None` (the default): the system chooses.
    pub local_address: Option<IpAddr>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            user_agent: concat!("seedbed/", env!("CARGO_PKG_VERSION")).to_owned(),
            headers: Vec::new(),
            max_response_bytes: 4 << 20,
            udp_retransmit: Duration::from_secs(15),
            local_address: None,
        }
    }
}

/// Announces and scrapes over HTTP(S) and UDP. Cheap to clone (one shared
/// HTTP connection pool). Every error is [`Error::Tracker`], naming the
/// tracker URL.
#[derive(Clone, Debug)]
pub struct TrackerClient {
    http: reqwest::Client,
    opts: ClientOptions,
}

fn transport(e: impl std::fmt::Display) -> Error {
    Error::Transport {
        reason: e.to_string(),
    }
}

impl TrackerClient {
    /// A client with these options.
    ///
    /// # Errors
    /// [`Error::Transport`] when a header name or value is invalid or the
    /// TLS setup fails.
    pub fn new(opts: ClientOptions) -> Result<Self, Error> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &opts.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(transport)?;
            let value = reqwest::header::HeaderValue::from_str(v).map_err(transport)?;
            headers.append(name, value);
        }
        // No idle connections: announces are minutes apart, and trackers
        // such as opentracker close after each answer, so a pooled
        // connection would race their close (connection reset).
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(opts.timeout)
            .user_agent(opts.user_agent.clone())
            .default_headers(headers)
            .local_address(opts.local_address)
            .build()
            .map_err(transport)?;
        Ok(TrackerClient { http, opts })
    }

    /// The options.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Announces to `tracker` (`http://`, `https://` or `udp://` URL).
    ///
    /// # Errors
    /// [`Error::Tracker`] wrapping: [`Error::Failure`] (the tracker
    /// refused), [`Error::Timeout`], [`Error::Transport`], [`Error::Url`],
    /// or a parse error of the response.
    pub async fn announce(
        &self,
        tracker: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, Error> {
        let work = async {
            if is_udp(tracker) {
                match self.udp(tracker, Query::Announce(req.clone())).await? {
                    UdpClientEvent::Announced { response, .. } => Ok(response),
                    other => Err(unexpected(other)),
                }
            } else {
                let body = self.get(&announce_url(tracker, req)?).await?;
                parse_announce_response(&body)
            }
        };
        self.bounded(work)
            .await
            .map_err(|e| e.with_tracker(tracker))
    }

    /// Scrapes `tracker` for `info_hashes` (BEP 48 over HTTP, at most 74
    /// over UDP).
    ///
    /// # Errors
    /// As [`announce`](Self::announce), plus [`Error::ScrapeUnsupported`]
    /// for an HTTP URL without `announce` as its last path segment.
    pub async fn scrape(
        &self,
        tracker: &str,
        info_hashes: &[InfoHash],
    ) -> Result<ScrapeResponse, Error> {
        let work = async {
            if is_udp(tracker) {
                match self
                    .udp(tracker, Query::Scrape(info_hashes.to_vec()))
                    .await?
                {
                    UdpClientEvent::Scraped { response, .. } => Ok(response),
                    other => Err(unexpected(other)),
                }
            } else {
                let body = self.get(&scrape_url(tracker, info_hashes)?).await?;
                parse_scrape_response(&body)
            }
        };
        self.bounded(work)
            .await
            .map_err(|e| e.with_tracker(tracker))
    }

    /// Announces to the first tracker of `tiers` that answers, in BEP 12
    /// order (tier by tier, each tier in its current order), and moves it
    /// to the front of its tier. Each tracker gets the full
    /// [`timeout`](ClientOptions::timeout). Returns the tracker's URL with
    /// its answer.
    ///
    /// # Errors
    /// The last tracker's error when none answers (a tracker's failure
    /// reason counts as an answer and is returned at once, without trying
    /// the others: the request itself was refused); [`Error::Url`] when
    /// `tiers` is empty.
    pub async fn announce_tiers(
        &self,
        tiers: &mut Tiers<String>,
        req: &AnnounceRequest,
    ) -> Result<(String, AnnounceResponse), Error> {
        let mut last = Error::Url {
            url: String::new(),
            reason: "no tracker to announce to",
        };
        let order: Vec<(Position, String)> = tiers.iter().map(|(p, u)| (p, u.clone())).collect();
        for (pos, url) in order {
            match self.announce(&url, req).await {
                Ok(resp) => {
                    tiers.succeeded(pos);
                    return Ok((url, resp));
                }
                Err(e) if e.failure_reason().is_some() => return Err(e),
                Err(e) => {
                    tracing::debug!("announce to {url} failed: {e}");
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.opts.timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout {
                millis: self.opts.timeout.as_millis() as u64,
            }))
    }

    /// GETs `url` and reads at most `max_response_bytes` of body. A non-2xx
    /// status is a transport error unless its body is a failure response.
    async fn get(&self, url: &str) -> Result<Vec<u8>, Error> {
        let mut resp = self.http.get(url).send().await.map_err(|e| {
            transport(if e.is_timeout() {
                "timed out".to_owned()
            } else {
                error_chain(&e)
            })
        })?;
        let max = self.opts.max_response_bytes;
        let too_big = || transport(format!("response body larger than {max} bytes"));
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_big());
        }
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(error_chain(&e)))? {
            if body.len() + chunk.len() > max {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return match parse_announce_response(&body) {
                Err(e @ Error::Failure { .. }) => Err(e),
                _ => Err(transport(format!("HTTP status {status}"))),
            };
        }
        Ok(body)
    }

    async fn udp(&self, tracker: &str, query: Query) -> Result<UdpClientEvent, Error> {
        let (host, port, url_data) = parse_udp_url(tracker)?;
        let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| transport(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| transport(format!("{host} has no address")))?;
        let bind = match self.opts.local_address {
            Some(ip) if ip.is_ipv6() != addr.is_ipv6() => {
                return Err(transport(format!(
                    "{addr} cannot be reached from the local address {ip}"
                )))
            }
            Some(ip) => SocketAddr::new(ip, 0),
            None if addr.is_ipv6() => SocketAddr::from(([0u16; 8], 0)),
            None => SocketAddr::from(([0u8; 4], 0)),
        };
        let socket = UdpSocket::bind(bind).await.map_err(transport)?;
        socket.connect(addr).await.map_err(transport)?;
        let config = UdpClientConfig {
            ipv6: addr.is_ipv6(),
            base_timeout: self.opts.udp_retransmit,
            url_data,
            ..UdpClientConfig::default()
        };
        let mut client = UdpClient::new(config, rand::random());
        match query {
            Query::Announce(r) => client.announce(r),
            Query::Scrape(h) => client.scrape(h),
        };
        drive(&mut client, &socket).await
    }
}

enum Query {
    Announce(AnnounceRequest),
    Scrape(Vec<InfoHash>),
}

fn unexpected(e: UdpClientEvent) -> Error {
    match e {
        UdpClientEvent::Failed { error, .. } => error,
        other => Error::Transport {
            reason: format!("unexpected result {other:?}"),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Runs `client` on `socket` until it reports an event.
async fn drive(client: &mut UdpClient, socket: &UdpSocket) -> Result<UdpClientEvent, Error> {
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now().into_std();
        while let Some(packet) = client.poll_transmit(now) {
            socket.send(&packet).await.map_err(transport)?;
        }
        if let Some(event) = client.poll_event() {
            return Ok(event);
        }
        let deadline = client
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = socket.recv(&mut buf) => {
                // ICMP port unreachable shows up as an error here; the
                // retransmission schedule handles it like a lost packet.
                if let Ok(n) = r {
                    client.handle_input(Instant::now().into_std(), &buf[..n]);
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                client.handle_timeout(Instant::now().into_std());
            }
        }
        if let Some(event) = client.poll_event() {
            return Ok(event);
        }
    }
}

fn is_udp(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("udp://"))
}

/// Splits `udp://host:port/path?query` into host, port and the BEP 41 URL
/// data (`/path?query`, empty when there is neither).
///
/// # Errors
/// [`Error::Url`] without a port or host.
pub fn parse_udp_url(url: &str) -> Result<(String, u16, Bytes), Error> {
    let bad = |reason| Error::Url {
        url: url.to_owned(),
        reason,
    };
    if !is_udp(url) {
        return Err(bad("scheme is not udp"));
    }
    let rest = &url[6..];
    let rest = rest.split('#').next().unwrap_or(rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (h, p.strip_prefix(':').ok_or_else(|| bad("no port"))?)
    } else {
        authority.rsplit_once(':').ok_or_else(|| bad("no port"))?
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
    let url_data = if path == "/" || path == "/announce" {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(path.as_bytes())
    };
    Ok((host.to_owned(), port, url_data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_urls() {
        let (h, p, d) = parse_udp_url("udp://t.example:6969/announce").unwrap();
        assert_eq!((h.as_str(), p, &d[..]), ("t.example", 6969, &b""[..]));
        let (h, p, d) = parse_udp_url("UDP://[::1]:80/dir?a=b&c=d#x").unwrap();
        assert_eq!((h.as_str(), p, &d[..]), ("::1", 80, &b"/dir?a=b&c=d"[..]));
        for bad in [
            "udp://t.example",
            "udp://:80",
            "http://t:1",
            "udp://t:99999",
            "udp://[::1/",
        ] {
            assert!(
                matches!(parse_udp_url(bad), Err(Error::Url { .. })),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn errors_name_the_tracker() {
        let c = TrackerClient::new(ClientOptions {
            timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        })
        .unwrap();
        let req = AnnounceRequest::new(InfoHash([1; 20]), crate::PeerId([2; 20]), 1);
        // Nothing listens there: the UDP query times out.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let url = format!("udp://{}", sock.local_addr().unwrap());
        let e = c.announce(&url, &req).await.unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("tracker {url}: ")),
            "{e}"
        );
        let e = c.announce("ftp://x/announce", &req).await.unwrap_err();
        assert!(
            matches!(&e, Error::Tracker { source, .. } if matches!(**source, Error::Url { .. })),
            "{e}"
        );
        assert!(TrackerClient::new(ClientOptions {
            headers: vec![("bad header".into(), "x".into())],
            ..ClientOptions::default()
        })
        .is_err());
    }

    /// With `local_address` 127.0.0.2, UDP and HTTP requests to a tracker
    /// on 127.0.0.1 leave from 127.0.0.2; an IPv6 tracker is refused
    /// rather than reached from another address.
    #[tokio::test]
    async fn requests_leave_from_the_local_address() {
        let local: IpAddr = [127, 0, 0, 2].into();
        let c = TrackerClient::new(ClientOptions {
            timeout: Duration::from_millis(500),
            local_address: Some(local),
            ..ClientOptions::default()
        })
        .unwrap();
        let req = AnnounceRequest::new(InfoHash([1; 20]), crate::PeerId([2; 20]), 1);

        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let url = format!("udp://{}", udp.local_addr().unwrap());
        let (r, from) = tokio::join!(c.announce(&url, &req), async {
            let mut buf = [0u8; 2048];
            udp.recv_from(&mut buf).await.unwrap().1
        });
        assert!(r.is_err(), "nobody answers");
        assert_eq!(from.ip(), local);

        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/announce", tcp.local_addr().unwrap());
        let (r, from) = tokio::join!(c.announce(&url, &req), async {
            tcp.accept().await.unwrap().1
        });
        assert!(r.is_err(), "nobody answers");
        assert_eq!(from.ip(), local);

        let e = c.announce("udp://[::1]:1", &req).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot be reached from the local address 127.0.0.2"),
            "{e}"
        );
    }
}
