//! `seedbed probe`: flags, what a probe learns, and output.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use seedbed::wire::{client_name, ExtendedHandshake, PeerId, Reserved};

/// Probe one BitTorrent peer: connect, handshake, and report its peer id,
/// client, reserved bits, extensions and how many pieces it has.
///
/// Exit status 1 with the reason when the peer is unreachable, closes the
/// connection, answers with another info hash, or does not answer in time.
#[derive(Parser, Debug, Clone)]
#[command(name = "peer-probe")]
pub struct ProbeArgs {
    /// The .torrent file (v1 or hybrid).
    #[arg(long, value_name = "FILE")]
    pub torrent: PathBuf,
    /// The peer, as IP:PORT.
    #[arg(long, value_name = "ADDR")]
    pub peer: SocketAddr,
    /// Print one JSON object instead of text: `peer_id` (hex), `client`,
    /// `fast`, `extension_protocol`, `extensions` (name: id),
    /// `pieces_have`, `num_pieces`.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds in all.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

impl ProbeArgs {
    /// `--timeout` as a duration (0 for a negative or invalid number, at
    /// most a day).
    pub fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.timeout.clamp(0.0, 86_400.0)).unwrap_or_default()
    }
}

/// What a probe learned about a peer.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Its 20-byte peer id.
    pub peer_id: PeerId,
    /// Its reserved handshake bytes (BEP 3, 5, 6, 10).
    pub reserved: Reserved,
    /// Its extension handshake (BEP 10), if it sent one.
    pub extended: Option<ExtendedHandshake>,
    /// Pieces it said it has.
    pub pieces_have: u32,
    /// Pieces in the torrent.
    pub num_pieces: u32,
    /// How it told us: `bitfield`, `have all`, `have none` (BEP 6) or
    /// `none received`.
    pub piece_info: &'static str,
}

impl ProbeReport {
    /// What `probe` prints: text, or with `json` one JSON object on one
    /// line. Ends with a newline.
    pub fn render(&self, json: bool) -> String {
        let client = client_name(&self.peer_id);
        let extensions: BTreeMap<String, u8> = self
            .extended
            .as_ref()
            .map(|e| {
                e.m.iter()
                    .filter(|(_, &id)| id != 0)
                    .map(|(k, &v)| (k.clone(), v))
                    .collect()
            })
            .unwrap_or_default();
        if json {
            let obj = serde_json::json!({
                "peer_id": self.peer_id.to_hex(),
                "client": client,
                "fast": self.reserved.fast(),
                "extension_protocol": self.reserved.extension_protocol(),
                "extensions": extensions,
                "pieces_have": self.pieces_have,
                "num_pieces": self.num_pieces,
            });
            return format!("{obj}\n");
        }
        let printable: String = self
            .peer_id
            .0
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        let mut out = format!("peer         {}\n", self.peer);
        out += &format!("peer id      {} ({printable})\n", self.peer_id);
        out += &format!("client       {}\n", client.as_deref().unwrap_or("unknown"));
        if let Some(v) = self.extended.as_ref().and_then(|e| e.v.as_deref()) {
            out += &format!("client (v)   {v}\n");
        }
        out += &format!("reserved     {:?}\n", self.reserved);
        let ext: Vec<String> = extensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let ext = if ext.is_empty() {
            "none".to_owned()
        } else {
            ext.join(" ")
        };
        out += &format!("extensions   {ext}\n");
        if let Some(q) = self.extended.as_ref().and_then(|e| e.reqq) {
            out += &format!("reqq         {q}\n");
        }
        out += &format!(
            "pieces       {}/{} ({})\n",
            self.pieces_have, self.num_pieces, self.piece_info
        );
        out
    }
}
