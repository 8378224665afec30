//! Connects to one peer for a torrent, handshakes, and reports what the
//! peer is: peer id, client, reserved bits, extensions, and how many
//! pieces it has.
//!
//! ```text
//! cargo run --release --example peer-probe -- --torrent FILE --peer 127.0.0.1:6881 [--json] [--timeout 10]
//! ```
//!
//! Exit status 1 with the reason when the peer is unreachable, closes the
//! connection, answers with another info hash, or does not answer in time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use seedbed::bencode::Entry;
use seedbed::wire::{
    client_name, Bitfield, ExtendedHandshake, ExtensionIds, Handshake, HandshakeCodec,
    HandshakeEvent, InfoHash, Limits, Message, MessageCodec, PeerId, Reserved,
};
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::Framed;

/// Probe one BitTorrent peer.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The .torrent file (v1 or hybrid).
    #[arg(long)]
    torrent: PathBuf,
    /// The peer, as IP:PORT.
    #[arg(long)]
    peer: SocketAddr,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds in all.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

/// What we learn about the peer.
#[derive(Debug)]
struct Report {
    peer_id: PeerId,
    reserved: Reserved,
    extended: Option<ExtendedHandshake>,
    pieces_have: u32,
    num_pieces: u32,
    piece_info: &'static str,
}

fn load_torrent(path: &PathBuf) -> Result<(InfoHash, u32), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc = seedbed::bencode::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let root = Entry::root(doc.root());
    let info = root.key("info").map_err(|e| e.to_string())?;
    // The info hash is the SHA-1 of the info dictionary's exact bytes.
    let info_hash = InfoHash(Sha1::digest(info.value().raw()).into());
    let pieces = match info.opt_key("pieces").map_err(|e| e.to_string())? {
        Some(p) => p.bytes().map_err(|e| e.to_string())?,
        None => return Err("v2-only torrent: this probe handles v1 and hybrid torrents".into()),
    };
    if pieces.len() % 20 != 0 {
        return Err(format!(
            "info.pieces is {} bytes, not a multiple of 20",
            pieces.len()
        ));
    }
    Ok((info_hash, (pieces.len() / 20) as u32))
}

fn our_peer_id() -> PeerId {
    let mut id = *b"-SB0010-000000000000";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, b) in id[8..].iter_mut().enumerate() {
        *b = b'0' + ((nanos >> (i * 3)) % 10) as u8;
    }
    PeerId(id)
}

