//! Reading what the user gives: .torrent files, magnet links, peers files,
//! sizes such as `10M`, and "a .torrent path or a magnet link".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use seedbed::metainfo::{Magnet, Torrent};

use crate::Error;

/// Reads and parses a .torrent file.
///
/// # Errors
/// [`Error::Read`] when the file cannot be read, [`Error::Torrent`] when it
/// is not a valid torrent.
pub fn read_torrent(path: &Path) -> Result<Torrent, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Torrent::from_bytes(bytes).map_err(|source| Error::Torrent {
        path: path.to_owned(),
        source,
    })
}

/// Parses a magnet link (BEP 9, BEP 53).
///
/// # Errors
/// [`Error::Magnet`] with what is wrong.
pub fn parse_magnet(uri: &str) -> Result<Magnet, Error> {
    uri.parse().map_err(Error::Magnet)
}

/// Reads a file of peer addresses: one `ip:port` a line; blank lines and
/// lines starting with `#` are skipped (PyBitTorrent's `--peers` file).
///
/// # Errors
/// [`Error::Read`] when the file cannot be read, [`Error::PeerAddress`]
/// naming the first bad line.
pub fn read_peers_file(path: &Path) -> Result<Vec<SocketAddr>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut peers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        peers.push(line.parse().map_err(|_| Error::PeerAddress {
            path: path.to_owned(),
            line: i + 1,
            text: line.to_owned(),
        })?);
    }
    Ok(peers)
}

/// What the user named to download: a .torrent file or a magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A path to a .torrent file.
    Torrent(PathBuf),
    /// A magnet link, as typed.
    Magnet(String),
}

impl Source {
    /// A magnet link when `text` starts with `magnet:` (any case), else a
    /// path. Surrounding white space and quotes (as a terminal pastes a
    /// dropped file) are removed.
    pub fn parse(text: &str) -> Source {
        let t = text.trim().trim_matches(|c| c == '\'' || c == '"');
        if t.len() >= 7 && t[..7].eq_ignore_ascii_case("magnet:") {
            Source::Magnet(t.to_owned())
        } else {
            Source::Torrent(PathBuf::from(t))
        }
    }
}

/// Largest size [`parse_size`] accepts: 2^60 bytes (1 EiB).
pub const MAX_SIZE: u64 = 1 << 60;

/// Parses a size in bytes: a whole or decimal number with an optional unit,
/// `k`/`K`/`KiB`/`kB` = 1024, `M`/`MiB`/`MB` = 1024², `G`/`GiB`/`GB` = 1024³,
/// `T` = 1024⁴, and `B` or none = bytes. `1.5M` is 1572864.
///
/// # Errors
/// A message naming the problem (empty, not a number, unknown unit, over
/// [`MAX_SIZE`]); clap shows it beside the flag.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a size (a number with an optional unit: 512k, 10M, 1.5G)"
        ));
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use k, M, G or T)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes > MAX_SIZE as f64 {
        return Err(format!("{text:?} is larger than 1 EiB"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_size(" 2 G "), Ok(2 << 30));
        assert_eq!(parse_size("1024T"), Ok(1 << 50));
        assert_eq!(parse_size("1048576T"), Ok(1 << 60), "at the limit");
        assert!(parse_size("1048577T").is_err(), "past the limit");
        assert!(parse_size("").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("1.2.3").is_err());
    }

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse(" 'MAGNET:?xt=urn:btih:aa' "),
            Source::Magnet("MAGNET:?xt=urn:btih:aa".into())
        );
        assert_eq!(
            Source::parse("dir/a.torrent\n"),
            Source::Torrent("dir/a.torrent".into())
        );
    }

    #[test]
    fn peers_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("peers.txt");
        std::fs::write(&p, "# seeds\n127.0.0.1:6881\n\n  [::1]:51413  \n").unwrap();
        let peers = read_peers_file(&p).unwrap();
        assert_eq!(peers.len(), 2);
        std::fs::write(&p, "127.0.0.1:6881\nnot an address\n").unwrap();
        let e = read_peers_file(&p).unwrap_err().to_string();
        assert!(e.ends_with(":2: bad address \"not an address\""), "{e}");
        assert!(read_peers_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn bad_torrent_and_magnet_say_what() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.torrent");
        std::fs::write(&p, b"d4:infoi3ee").unwrap();
        let e = read_torrent(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid torrent"), "{e}");
        let e = parse_magnet("magnet:?dn=x").unwrap_err().to_string();
        assert!(e.starts_with("bad magnet link"), "{e}");
    }
}
