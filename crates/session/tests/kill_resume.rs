//! Kill -9 a download halfway, start it again, and it finishes from what
//! is on disk (issue #6).
//!
//! The download runs in its own process, the `download` example, so that
//! it can be killed with SIGKILL: no shutdown, no flush of anything but
//! what the engine already wrote. The test builds the example with the
//! cargo that runs it (bounded in time), seeds from a python3-libtorrent
//! seeder whose upload rate is limited so that "halfway" lasts long enough
//! to hit, and watches the blocks allocated under the output folder: the
//! engine creates sparse files and writes only verified pieces, so the
//! allocated bytes are the verified data.
//!
//! Checks: the first run is killed between 30 % and 90 %; the second run
//! finds verified pieces on disk (its "checked existing data" log line),
//! exits 0, the seeder uploaded far less than twice the data, and the
//! SHA-1 of every file equals the source's.
//!
//! Without python3-libtorrent the test prints `SKIPPED: python3-libtorrent
//! not installed` and returns, unless `CI=true`, when it fails.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use seedbed_metainfo::{TorrentBuilder, TorrentVersion};
use tokio::time::timeout;

/// Building the example may compile the root package's dev-dependencies.
const BUILD_TIME: Duration = Duration::from_secs(1200);
const TEST_TIME: Duration = Duration::from_secs(240);
const PIECE: u32 = 256 * 1024;
/// The seeder's upload limit, bytes per second.
const RATE: u64 = 2_000_000;

/// Builds the `download` example with the cargo running this test and
/// returns its path.
async fn build_download_example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("examples/download.rs").exists(),
        "examples/download.rs is missing: this test runs that example"
    );
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&root).args([
        "build",
        "--package",
        "seedbed",
        "--example",
        "download",
        "--message-format=json-render-diagnostics",
    ]);
    let mut build = common::ChildGuard::spawn("cargo build --example download", cmd);
    let status = build.wait_exit(BUILD_TIME).await;
    assert!(
        status.success(),
        "building the example failed\n{}",
        build.tail()
    );
    // Let the reader thread take the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    build
        .stdout_lines()
        .iter()
        .filter(|l| {
            l.contains(r#""reason":"compiler-artifact""#) && l.contains(r#""name":"download""#)
        })
        .find_map(|l| json_string_field(l, "executable"))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no executable in cargo's output\n{}", build.tail()))
}

/// The value of `"key":"..."` in one line of cargo's JSON output.
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// Bytes allocated on disk by the files below `dir`.
fn allocated(dir: &Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    common::files_below(dir)
        .values()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Removes terminal colour codes from a log line.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `pieces=N` of the engine's "checked existing data" log line.
fn checked_pieces(lines: &[String]) -> Option<u32> {
    lines.iter().map(|l| strip_ansi(l)).find_map(|l| {
        if !l.contains("checked existing data") {
            return None;
        }
        let rest = &l[l.find("pieces=")? + "pieces=".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// What the libtorrent seeder last said it uploaded (`seed: peers P up N`).
fn seeder_uploaded(seeder: &common::ChildGuard) -> u64 {
    seeder
        .stderr_lines()
        .iter()
        .rev()
        .find_map(|l| {
            l.strip_prefix("seed: ")?
                .split(" up ")
                .nth(1)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn write_content(root: &Path) -> PathBuf {
    let base = root.join("big");
    std::fs::create_dir_all(base.join("inner/deeper")).unwrap();
    std::fs::write(base.join("one.bin"), common::data(11, 9_000_000)).unwrap();
    std::fs::write(
        base.join("inner/deeper/two.bin"),
        common::data(12, 12_345_678),
    )
    .unwrap();
    std::fs::write(base.join("inner/three.bin"), common::data(13, 3_000_001)).unwrap();
    std::fs::write(base.join("small.txt"), common::data(14, 4321)).unwrap();
    std::fs::write(base.join("empty"), b"").unwrap();
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_halfway_then_resume() {
    if !common::have_libtorrent() {
        return;
    }
    let exe = timeout(
        BUILD_TIME + Duration::from_secs(30),
        build_download_example(),
    )
    .await
    .expect("building the example took too long");
    timeout(TEST_TIME, async {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = write_content(src.path());
        let file = src.path().join("big.torrent");
        let created = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(PIECE)
            .build_from_path(&content, |_, _| {})
            .unwrap();
        std::fs::write(&file, created.as_bytes()).unwrap();
        let torrent = created.to_torrent().unwrap();
        let total = torrent.info().geometry().total_length();
        let num_pieces = torrent.info().geometry().num_pieces();

        let (seeder, addr) =
            common::lt_seed(&file, src.path(), RATE, Duration::from_secs(60)).await;

        let download = || {
            let mut cmd = Command::new(&exe);
            cmd.arg("--torrent")
                .arg(&file)
                .arg("--output-directory")
                .arg(dst.path())
                .args(["--peer", &addr.to_string()])
                .args(["--no-trackers", "--no-dht", "--listen", "127.0.0.1:0"])
                .args(["--peer-timeout", "60"])
                // Sparse files: the blocks allocated on disk measure the
                // verified data written so far.
                .arg("--sparse")
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1");
            common::ChildGuard::spawn("download example", cmd)
        };
        let out = dst.path().join("big");

        // First run: kill -9 once about half the data is verified on disk.
        let started = Instant::now();
        let mut first = download();
        let at_kill = loop {
            let have = allocated(&out);
            if have >= total / 2 {
                break have;
            }
            if let Some(status) = first.exited() {
                panic!(
                    "the first run ended ({status}) before it was killed, at {have} of {total} bytes\n{}",
                    first.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        first.kill();
        let killed_after = started.elapsed();
        let at_kill = allocated(&out).max(at_kill);
        println!(
            "killed after {:.1} s with {at_kill} of {total} bytes on disk",
            killed_after.as_secs_f64()
        );
        assert!(
            at_kill < total * 9 / 10,
            "killed too late to test resume: {at_kill} of {total}"
        );

        // Second run: checks what is there, fetches the rest, exits 0.
        let mut second = download();
        let status = second.wait_exit(TEST_TIME).await;
        assert!(status.success(), "second run: {status}\n{}", second.tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let found = checked_pieces(&second.stderr_lines())
            .unwrap_or_else(|| panic!("no \"checked existing data\" line\n{}", second.tail()));
        println!(
            "second run found {found} of {num_pieces} pieces on disk, finished after {:.1} s in all",
            started.elapsed().as_secs_f64()
        );
        assert!(
            found > 0 && found < num_pieces,
            "resume found {found} of {num_pieces} pieces"
        );
        assert!(
            second.stdout_lines().iter().any(|l| l.starts_with("complete:")),
            "{}",
            second.tail()
        );

        // The seeder sent the missing part again, not everything: it logs
        // its upload twice a second.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let uploaded = seeder_uploaded(&seeder);
        assert!(
            uploaded < total + total / 3,
            "the seeder uploaded {uploaded} bytes for {total}: the restart downloaded too much"
        );

        assert_eq!(common::sha1_tree(&content), common::sha1_tree(&out));
        drop(seeder);
    })
    .await
    .expect("test took too long");
}
