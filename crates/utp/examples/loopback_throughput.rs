//! Moves bytes from one `UtpSocket` to another over loopback and prints
//! the rate, the process's CPU time and both connections' counters.
//!
//! Settings can be changed through the environment (see
//! `config_from_env`).
//!
//! `cargo run --release -p seedbed-utp --example loopback_throughput -- [MiB]`
//! (default 256 MiB). Linux only for the CPU figure (`/proc/self/stat`).

use std::time::{Duration, Instant};

use seedbed_utp::{EndpointConfig, UtpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// User plus system CPU time of this process (Linux; zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which ends at the last ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // CLK_TCK is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

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

/// The endpoint settings, with overrides from the environment to compare
/// settings in one build: `UTP_SOCKET_BUFFER` (bytes, 0 for the system's),
/// `UTP_ACK_EVERY` (packets), `UTP_ACK_DELAY_MS`, `UTP_MIN_PROBE_MS`,
/// `UTP_RECV_BUFFER` (bytes), `UTP_MTU` (bytes).
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
    if let Some(v) = var("UTP_ACK_DELAY_MS") {
        c.connection.ack_delay = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_MIN_PROBE_MS") {
        c.connection.min_probe_timeout = Duration::from_millis(v);
    }
    if let Some(v) = var("UTP_RECV_BUFFER") {
        c.connection.recv_buffer = v as u32;
    }
    if let Some(v) = var("UTP_MTU") {
        c.connection.mtu = v as u16;
    }
    c.validate().expect("settings in range");
    c
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
        let a = UtpSocket::bind_with_config("127.0.0.1:0", config_from_env())
            .await
            .unwrap();
        let s = UtpSocket::bind_with_config("127.0.0.1:0", config_from_env())
            .await
            .unwrap();
        let (out, inc) = tokio::join!(a.connect(s.local_addr()), s.accept());
        let (mut reader, _) = inc.unwrap();
        let mut writer = out.unwrap();
        let (e0, r0) = udp_errors();
        let cpu0 = cpu_time();
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
        let cpu = cpu_time() - cpu0;
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
