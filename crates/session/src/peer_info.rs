//! What a program can show about one peer connection: [`PeerInfo`]
//! (from [`TorrentHandle::peers`](crate::TorrentHandle::peers)), and the
//! client name a peer id announces ([`client_name`]).

use std::net::SocketAddr;
use std::time::Instant;

use seedbed_metainfo::PeerId;

/// How bytes travel to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP (BEP 3).
    Tcp,
    /// uTP over UDP (BEP 29).
    Utp,
}

/// A snapshot of one peer connection. Rates are bytes per second of piece
/// payload, averaged over about 5 s; byte counts are piece payload since
/// the connection was made (message headers, requests and other messages
/// are not counted).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The peer's address: the one we dialled, or where its connection
    /// came from.
    pub addr: SocketAddr,
    /// The 20-byte peer id from its handshake.
    pub peer_id: PeerId,
    /// The client the peer id names, e.g. `"libtorrent 2.0.8"` (see
    /// [`client_name`]).
    pub client: String,
    /// TCP or uTP.
    pub transport: Transport,
    /// The connection is encrypted (BEP 8 / MSE); `false` for plaintext.
    pub encrypted: bool,
    /// We dialled the peer (`false`: it connected to us).
    pub outgoing: bool,
    /// We choke the peer: it may not request from us (BEP 3).
    pub am_choking: bool,
    /// We are interested in the peer's pieces.
    pub am_interested: bool,
    /// The peer chokes us.
    pub peer_choking: bool,
    /// The peer is interested in our pieces.
    pub peer_interested: bool,
    /// The peer sent nothing we asked for within the request timeout; we
    /// ask it for nothing until the snub ends or a block arrives.
    pub snubbed: bool,
    /// Piece payload received from the peer, bytes per second.
    pub download_rate: f64,
    /// Piece payload sent to the peer, bytes per second.
    pub upload_rate: f64,
    /// Piece payload received from the peer on this connection, bytes.
    pub downloaded: u64,
    /// Piece payload sent to the peer on this connection, bytes.
    pub uploaded: u64,
    /// Fraction of the torrent's pieces the peer has, `0.0..=1.0`.
    pub progress: f32,
    /// Blocks we have asked the peer for and not yet received.
    pub requests_out: usize,
    /// When the connection completed its handshake.
    pub connected_at: Instant,
}

/// How a connection was made, filled in by whoever made it (the dialler,
/// the accept loop; the transport and encryption layers set their flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// We dialled.
    pub(crate) outgoing: bool,
    pub(crate) transport: Transport,
    pub(crate) encrypted: bool,
}

impl Link {
    /// A plaintext TCP connection.
    pub(crate) fn tcp(outgoing: bool) -> Link {
        Link {
            outgoing,
            transport: Transport::Tcp,
            encrypted: false,
        }
    }
}

/// What the torrent keeps about a connection for [`PeerInfo`], besides the
/// choke and interest state the choker uses. Updated under the torrent's
/// lock by the peer task (flags, bytes) and the driver (rates, once a
/// second).
#[derive(Debug)]
pub(crate) struct PeerLive {
    pub(crate) peer_id: PeerId,
    pub(crate) link: Link,
    pub(crate) connected_at: Instant,
    pub(crate) am_interested: bool,
    pub(crate) peer_choking: bool,
    pub(crate) snubbed: bool,
    pub(crate) requests_out: usize,
    /// Payload bytes since the connection was made.
    pub(crate) downloaded: u64,
    pub(crate) uploaded: u64,
    /// Rates in bytes per second, and the byte counts when they were last
    /// updated.
    pub(crate) download_rate: f64,
    pub(crate) upload_rate: f64,
    mark: (u64, u64),
}

impl PeerLive {
    pub(crate) fn new(peer_id: PeerId, link: Link) -> PeerLive {
        PeerLive {
            peer_id,
            link,
            connected_at: Instant::now(),
            am_interested: false,
            peer_choking: true,
            snubbed: false,
            requests_out: 0,
            downloaded: 0,
            uploaded: 0,
            download_rate: 0.0,
            upload_rate: 0.0,
            mark: (0, 0),
        }
    }

