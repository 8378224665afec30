//! Memory and wake-ups of idle peer connections: one session (the hub)
//! seeds 100 torrents (128 KiB each, 4 pieces) to 10 other sessions (in a
//! child process) on loopback, 1,000 connections. Once every client has
//! the data they all seed, and connections between seeds are kept: 1,000
//! connections that carried blocks and are now idle.
//!
//! ```text
//! cargo run --release -p seedbed-session --example idle_peers -- [--torrents 100] [--clients 10] [--idle-secs 10] [--private 1]
//! ```
//!
//! `--private 1` makes the torrents private (BEP 27: no PeX, so clients
//! do not learn of each other and the hub keeps exactly one connection per
//! client and torrent).
//!
//! Prints the hub's resident memory (`VmRSS`) after adding the torrents and
//! again with every connection up, the difference per connection, and the
//! hub's CPU time and context switches per second over `--idle-secs`
//! seconds of idleness (what wakes up while nothing happens). The child is
//! killed when the hub exits.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seedbed_metainfo::{Torrent, TorrentBuilder, TorrentVersion};
use seedbed_session::{AddTorrentOptions, Allocation, Session, SessionConfig};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> SessionConfig {
    SessionConfig {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        max_peers: 200,
        hashing_threads: 1,
        ..SessionConfig::default()
    }
}

/// Bytes of each torrent.
const SIZE: usize = 128 * 1024;

/// `n` one-file torrents of 128 KiB (4 pieces), different bytes each,
/// their files in `dir`.
fn torrents(dir: &Path, n: u64, private: bool) -> Vec<Torrent> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("t{i:03}.bin"));
            let mut bytes = vec![0u8; SIZE];
            bytes[..8].copy_from_slice(&i.to_le_bytes());
            std::fs::write(&path, &bytes).unwrap();
            let created = TorrentBuilder::new(TorrentVersion::V1)
                .piece_length(32 * 1024)
                .private(private)
                .build_from_path(&path, |_, _| {})
                .unwrap();
            Torrent::from_bytes(created.into_bytes()).unwrap()
        })
        .collect()
}

async fn add_all(session: &Session, torrents: &[Torrent], out: &Path, peers: &[SocketAddr]) {
    for t in torrents {
        session
            .add_torrent(
                t,
                AddTorrentOptions::new(out)
                    .trackers(false)
                    .allocation(Allocation::Sparse)
                    .peers(peers.iter().copied()),
            )
            .await
            .unwrap();
    }
}

/// (VmRSS bytes, voluntary + involuntary context switches of all threads,
/// CPU seconds) of this process.
fn probe() -> (u64, u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let s = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for l in s.lines() {
                if let Some(v) = l
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, r)| r.split_whitespace().collect());
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    (rss, switches, ticks / 100.0)
}

#[tokio::main]
async fn main() {
    let n = arg("--torrents", 100);
    let clients = arg("--clients", 10);
    let idle = arg("--idle-secs", 10);
    let private = arg("--private", 0) == 1;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--client-of") {
        // The child: `clients` sessions with every torrent, dialling the hub.
        let hub: SocketAddr = args[i + 1].parse().unwrap();
        let dir = Path::new(&args[i + 2]);
        let ts = torrents(&dir.join("child-src"), n, private);
        let mut sessions = Vec::new();
        for c in 0..clients {
            let s = Session::new(config()).await.unwrap();
            add_all(&s, &ts, &dir.join(format!("c{c}")), &[hub]).await;
            sessions.push(s);
        }
        println!("CLIENTS READY");
        // Until the hub kills us.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let ts = torrents(&dir.path().join("src"), n, private);
    let hub = Session::new(config()).await.unwrap();
    add_all(&hub, &ts, &dir.path().join("src"), &[]).await;
    for h in hub.torrents() {
        h.wait_for_completion().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss0, _, _) = probe();
    println!(
        "hub with {n} torrents: VmRSS {:.1} MiB",
        rss0 as f64 / 1048576.0
    );

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--torrents",
            &n.to_string(),
            "--clients",
            &clients.to_string(),
        ])
        .args(["--private", if private { "1" } else { "0" }])
        .arg("--client-of")
        .arg(hub.listen_addr().unwrap().to_string())
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let want = (n * clients) as usize;
    let started = Instant::now();
    let count = || {
        hub.torrents()
            .iter()
            .map(|h| h.stats().peers)
            .sum::<usize>()
    };
    let uploaded = || {
        hub.torrents()
            .iter()
            .map(|h| h.stats().uploaded)
            .sum::<u64>()
    };
    let all = (want * SIZE) as u64;
    while count() < want || uploaded() < all {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!(
                "only {} of {want} connections, {} of {all} bytes sent after 300 s",
                count(),
                uploaded()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{want} connections up and {all} bytes sent in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the connections settle (extension handshakes, first PeX).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss1, sw1, cpu1) = probe();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let (rss2, sw2, cpu2) = probe();
    let conns = count();
    println!(
        "hub with {conns} idle connections: VmRSS {:.1} MiB, {:.1} KiB per connection (after {idle} s more idle: {:.1} KiB)",
        rss1 as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / conns as f64,
        (rss2.saturating_sub(rss0)) as f64 / 1024.0 / conns as f64,
    );
    println!(
        "hub while idle for {idle} s: {:.1} ms CPU per second, {:.1} context switches per second",
        (cpu2 - cpu1) * 1000.0 / idle as f64,
        (sw2 - sw1) as f64 / idle as f64
    );
    let _ = child.kill();
    let _ = child.wait();
    hub.shutdown().await;
}