async fn probe(args: &Args, info_hash: InfoHash, num_pieces: u32) -> Result<Report, String> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let timed_out = || format!("no answer within {} s", args.timeout);
    let stream = timeout_at(deadline, TcpStream::connect(args.peer))
        .await
        .map_err(|_| format!("cannot connect to {}: {}", args.peer, timed_out()))?
        .map_err(|e| format!("cannot connect to {}: {e}", args.peer))?;

    let reserved = Reserved::ZERO
        .with(Reserved::FAST)
        .with(Reserved::EXTENSION_PROTOCOL);
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    let ours = Handshake::new(info_hash, our_peer_id()).with_reserved(reserved);
    framed
        .send(ours)
        .await
        .map_err(|e| format!("sending the handshake: {e}"))?;
    let theirs = loop {
        match timeout_at(deadline, framed.next()).await {
            Err(_) => return Err(format!("handshake: {}", timed_out())),
            Ok(None) => return Err("the peer closed the connection during the handshake".into()),
            Ok(Some(Err(e))) => return Err(format!("handshake: {e}")),
            Ok(Some(Ok(HandshakeEvent::Complete(hs)))) => break hs,
            Ok(Some(Ok(HandshakeEvent::Prefix(_)))) => {}
        }
    };
    if theirs.info_hash != info_hash {
        return Err(format!(
            "the peer answered with info hash {}, expected {info_hash}",
            theirs.info_hash
        ));
    }

    let both = reserved.intersect(&theirs.reserved);
    let limits = Limits::new().num_pieces(num_pieces);
    let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
    let ids = ExtensionIds::with_defaults();
    if both.extension_protocol() {
        let mut ext = ids.our_handshake();
        ext.v = Some(concat!("seedbed peer-probe ", env!("CARGO_PKG_VERSION")).into());
        framed
            .send(ext.to_message())
            .await
            .map_err(|e| e.to_string())?;
    }
    if both.fast() {
        framed
            .send(Message::HaveNone)
            .await
            .map_err(|e| e.to_string())?;
    }

    let mut report = Report {
        peer_id: theirs.peer_id,
        reserved: theirs.reserved,
        extended: None,
        pieces_have: 0,
        num_pieces,
        piece_info: "none received",
    };
    let mut have = Bitfield::new(num_pieces);
    let mut got_pieces = false;
    // A peer with no pieces and no fast extension sends nothing: after the
    // first second, stop waiting once the extended handshake is in.
    let quiet = Instant::now() + Duration::from_secs(1);
    loop {
        let want_ext = both.extension_protocol() && report.extended.is_none();
        if !want_ext && got_pieces {
            break;
        }
        let until = if want_ext {
            deadline
        } else {
            quiet.min(deadline)
        };
        let msg = match timeout_at(until, framed.next()).await {
            Err(_) if want_ext => return Err(format!("extended handshake: {}", timed_out())),
            Err(_) => break,
            Ok(None) => return Err("the peer closed the connection".into()),
            Ok(Some(Err(e))) => return Err(format!("protocol error: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Extended { id: 0, payload } => {
                let hs = ExtendedHandshake::decode(&payload, &limits).map_err(|e| e.to_string())?;
                report.extended = Some(hs);
            }
            Message::Bitfield(b) => {
                have = Bitfield::from_payload(&b, num_pieces).map_err(|e| e.to_string())?;
                report.piece_info = "bitfield";
                got_pieces = true;
            }
            Message::HaveAll => {
                have = Bitfield::full(num_pieces);
                report.piece_info = "have all";
                got_pieces = true;
            }
            Message::HaveNone => {
                report.piece_info = "have none";
                got_pieces = true;
            }
            Message::Have { piece } => have.set(piece, true),
            _ => {}
        }
    }
    report.pieces_have = have.count_ones();
    Ok(report)
}

fn json_string(s: &str) -> serde_json::Value {
    serde_json::Value::String(s.to_owned())
}

fn print_report(args: &Args, r: &Report) {
    let client = client_name(&r.peer_id);
    let extensions: BTreeMap<String, u8> = r
        .extended
        .as_ref()
        .map(|e| {
            e.m.iter()
                .filter(|(_, &id)| id != 0)
                .map(|(k, &v)| (k.clone(), v))
                .collect()
        })
        .unwrap_or_default();
    if args.json {
        let obj = serde_json::json!({
            "peer_id": r.peer_id.to_hex(),
            "client": client.as_deref().map(json_string),
            "fast": r.reserved.fast(),
            "extension_protocol": r.reserved.extension_protocol(),
            "extensions": extensions,
            "pieces_have": r.pieces_have,
            "num_pieces": r.num_pieces,
        });
        println!("{obj}");
        return;
    }
    let printable: String = r
        .peer_id
        .0
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect();
    println!("peer         {}", args.peer);
    println!("peer id      {} ({printable})", r.peer_id);
    println!("client       {}", client.as_deref().unwrap_or("unknown"));
    if let Some(v) = r.extended.as_ref().and_then(|e| e.v.as_deref()) {
        println!("client (v)   {v}");
    }
    println!("reserved     {:?}", r.reserved);
    let ext: Vec<String> = extensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "extensions   {}",
        if ext.is_empty() {
            "none".into()
        } else {
            ext.join(" ")
        }
    );
    if let Some(q) = r.extended.as_ref().and_then(|e| e.reqq) {
        println!("reqq         {q}");
    }
    println!(
        "pieces       {}/{} ({})",
        r.pieces_have, r.num_pieces, r.piece_info
    );
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (info_hash, num_pieces) = match load_torrent(&args.torrent) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(probe(&args, info_hash, num_pieces)) {
        Ok(report) => {
            print_report(&args, &report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.peer);
            ExitCode::FAILURE
        }
    }
}
