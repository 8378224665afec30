//! Seeds a single-file torrent to one BitTorrent peer over uTP: binds a
//! `UtpSocket` on 127.0.0.1, prints `PORT <n>`, accepts one connection,
//! answers its handshake, sends a full bitfield, unchokes on interest and
//! serves every request from the file (read into memory first) until the
//! peer closes. Then prints the rate, this process's CPU time and the
//! connection's counters. Used by `scripts/bench_utp.py --upload` with a
//! python3-libtorrent leecher.
//!
//! Settings can be changed through the environment (see
//! `config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example libtorrent_upload -- DATA_FILE INFO_HASH_HEX PIECE_LENGTH`

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    Bitfield, Block, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId,
};
use seedbed_utp::{EndpointConfig, UtpSocket};
use tokio_util::codec::Framed;

/// User plus system CPU time of this process (Linux; zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn parse_hex(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    assert_eq!(s.len(), 40, "INFO_HASH_HEX is 40 hex digits");
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex digit");
    }
    out
}

/// The endpoint settings, with overrides from the environment to compare
/// settings in one build: `UTP_SOCKET_BUFFER` (bytes, 0 for the system's),
/// `UTP_ACK_EVERY` (packets), `UTP_MAX_WINDOW` (bytes), `UTP_MTU` (bytes).
fn config_from_env() -> EndpointConfig {
    let var = |name: &str| -> Option<u64> {
        let v = std::env::var(name).ok()?;
        Some(
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        )
    };
    let mut c = EndpointConfig::default();
    if let Some(v) = var("UTP_SOCKET_BUFFER") {
        c.socket_buffer = v as u32;
    }
    if let Some(v) = var("UTP_ACK_EVERY") {
        c.connection.ack_every = v as u16;
    }
    if let Some(v) = var("UTP_MAX_WINDOW") {
        c.connection.max_window = v as u32;
    }
    if let Some(v) = var("UTP_MTU") {
        c.connection.mtu = v as u16;
    }
    c.validate().expect("settings in range");
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        args.len(),
        3,
        "usage: libtorrent_upload DATA_FILE INFO_HASH_HEX PIECE_LENGTH"
    );
    let data = Bytes::from(std::fs::read(&args[0]).expect("DATA_FILE"));
    let info_hash = InfoHash(parse_hex(&args[1]));
    let piece_len: usize = args[2].parse().expect("PIECE_LENGTH");
    let num_pieces = data.len().div_ceil(piece_len) as u32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let socket = UtpSocket::bind_with_config("127.0.0.1:0", config_from_env())
            .await
            .unwrap();
        println!("PORT {}", socket.local_addr().port());
        std::io::stdout().flush().unwrap();
        let (stream, _) = tokio::time::timeout(Duration::from_secs(60), socket.accept())
            .await
            .expect("nobody connected within 60 s")
            .unwrap();
        let mut framed = Framed::new(stream, HandshakeCodec::new());
        match framed.next().await {
            Some(Ok(HandshakeEvent::Complete(h))) => assert_eq!(h.info_hash, info_hash),
            other => panic!("no handshake: {other:?}"),
        }
        framed
            .send(Handshake::new(info_hash, PeerId(*b"-SB0001-utp-bench-02")))
            .await
            .unwrap();
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let limits = Limits::new().num_pieces(num_pieces);
        let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
        let have = Bitfield::full(num_pieces);
        framed
            .send(Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())))
            .await
            .unwrap();
        let mut sent = 0usize;
        loop {
            let msg = match tokio::time::timeout(Duration::from_secs(10), framed.next()).await {
                Err(_) => {
                    eprintln!(
                        "nothing from the peer for 10 s after {sent} bytes: {:?}",
                        framed.get_ref().stats()
                    );
                    break;
                }
                Ok(None | Some(Err(_))) => break,
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Interested => framed.send(Message::Unchoke).await.unwrap(),
                Message::Request(r) => {
                    let at = r.piece as usize * piece_len + r.begin as usize;
                    let end = at + r.length as usize;
                    assert!(end <= data.len(), "request past the end: {r:?}");
                    framed
                        .send(Message::Piece(Block {
                            piece: r.piece,
                            begin: r.begin,
                            data: data.slice(at..end),
                        }))
                        .await
                        .unwrap();
                    sent += r.length as usize;
                }
                _ => {}
            }
        }
        let elapsed = t0.elapsed();
        let cpu = cpu_time() - cpu0;
        let mib = sent as f64 / f64::from(1 << 20);
        println!(
            "sent {mib:.0} MiB in {:.2} s: {:.1} MiB/s, CPU {:.2} s",
            elapsed.as_secs_f64(),
            mib / elapsed.as_secs_f64(),
            cpu.as_secs_f64(),
        );
        println!("{:?}", framed.get_ref().stats());
    });
}