    /// Folds the bytes since the last call, `dt` seconds ago, into the
    /// rates: an exponential average over about 5 s, as the torrent's.
    pub(crate) fn update_rates(&mut self, dt: f64) {
        let dt = dt.max(1e-3);
        let down = (self.downloaded - self.mark.0) as f64 / dt;
        let up = (self.uploaded - self.mark.1) as f64 / dt;
        self.download_rate = 0.8 * self.download_rate + 0.2 * down;
        self.upload_rate = 0.8 * self.upload_rate + 0.2 * up;
        self.mark = (self.downloaded, self.uploaded);
    }
}

/// Clients known by their two-letter Azureus-style code (`-XX1234-`); a
/// small table of the common ones. Unknown codes show as the code itself.
const AZUREUS_CODES: &[(&[u8; 2], &str)] = &[
    (b"AZ", "Vuze"),
    (b"BC", "BitComet"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent"),
    (b"lt", "rTorrent"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"rQ", "rqbit"),
    (b"SB", "seedbed"),
    (b"SD", "Xunlei"),
    (b"TR", "Transmission"),
    (b"TX", "Tixati"),
    (b"UM", "µTorrent Mac"),
    (b"UT", "µTorrent"),
    (b"UW", "µTorrent Web"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
];

/// Clients known by their one-letter Shadow-style code (`S58B-----…`) or
/// Mainline-style code (`M7-4-3--…`).
const SHADOW_CODES: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'M', "Mainline"),
    (b'O', "Osprey Permaseed"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

/// A version digit of an Azureus- or Shadow-style id: `0-9`, then `A-Z`
/// for 10-35, `a-z` for 36-61, `.` 62 and `-` 63 (as libtorrent and
/// Transmission read them).
fn version_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 36),
        b'.' => Some(62),
        b'-' => Some(63),
        _ => None,
    }
}

fn printable(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// `-XX1234-`: a dash, a two-character client code, four version
/// characters, a dash. Returns the name and the version.
fn azureus(id: &[u8; 20]) -> Option<String> {
    if id[0] != b'-' || id[7] != b'-' || !printable(id[1]) || !printable(id[2]) {
        return None;
    }
    let v: Vec<u32> = id[3..7]
        .iter()
        .map(|&c| version_digit(c).filter(|d| *d < 62))
        .collect::<Option<_>>()?;
    let code = [id[1], id[2]];
    let name = AZUREUS_CODES.iter().find(|(c, _)| **c == code).map_or_else(
        || String::from_utf8_lossy(&code).into_owned(),
        |(_, n)| (*n).to_string(),
    );
    let mut s = format!("{name} {}.{}.{}", v[0], v[1], v[2]);
    if v[3] != 0 {
        s.push_str(&format!(".{}", v[3]));
    }
    Some(s)
}

/// Shadow style: a letter, then five version characters padded with `-`
/// (e.g. `S58B-----`, `T03I--`); Mainline style: a letter and three
/// dash-separated decimal numbers ending in `--` (e.g. `M7-4-3--`).
fn shadow_or_mainline(id: &[u8; 20]) -> Option<String> {
    let (_, name) = SHADOW_CODES.iter().find(|(c, _)| *c == id[0])?;
    let head = &id[1..];
    // Mainline: M<digits>-<digits>-<digits>--
    let text: String = head
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'-')
        .map(|&c| c as char)
        .collect();
    if let Some(end) = text.find("--") {
        let parts: Vec<&str> = text[..end].split('-').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3) {
            return Some(format!("{name} {}", parts.join(".")));
        }
    }
    // Shadow: version characters up to the first '-' of the five, then
    // only dashes.
    let version = &head[..5];
    let end = version.iter().position(|c| *c == b'-')?;
    if end == 0 || !version[end..].iter().all(|c| *c == b'-') {
        return None;
    }
    let v: Vec<String> = version[..end]
        .iter()
        .map(|&c| version_digit(c).filter(|d| *d < 62).map(|d| d.to_string()))
        .collect::<Option<_>>()?;
    Some(format!("{name} {}", v.join(".")))
}

