//! `seedbed seed`: flags and output.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use seedbed::session::{EncryptionConfig, EncryptionLevel, EncryptionPolicy};

/// Seed a torrent from data on disk.
///
/// The data is verified first with every core; then it seeds until
/// interrupted (Ctrl-C), and sends `stopped` to the trackers on the way
/// out. Prints `listening on ADDR` once ready.
///
/// Resume data is kept in `DIR/.seedbed/<info hash>.resume`: seeding the
/// same data again trusts the files unchanged since, without reading them.
#[derive(Parser, Debug, Clone)]
#[command(name = "seed")]
pub struct SeedArgs {
    /// The .torrent file.
    #[arg(long, value_name = "FILE")]
    pub torrent: PathBuf,
    /// The folder holding the content (multi-file: `DIR/<name>/...`).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Address to accept peer connections on. A specific IP (e.g. a VPN's)
    /// is also where every outgoing connection leaves from: peers, HTTP and
    /// UDP trackers.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:6881")]
    pub listen: SocketAddr,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// Message Stream Encryption: `disabled` (plain connections only),
    /// `enabled` (either; dial plain, retry encrypted) or `forced`
    /// (encrypted only, both directions).
    #[arg(long, value_name = "POLICY", default_value = "enabled")]
    pub encryption: EncryptionPolicy,
    /// What an encrypted connection's payload may be: `plaintext`, `rc4`
    /// or `both`.
    #[arg(long, value_name = "LEVEL", default_value = "both")]
    pub encryption_level: EncryptionLevel,
    /// The DHT (BEP 5): the torrent is announced there (unless private)
    /// unless --no-dht; through the public routers unless
    /// --dht-bootstrap.
    #[command(flatten)]
    pub dht: crate::dht::DhtFlags,
    /// Peer transports: TCP and uTP (BEP 29) unless --utp-only or
    /// --no-utp.
    #[command(flatten)]
    pub transport: crate::download::TransportFlags,
    /// Print one JSON object per line instead of text: `{"name", "pieces",
    /// "valid_pieces", "listen"}` once seeding, `{"uploaded"}` when
    /// stopping.
    #[arg(long)]
    pub json: bool,
    /// Upload at most this many bytes of piece payload per second
    /// (`500000`, `500k`, `2M`: k and M are KiB and MiB; 0: no limit).
    #[arg(long, value_name = "RATE", value_parser = crate::input::parse_size, default_value = "0")]
    pub max_upload_rate: u64,
    /// Download at most this many bytes of piece payload per second, for
    /// pieces missing from the data (suffixes as --max-upload-rate; 0: no
    /// limit).
    #[arg(long, value_name = "RATE", value_parser = crate::input::parse_size, default_value = "0")]
    pub max_download_rate: u64,
    /// Neither read nor save resume data (`DIR/.seedbed`): verify
    /// everything on disk.
    #[arg(long)]
    pub no_resume: bool,
    /// Most block requests queued from one peer, announced as our `reqq`
    /// (BEP 10; `SessionConfig::max_queued_uploads`). A libtorrent
    /// leecher keeps as many requests in flight as this allows, so it
    /// sets how fast one fast peer can fetch (see `scripts/bench-seed.sh`).
    #[arg(long, value_name = "N", default_value = "2000", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_queued_requests: u32,
}

impl SeedArgs {
    /// The session's resume folder: `DIR/.seedbed`, or `None` with
    /// `--no-resume`.
    pub fn resume_dir(&self) -> Option<PathBuf> {
        (!self.no_resume).then(|| self.data.join(".seedbed"))
    }
}

impl SeedArgs {
    /// The session's encryption settings from `--encryption` and
    /// `--encryption-level`.
    pub fn encryption(&self) -> EncryptionConfig {
        EncryptionConfig {
            level: self.encryption_level,
            ..EncryptionConfig::with_policy(self.encryption)
        }
    }
}

/// The line printed once seeding; ends with a newline.
pub fn render_seeding(
    name: &str,
    pieces: u32,
    valid: u32,
    listen: Option<SocketAddr>,
    json: bool,
) -> String {
    if json {
        let v = serde_json::json!({
            "name": name,
            "pieces": pieces,
            "valid_pieces": valid,
            "listen": listen.map(|a| a.to_string()),
        });
        return format!("{v}\n");
    }
    let listen = listen.map_or_else(|| "no address".to_owned(), |a| a.to_string());
    format!("seeding {name} ({pieces} pieces); listening on {listen}\n")
}

/// The line printed when stopping; ends with a newline.
pub fn render_stopping(uploaded: u64, json: bool) -> String {
    if json {
        format!("{}\n", serde_json::json!({ "uploaded": uploaded }))
    } else {
        format!("uploaded {uploaded} bytes; stopping\n")
    }
}
