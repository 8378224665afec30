//! Against a real uTP stack: python3-libtorrent on 127.0.0.1 with TCP off
//! and uTP on (`tests/scripts/utp_peer.py`), seeding a small torrent.
//!
//! * Our `UtpSocket::connect` reaches it: BitTorrent handshake, bitfield,
//!   interested / unchoke, and the whole torrent (2.5 MiB), verified.
//! * libtorrent dials our `accept` and gets a handshake answer: it goes on
//!   to send its bitfield.
//!
//! Without python3-libtorrent: SKIPPED, or FAIL when `CI=true`.
#![cfg(feature = "tokio")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use seedbed_bencode::{Encode, OwnedValue};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId, BLOCK_LEN,
};
use seedbed_testbed::{have_libtorrent, PYTHON};
use seedbed_utp::{UtpSocket, UtpStream};
use sha1::{Digest, Sha1};
use tokio_util::codec::Framed;

const PIECE_LEN: usize = 64 * 1024;
const DATA_LEN: usize = 40 * PIECE_LEN + 12_345;

/// The peer process and its folder: killed, reaped and removed on drop,
/// also when a test panics.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Peer {
    fn command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }
}

/// Writes `data.bin` and `test.torrent`; returns the info hash.
fn make_torrent(dir: &Path, data: &[u8]) -> InfoHash {
    std::fs::write(dir.join("data.bin"), data).unwrap();
    let hashes: Vec<u8> = data
        .chunks(PIECE_LEN)
        .flat_map(|p| <[u8; 20]>::from(Sha1::digest(p)))
        .collect();
    let mut info = OwnedValue::dict();
    info.insert("length", data.len() as i64);
    info.insert("name", "data.bin");
    info.insert("piece length", PIECE_LEN as i64);
    info.insert("pieces", hashes);
    let info_bytes = info.to_bencode();
    let info_hash = InfoHash(Sha1::digest(&info_bytes).into());
    let mut torrent = OwnedValue::dict();
    torrent.insert("info", info);
    std::fs::write(dir.join("test.torrent"), torrent.to_bencode()).unwrap();
    info_hash
}

fn start_peer(name: &str, data: &[u8]) -> (Peer, InfoHash) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("seedbed-utp-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let info_hash = make_torrent(&dir, data);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/utp_peer.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .arg(dir.join("test.torrent"))
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take();
    let mut peer = Peer {
        child,
        stdin,
        dir,
        port: 0,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("libtorrent did not start within 30 s");
    peer.port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {line:?}"));
    assert_ne!(peer.port, 0);
    (peer, info_hash)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const NUM_PIECES: u32 = DATA_LEN.div_ceil(PIECE_LEN) as u32;

/// Handshake as the dialling side, then download every piece.
async fn fetch_all(stream: UtpStream, info_hash: InfoHash) -> Vec<u8> {
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    framed
        .send(Handshake::new(info_hash, PeerId(*b"-SB0001-utp-interop1")))
        .await
        .unwrap();
    match framed.next().await {
        Some(Ok(HandshakeEvent::Complete(h))) => assert_eq!(h.info_hash, info_hash),
        other => panic!("no handshake from libtorrent: {other:?}"),
    }
    let limits = Limits::new().num_pieces(NUM_PIECES);
    let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
    framed.send(Message::Interested).await.unwrap();
    let requests: Vec<BlockRequest> = (0..DATA_LEN.div_ceil(BLOCK_LEN as usize))
        .map(|i| {
            let start = i * BLOCK_LEN as usize;
            BlockRequest {
                piece: (start / PIECE_LEN) as u32,
                begin: (start % PIECE_LEN) as u32,
                length: (DATA_LEN - start).min(BLOCK_LEN as usize) as u32,
            }
        })
        .collect();
    let mut out = vec![0u8; DATA_LEN];
    let mut received = 0usize;
    let mut next = 0usize;
    let mut unchoked = false;
    while received < requests.len() {
        // Keep 64 requests out (below libtorrent's default queue).
        while unchoked && next < requests.len() && next - received < 64 {
            framed.send(Message::Request(requests[next])).await.unwrap();
            next += 1;
        }
        let msg = framed
            .next()
            .await
            .expect("libtorrent closed the connection")
            .expect("a valid message");
        match msg {
            Message::Unchoke => unchoked = true,
            Message::Choke => unchoked = false,
            Message::Piece(block) => {
                let at = block.piece as usize * PIECE_LEN + block.begin as usize;
                out[at..at + block.data.len()].copy_from_slice(&block.data);
                received += 1;
            }
            _ => {}
        }
    }
    out
}

#[test]
fn our_connect_downloads_a_torrent_from_libtorrent_over_utp() {
    if !have_libtorrent() {
        return;
    }
    let data = common::data(42, DATA_LEN);
    let (peer, info_hash) = start_peer("seed", &data);
    let port = peer.port;
    let got = runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
            let stream = socket
                .connect(([127, 0, 0, 1], port).into())
                .await
                .expect("uTP connect to libtorrent");
            let stats_before = stream.stats().unwrap();
            assert_eq!(stats_before.packets_received, 1, "the STATE");
            fetch_all(stream, info_hash).await
        })
        .await
        .expect("timed out talking to libtorrent over uTP")
    });
    assert!(got == data, "downloaded data differs");
    drop(peer);
}

#[test]
fn libtorrent_dials_our_accept_and_gets_a_handshake_answer() {
    if !have_libtorrent() {
        return;
    }
    let data = common::data(43, DATA_LEN);
    let (mut peer, info_hash) = start_peer("dial", &data);
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let socket = UtpSocket::bind("127.0.0.1:0").await.unwrap();
            let our_port = socket.local_addr().port();
            peer.command(&format!("connect {our_port}"));
            let (stream, from) = socket.accept().await.expect("libtorrent dials us");
            assert!(from.ip().is_loopback());
            let mut framed = Framed::new(stream, HandshakeCodec::new());
            let theirs = match framed.next().await {
                Some(Ok(HandshakeEvent::Complete(h))) => h,
                other => panic!("no handshake from libtorrent: {other:?}"),
            };
            assert_eq!(theirs.info_hash, info_hash);
            framed
                .send(Handshake::new(info_hash, PeerId(*b"-SB0001-utp-interop2")))
                .await
                .unwrap();
            // libtorrent took our answer: a seeder follows with what it has.
            let limits = Limits::new().num_pieces(NUM_PIECES);
            let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
            let mut saw_have = false;
            for _ in 0..10 {
                match framed.next().await {
                    Some(Ok(Message::Bitfield(_) | Message::HaveAll)) => {
                        saw_have = true;
                        break;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("libtorrent ended the connection: {other:?}"),
                }
            }
            assert!(saw_have, "libtorrent sent its bitfield");
            // And data flows our way too: fetch a block.
            framed.send(Message::Interested).await.unwrap();
            loop {
                match framed.next().await {
                    Some(Ok(Message::Unchoke)) => break,
                    Some(Ok(_)) => {}
                    other => panic!("no unchoke: {other:?}"),
                }
            }
            framed
                .send(Message::Request(BlockRequest {
                    piece: 40,
                    begin: 0,
                    length: 12_345,
                }))
                .await
                .unwrap();
            loop {
                match framed.next().await {
                    Some(Ok(Message::Piece(b))) => {
                        assert_eq!(&b.data[..], &data[40 * PIECE_LEN..]);
                        break;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("no piece: {other:?}"),
                }
            }
        })
        .await
        .expect("timed out waiting for libtorrent over uTP")
    });
    drop(peer);
}