/// The client a peer id names, as libtorrent's `identify_client` reads
/// it: Azureus style (`-LT2080-…` is `"libtorrent 2.0.8"`, `-TR3000-…`
/// `"Transmission 3.0.0"`, `-qB4650-…` `"qBittorrent 4.6.5"`), Shadow
/// style (`S58B-----…` is `"Shadow 5.8.11"`), Mainline style
/// (`M7-4-3--…` is `"Mainline 7.4.3"`); otherwise `"Unknown [<printable
/// bytes>]"` with `.` for the others. Never fails on any 20 bytes.
pub fn client_name(peer_id: &PeerId) -> String {
    let id = &peer_id.0;
    if let Some(s) = azureus(id).or_else(|| shadow_or_mainline(id)) {
        return s;
    }
    let shown: String = id
        .iter()
        .map(|&c| if printable(c) { c as char } else { '.' })
        .collect();
    format!("Unknown [{shown}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(prefix: &[u8]) -> PeerId {
        let mut b = *b"xxxxxxxxxxxxxxxxxxxx";
        b[..prefix.len()].copy_from_slice(prefix);
        PeerId(b)
    }

    #[test]
    fn azureus_style() {
        assert_eq!(client_name(&id(b"-LT2080-")), "libtorrent 2.0.8");
        assert_eq!(client_name(&id(b"-lt0D80-")), "rTorrent 0.13.8");
        assert_eq!(client_name(&id(b"-TR3000-")), "Transmission 3.0.0");
        assert_eq!(client_name(&id(b"-TR400B-")), "Transmission 4.0.0.11");
        assert_eq!(client_name(&id(b"-qB4650-")), "qBittorrent 4.6.5");
        assert_eq!(client_name(&id(b"-UT355W-")), "µTorrent 3.5.5.32");
        assert_eq!(client_name(&id(b"-DE13F0-")), "Deluge 1.3.15");
        assert_eq!(client_name(&id(b"-rQ0001-")), "rqbit 0.0.0.1");
        assert_eq!(client_name(&id(b"-SB0100-")), "seedbed 0.1.0");
        // An unknown code shows as itself.
        assert_eq!(client_name(&id(b"-ZZ1230-")), "ZZ 1.2.3");
    }

    #[test]
    fn shadow_and_mainline_style() {
        assert_eq!(client_name(&id(b"S58B-----")), "Shadow 5.8.11");
        assert_eq!(client_name(&id(b"T03I--")), "BitTornado 0.3.18");
        assert_eq!(client_name(&id(b"M7-4-3--")), "Mainline 7.4.3");
        assert_eq!(
            client_name(&id(b"M4-20-8-")),
            "Unknown [M4-20-8-xxxxxxxxxxxx]"
        );
    }

    #[test]
    fn unknown_ids_are_shown_printable() {
        let mut b = [0u8; 20];
        b[0] = b'-';
        b[1] = 0xff;
        assert_eq!(
            client_name(&PeerId(b)),
            format!("Unknown [-{}]", ".".repeat(19))
        );
        assert_eq!(
            client_name(&id(b"-LT2\x0080-")),
            "Unknown [-LT2.80-xxxxxxxxxxxx]"
        );
    }

    proptest! {
        #[test]
        fn any_id_has_a_name(b in proptest::array::uniform20(any::<u8>())) {
            let name = client_name(&PeerId(b));
            prop_assert!(!name.is_empty());
        }
    }

    #[test]
    fn rates_average_over_seconds() {
        let mut p = PeerLive::new(PeerId([0; 20]), Link::tcp(true));
        for _ in 0..30 {
            p.downloaded += 1000;
            p.update_rates(1.0);
        }
        assert!(
            (p.download_rate - 1000.0).abs() < 5.0,
            "{}",
            p.download_rate
        );
        assert_eq!(p.upload_rate, 0.0);
        p.update_rates(1.0);
        assert!((p.download_rate - 800.0).abs() < 5.0, "{}", p.download_rate);
    }
}
