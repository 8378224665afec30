//! Downloads a whole single-file torrent from one BitTorrent peer over
//! uTP (a `UtpSocket` dialling 127.0.0.1:PORT), with a hand-rolled
//! BitTorrent session: handshake, interested, and up to 256 block requests
//! in flight. Prints the rate, this process's CPU time and the
//! connection's counters. Used by `scripts/bench_utp.py` against a
//! python3-libtorrent seeder.
//!
//! Settings can be changed through the environment (see
//! `common::config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example libtorrent_download -- PORT INFO_HASH_HEX LENGTH PIECE_LENGTH`

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_peer_wire::{
    BlockRequest, Handshake, HandshakeCodec, HandshakeEvent, InfoHash, Limits, Message,
    MessageCodec, PeerId, BLOCK_LEN,
};
use seedbed_utp::UtpSocket;
use tokio_util::codec::Framed;

/// Block requests kept in flight.
const PIPELINE: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert_eq!(
        args.len(),
        4,
        "usage: libtorrent_download PORT INFO_HASH_HEX LENGTH PIECE_LENGTH"
    );
    let port: u16 = args[0].parse().expect("PORT");
    let info_hash = InfoHash(common::parse_hex(&args[1]));
    let length: usize = args[2].parse().expect("LENGTH");
    let piece_len: usize = args[3].parse().expect("PIECE_LENGTH");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let socket = UtpSocket::bind_with_config("127.0.0.1:0", common::config_from_env())
            .await
            .unwrap();
        let stream = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("uTP connect");
        let cpu0 = common::cpu_time();
        let t0 = Instant::now();
        let mut framed = Framed::new(stream, HandshakeCodec::new());
        framed
            .send(Handshake::new(info_hash, PeerId(*b"-SB0001-utp-bench-01")))
            .await
            .unwrap();
        match framed.next().await {
            Some(Ok(HandshakeEvent::Complete(h))) => assert_eq!(h.info_hash, info_hash),
            other => panic!("no handshake: {other:?}"),
        }
        let limits = Limits::new().num_pieces(length.div_ceil(piece_len) as u32);
        let mut framed = framed.map_codec(|_| MessageCodec::new(limits));
        framed.send(Message::Interested).await.unwrap();
        let blocks = length.div_ceil(BLOCK_LEN as usize);
        let request = |i: usize| {
            let start = i * BLOCK_LEN as usize;
            BlockRequest {
                piece: (start / piece_len) as u32,
                begin: (start % piece_len) as u32,
                length: (length - start).min(BLOCK_LEN as usize) as u32,
            }
        };
        let (mut received, mut next, mut bytes) = (0usize, 0usize, 0usize);
        let mut unchoked = false;
        // Stalls: gaps of 50 ms or more between messages.
        let (mut stalls, mut stalled) = (0u32, Duration::ZERO);
        let mut last = Instant::now();
        while received < blocks {
            if unchoked && next < blocks && next - received < PIPELINE {
                while next < blocks && next - received < PIPELINE {
                    framed.feed(Message::Request(request(next))).await.unwrap();
                    next += 1;
                }
                SinkExt::<Message>::flush(&mut framed).await.unwrap();
            }
            let msg = tokio::time::timeout(Duration::from_secs(30), framed.next())
                .await
                .expect("nothing from the peer for 30 s")
                .expect("the peer closed the connection")
                .expect("a valid message");
            let gap = last.elapsed();
            last = Instant::now();
            if gap >= Duration::from_millis(50) {
                stalls += 1;
                stalled += gap;
            }
            match msg {
                Message::Unchoke => unchoked = true,
                Message::Choke => unchoked = false,
                Message::Piece(block) => {
                    bytes += block.data.len();
                    received += 1;
                }
                _ => {}
            }
        }
        assert_eq!(bytes, length);
        let elapsed = t0.elapsed();
        let cpu = common::cpu_time() - cpu0;
        let mib = length as f64 / f64::from(1 << 20);
        println!(
            "{mib:.0} MiB in {:.2} s: {:.1} MiB/s, CPU {:.2} s, {stalls} stalls of 50 ms or more: {:.2} s",
            elapsed.as_secs_f64(),
            mib / elapsed.as_secs_f64(),
            cpu.as_secs_f64(),
            stalled.as_secs_f64(),
        );
        println!("{:?}", framed.get_ref().stats().unwrap());
    });
}
