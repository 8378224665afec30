//! Client names from peer ids (BEP 20 conventions).

use seedbed_metainfo::PeerId;

/// Azureus-style two-letter client codes (`-XXvvvv-`), as listed in BEP 20
/// and used in the wild.
const AZUREUS: &[(&[u8; 2], &str)] = &[
    (b"AZ", "Vuze"),
    (b"BC", "BitComet"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent (Rasterbar)"),
    (b"lt", "libtorrent (rakshasa)"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"RQ", "rqbit"),
    (b"rQ", "rqbit"),
    (b"SB", "seedbed"),
    (b"SD", "Thunder"),
    (b"TR", "Transmission"),
    (b"TX", "Tixati"),
    (b"UM", "\u{b5}Torrent Mac"),
    (b"UT", "\u{b5}Torrent"),
    (b"UW", "\u{b5}Torrent Web"),
    (b"WD", "WebTorrent Desktop"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
];

/// Shadow-style one-letter client codes (`Xvvv--...`).
const SHADOW: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'O', "Osprey Permaculture"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow's client"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

/// Shadow-style version digits: `0-9`, `A-Z`, `a-z`, `.`, `-` → 0..64.
fn shadow_digit(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A') + 10,
        b'a'..=b'z' => u32::from(c - b'a') + 36,
        b'.' => 62,
        _ => return None,
    })
}

/// A human-readable client name and version from a peer id, when the id
/// follows a known convention (BEP 20):
///
/// * Azureus style, `-` two letters, four version characters, `-`:
///   `-LT2080-` → `"libtorrent (Rasterbar) 2.0.8.0"`; an unknown code
///   gives the code itself, `-ZZ1234-` → `"ZZ 1.2.3.4"`.
/// * Shadow style, one letter then up to five version characters and
///   dashes: `S58B-----` → `"Shadow's client 5.8.11"`.
/// * Mainline style, `M4-3-6--` → `"Mainline 4.3.6"`.
///
/// `None` when the id matches no convention (random ids, old clients).
///
/// ```
/// use seedbed_metainfo::PeerId;
/// use seedbed_peer_wire::client_name;
/// let id = PeerId(*b"-LT2080-abcdefghijkl");
/// assert_eq!(client_name(&id).as_deref(), Some("libtorrent (Rasterbar) 2.0.8.0"));
/// assert_eq!(client_name(&PeerId([0; 20])), None);
/// ```
pub fn client_name(id: &PeerId) -> Option<String> {
    let b = &id.0;
    if b[0] == b'-' && b[7] == b'-' && b[1..3].iter().all(u8::is_ascii_alphabetic) {
        let version = &b[3..7];
        if version.iter().all(u8::is_ascii_alphanumeric) {
            let code = [b[1], b[2]];
            let name = AZUREUS.iter().find(|(c, _)| **c == code).map_or_else(
                || String::from_utf8_lossy(&code).into_owned(),
                |(_, n)| (*n).to_owned(),
            );
            let parts: Vec<String> = version
                .iter()
                .map(|&c| shadow_digit(c).map_or(String::new(), |d| d.to_string()))
                .collect();
            return Some(format!("{name} {}", parts.join(".")));
        }
    }
    if b[0] == b'M' {
        // M<major>-<minor>-<patch>--, each part one or more digits.
        let text = std::str::from_utf8(&b[1..8]).ok()?;
        let parts: Vec<&str> = text.split('-').filter(|p| !p.is_empty()).collect();
        if parts.len() == 3 && parts.iter().all(|p| p.bytes().all(|c| c.is_ascii_digit())) {
            return Some(format!("Mainline {}", parts.join(".")));
        }
    }
    if let Some((_, name)) = SHADOW.iter().find(|(c, _)| *c == b[0]) {
        // Up to five version characters, then at least one dash filling to
        // byte 6 (byte 6 onwards is random).
        let end = b[1..6].iter().position(|&c| c == b'-').map_or(5, |p| p);
        let digits: Option<Vec<u32>> = b[1..1 + end].iter().map(|&c| shadow_digit(c)).collect();
        let digits = digits?;
        if !digits.is_empty() && b[1 + end..6].iter().all(|&c| c == b'-') && end < 5 {
            let v: Vec<String> = digits.iter().map(u32::to_string).collect();
            return Some(format!("{name} {}", v.join(".")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..prefix.len()].copy_from_slice(prefix);
        PeerId(b)
    }

    #[test]
    fn known_styles() {
        assert_eq!(
            client_name(&id(b"-TR3000-")).as_deref(),
            Some("Transmission 3.0.0.0")
        );
        assert_eq!(
            client_name(&id(b"-qB4650-")).as_deref(),
            Some("qBittorrent 4.6.5.0")
        );
        assert_eq!(
            client_name(&id(b"-ZZ12a4-")).as_deref(),
            Some("ZZ 1.2.36.4")
        );
        assert_eq!(
            client_name(&id(b"S58B-----")).as_deref(),
            Some("Shadow's client 5.8.11")
        );
        assert_eq!(
            client_name(&id(b"T03I-----")).as_deref(),
            Some("BitTornado 0.3.18")
        );
        assert_eq!(
            client_name(&id(b"M4-3-6--")).as_deref(),
            Some("Mainline 4.3.6")
        );
        assert_eq!(client_name(&id(b"-LT20")), None);
        assert_eq!(client_name(&id(b"Sxxxxxx")), None);
        assert_eq!(client_name(&PeerId([0xff; 20])), None);
    }
}
