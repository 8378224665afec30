//! Moves bytes from one `UtpSocket` to another over loopback and prints
//! the rate, the process's CPU time and both connections' counters.
//!
//! Settings can be changed through the environment (see
//! `common::config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example loopback_throughput -- [MiB]`
//! (default 256 MiB). Linux only for the CPU figure (`/proc/self/stat`).

mod common;

use std::time::{Duration, Instant};

use seedbed_utp::UtpSocket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// UDP receive errors of the host (`/proc/net/snmp`: InErrors, RcvbufErrors).
fn udp_errors() -> (u64, u64) {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return (0, 0);
    };
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return (0, 0);
    };
    let mut in_errors = 0;
    let mut rcvbuf = 0;
    for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
        match n {
            "InErrors" => in_errors = v.parse().unwrap_or(0),
            "RcvbufErrors" => rcvbuf = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    (in_errors, rcvbuf)
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let total = mib << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let a = UtpSocket::bind_with_config("127.0.0.1:0", common::config_from_env())
            .await
            .unwrap();
        let s = UtpSocket::bind_with_config("127.0.0.1:0", common::config_from_env())
            .await
            .unwrap();
        let (out, inc) = tokio::join!(a.connect(s.local_addr()), s.accept());
        let (mut reader, _) = inc.unwrap();
        let mut writer = out.unwrap();
        let (e0, r0) = udp_errors();
        let cpu0 = common::cpu_time();
        let t0 = Instant::now();
        let w = tokio::spawn(async move {
            let chunk = vec![0x5au8; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(chunk.len());
                writer.write_all(&chunk[..n]).await.unwrap();
                sent += n;
            }
            writer.flush().await.unwrap();
            writer
        });
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        while got < total {
            let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buf))
                .await
                .expect("no data for 30 s")
                .unwrap();
            assert!(n > 0, "stream ended early");
            got += n;
        }
        let elapsed = t0.elapsed();
        let cpu = common::cpu_time() - cpu0;
        let writer = w.await.unwrap();
        let (e1, r1) = udp_errors();
        println!(
            "{mib} MiB in {:.2} s: {:.1} MiB/s, CPU {:.2} s ({:.0}% of one core)",
            elapsed.as_secs_f64(),
            mib as f64 / elapsed.as_secs_f64(),
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64()
        );
        println!("UDP InErrors +{}, RcvbufErrors +{}", e1 - e0, r1 - r0);
        println!("sender   {:?}", writer.stats().unwrap());
        println!("receiver {:?}", reader.stats().unwrap());
    });
}
