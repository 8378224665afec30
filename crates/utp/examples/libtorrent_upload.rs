//! Seeds a single-file torrent to one BitTorrent peer over uTP: binds a
//! `UtpSocket` on 127.0.0.1, prints `PORT <n>`, accepts one connection,
//! answers its handshake, sends a full bitfield, unchokes on interest and
//! serves every request from the file (read into memory first) until the
//! peer closes. Then prints the rate, this process's CPU time and the
//! connection's counters. Used by `scripts/bench_utp.py --upload` with a
//! python3-libtorrent leecher.
//!
//! Settings can be changed through the environment (see
//! `common::config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example libtorrent_upload -- DATA_FILE INFO_HASH_HEX PIECE_LENGTH`

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    Bitfield, Block, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId,
};
use seedbed_utp::UtpSocket;
use tokio_util::codec::Framed;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        args.len(),
        3,
        "usage: libtorrent_upload DATA_FILE INFO_HASH_HEX PIECE_LENGTH"
    );
    let data = Bytes::from(std::fs::read(&args[0]).expect("DATA_FILE"));
    let info_hash = InfoHash(common::parse_hex(&args[1]));
    let piece_len: usize = args[2].parse().expect("PIECE_LENGTH");
    let num_pieces = data.len().div_ceil(piece_len) as u32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let socket = UtpSocket::bind_with_config("127.0.0.1:0", common::config_from_env())
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
        let cpu0 = common::cpu_time();
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
        let cpu = common::cpu_time() - cpu0;
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
