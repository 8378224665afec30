//! The main job on an embedded default, needing nothing but the repo.
//!
//! ```text
//! cargo run --release --example demo [-- --mib 256 --leechers 2]
//! ```
//!
//! Makes a few hundred MiB of multi-file data (nested folders, a small file,
//! an empty file) in a temporary folder, creates a hybrid torrent for it,
//! starts the in-memory HTTP tracker, a seeding session and leeching
//! sessions on loopback, shows their progress, checks every downloaded
//! file against the original and prints the throughput. Cleans up after
//! itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use seedbed::metainfo::{Torrent, TorrentBuilder, TorrentVersion};
use seedbed::session::{AddTorrentOptions, DhtConfig, Session, SessionConfig};
use seedbed::tracker::memory::MemoryTrackerConfig;
use seedbed::tracker::server::RunningTracker;
use sha1::{Digest, Sha1};

#[derive(Parser, Debug)]
#[command(about = "seedbed end to end on loopback: create, track, seed, download, verify")]
struct Args {
    /// Size of the generated data in MiB.
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// Number of leeching sessions.
    #[arg(long, default_value_t = 2)]
    leechers: usize,
    /// Keep the temporary folder instead of removing it.
    #[arg(long)]
    keep: bool,
}

/// The files of the demo, as (relative path, share of the data in 1/16ths
/// or an exact small size).
fn layout(total: u64) -> Vec<(&'static str, u64)> {
    let sixteenth = total / 16;
    vec![
        ("videos/big.bin", 8 * sixteenth),
        ("videos/medium.bin", 4 * sixteenth + 12_345),
        ("docs/readme.txt", 10_000),
        ("docs/empty.txt", 0),
        ("extra/nested/deep/part.bin", 4 * sixteenth - 22_345),
    ]
}

/// Writes `len` pseudo-random bytes (xorshift) to `path`.
fn write_data(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = len;
    let mut chunk = vec![0u8; 1 << 20];
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.flush()
}

fn sha1_file(path: &Path) -> std::io::Result<[u8; 20]> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let root = std::env::temp_dir().join(format!("seedbed-demo-{}", std::process::id()));
    let result = run(&args, &root).await;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, root: &Path) -> Result<(), String> {
    let total = args.mib.max(1) << 20;
    let seed_dir = root.join("seed");
    let content = seed_dir.join("demo");
    let t0 = Instant::now();
    println!(
        "1. making {} MiB of data in {}",
        args.mib,
        content.display()
    );
    let files = layout(total);
    for (i, (path, len)) in files.iter().enumerate() {
        write_data(&content.join(path), *len, i as u64 + 1).map_err(|e| format!("{path}: {e}"))?;
    }

    println!("2. starting the in-memory tracker");
    let tracker = RunningTracker::start(
        Some(loopback()),
        None,
        MemoryTrackerConfig {
            interval: 5,
            min_interval: 5,
            ..MemoryTrackerConfig::default()
        },
    )
    .await
    .map_err(|e| format!("tracker: {e}"))?;
    let announce = tracker.http_announce_url().expect("http tracker");

    println!("3. creating a hybrid (v1 + v2) torrent, announce {announce}");
    let builder = TorrentBuilder::new(TorrentVersion::Hybrid).tracker(announce.clone());
    let dir = content.clone();
    let created = tokio::task::spawn_blocking(move || builder.build_from_path(dir, |_, _| {}))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("create: {e}"))?;
    let torrent = Torrent::from_bytes(created.into_bytes()).map_err(|e| e.to_string())?;
    println!(
        "   info hash v1 {}, {} pieces of {} KiB",
        torrent.info_hash(),
        torrent.info().num_pieces(),
        torrent.info().piece_length() / 1024
    );

    println!("4. seeding session checks its data");
    let config = SessionConfig {
        listen: Some(loopback()),
        // Loopback only: the peers come from the in-memory tracker, and
        // the DHT's public routers are never contacted.
        dht: DhtConfig::disabled(),
        ..SessionConfig::default()
    };
    let seeder = Session::new(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let seed = seeder
        .add_torrent(&torrent, AddTorrentOptions::new(&seed_dir))
        .await
        .map_err(|e| e.to_string())?;
    seed.wait_for_completion()
        .await
        .map_err(|e| e.to_string())?;

    println!(
        "5. {} leeching sessions download through the tracker",
        args.leechers
    );
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut leechers = Vec::new();
    let started = Instant::now();
    for i in 0..args.leechers {
        let dir: PathBuf = root.join(format!("leech{i}"));
        let session = Session::new(config.clone())
            .await
            .map_err(|e| e.to_string())?;
        let handle = session
            .add_torrent(&torrent, AddTorrentOptions::new(&dir))
            .await
            .map_err(|e| e.to_string())?;
        let bar = bars.add(ProgressBar::new(handle.stats().total_bytes));
        bar.set_style(style.clone());
        bar.set_prefix(format!("leecher {i}"));
        leechers.push((session, handle, bar, dir, None::<Duration>));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut all = true;
        for (_, handle, bar, _, done) in &mut leechers {
            let s = handle.stats();
            bar.set_position(s.bytes_have);
            bar.set_message(format!("{} peers", s.peers));
            if s.pieces_have == s.num_pieces {
                if done.is_none() {
                    *done = Some(started.elapsed());
                    bar.finish_with_message("done");
                }
            } else {
                all = false;
            }
        }
        if all {
            break;
        }
        if Instant::now() > deadline {
            return Err("the download did not finish within 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();

    println!("6. checking every file against the original");
    for (_, handle, _, dir, _) in &leechers {
        handle
            .wait_for_completion()
            .await
            .map_err(|e| e.to_string())?;
        for (path, _) in &files {
            let a = sha1_file(&content.join(path)).map_err(|e| format!("{path}: {e}"))?;
            let b = sha1_file(&dir.join("demo").join(path)).map_err(|e| format!("{path}: {e}"))?;
            if a != b {
                return Err(format!(
                    "{} differs from the original",
                    dir.join(path).display()
                ));
            }
        }
    }
    let bytes = torrent.info().total_size() * args.leechers as u64;
    println!(
        "   all {} files identical in {} leechers",
        files.len(),
        args.leechers
    );
    println!(
        "done: {:.0} MiB delivered in {:.2} s ({:.0} MiB/s over loopback); whole demo {:.1} s",
        bytes as f64 / 1048576.0,
        elapsed.as_secs_f64(),
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    for (session, _, _, _, _) in &leechers {
        session.shutdown().await;
    }
    seeder.shutdown().await;
    Ok(())
}
