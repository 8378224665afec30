//! Connects to one peer for a torrent, handshakes, and reports what the
//! peer is: peer id, client, reserved bits, extensions, and how many
//! pieces it has (`seedbed probe`).
//!
//! ```text
//! cargo run --release --example peer-probe -- --torrent FILE --peer 127.0.0.1:6881 [--json] [--timeout 10]
//! ```
//!
//! Exit status 1 with the reason when the peer is unreachable, closes the
//! connection, answers with another info hash, or does not answer in time.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use seedbed::bencode::Entry;
use seedbed::wire::{
    Bitfield, ExtendedHandshake, ExtensionIds, Handshake, HandshakeCodec, HandshakeEvent, InfoHash,
    Limits, Message, MessageCodec, Reserved,
};
use seedbed_cli::probe::{ProbeArgs, ProbeReport};
use seedbed_cli::{ids, Error};
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_util::codec::Framed;

fn main() -> ExitCode {
    let args = ProbeArgs::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    seedbed_cli::exit(rt.block_on(run(args)))
}

pub(crate) async fn run(args: ProbeArgs) -> Result<(), Error> {
    let (info_hash, num_pieces) = load_torrent(&args.torrent).map_err(Error::Failed)?;
    let report = probe(&args, info_hash, num_pieces)
        .await
        .map_err(|e| Error::failed(format!("{}: {e}", args.peer)))?;
    print!("{}", report.render(args.json));
    Ok(())
}

/// The info hash and piece count, read with the bencode decoder alone.
fn load_torrent(path: &Path) -> Result<(InfoHash, u32), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc = seedbed::bencode::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let root = Entry::root(doc.root());
    let info = root
        .key("info")
        .map_err(|e| format!("{}: {e}", path.display()))?;
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

async fn probe(
    args: &ProbeArgs,
    info_hash: InfoHash,
    num_pieces: u32,
) -> Result<ProbeReport, String> {
    let deadline = Instant::now() + args.timeout();
    let timed_out = || format!("no answer within {} s", args.timeout);
    let stream = timeout_at(deadline, TcpStream::connect(args.peer))
        .await
        .map_err(|_| format!("cannot connect: {}", timed_out()))?
        .map_err(|e| format!("cannot connect: {e}"))?;

    let reserved = Reserved::ZERO
        .with(Reserved::FAST)
        .with(Reserved::EXTENSION_PROTOCOL);
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    let (peer_id, _) = ids::peer_id_and_key(b"-SB0010-");
    let ours = Handshake::new(info_hash, peer_id).with_reserved(reserved);
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
    let ext_ids = ExtensionIds::with_defaults();
    if both.extension_protocol() {
        let mut ext = ext_ids.our_handshake();
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

    let mut report = ProbeReport {
        peer: args.peer,
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
