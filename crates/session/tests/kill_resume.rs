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
//!
//! With resume data (issue #15): kills during frequent saves never leave a
//! resume file that claims a piece whose bytes are not on disk, and a
//! second run of the same command on a finished folder reads none of its
//! data.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use seedbed_metainfo::{TorrentBuilder, TorrentVersion};
use sha1::Digest;
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
    checked_field(lines, "pieces").and_then(|n| u32::try_from(n).ok())
}

/// The number `key=N` of the engine's "checked existing data" log line.
fn checked_field(lines: &[String], key: &str) -> Option<u64> {
    let key = format!(" {key}=");
    lines.iter().map(|l| strip_ansi(l)).find_map(|l| {
        if !l.contains("checked existing data") {
            return None;
        }
        let rest = &l[l.find(&key)? + key.len()..];
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

/// The `download` example's command for `torrent` into `out` from `peer`,
/// on loopback, without trackers, logging at info level.
fn download_command(exe: &Path, torrent: &Path, out: &Path, peer: SocketAddr) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("--torrent")
        .arg(torrent)
        .arg("--output-directory")
        .arg(out)
        .args(["--peer", &peer.to_string()])
        .args(["--no-trackers", "--no-dht", "--listen", "127.0.0.1:0"])
        // The seeders here speak TCP only: no 3 s uTP attempt first (the
        // kills are timed from the start).
        .arg("--no-utp")
        .args(["--peer-timeout", "60"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd` to its end; returns its log lines (it must exit 0).
async fn run_to_end(what: &str, cmd: Command) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let mut child = common::ChildGuard::spawn(what, cmd);
    let status = child.wait_exit(TEST_TIME).await;
    let took = started.elapsed();
    assert!(status.success(), "{what}: {status}\n{}", child.tail());
    tokio::time::sleep(Duration::from_millis(200)).await;
    (child.stderr_lines(), took)
}

/// The same `download` command twice: the second run, on the finished
/// folder, trusts the resume data the first saved and reads none of the
/// data; with `--no-resume` a third run reads all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_on_a_finished_folder_reads_nothing() {
    let exe = timeout(
        BUILD_TIME + Duration::from_secs(30),
        build_download_example(),
    )
    .await
    .expect("building the example took too long");
    timeout(TEST_TIME, async {
        let f = common::Fixture::v1();
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let peer = seeder.listen_addr().unwrap();
        let total = f.torrent.info().geometry().total_length();
        let n = u64::from(f.torrent.info().geometry().num_pieces());
        let cmd = || download_command(&exe, &f.file, f.dst(), peer);

        let (first, took) = run_to_end("first download", cmd()).await;
        assert_eq!(checked_field(&first, "pieces"), Some(0));
        f.assert_downloaded();
        let resume = f
            .dst()
            .join(".seedbed")
            .join(format!("{}.resume", f.torrent.info_hash().to_hex()));
        assert!(resume.exists(), "resume data in the output folder");
        println!("first run: {:.2} s", took.as_secs_f64());

        let (second, took) = run_to_end("second download", cmd()).await;
        assert_eq!(checked_field(&second, "pieces"), Some(n));
        assert_eq!(checked_field(&second, "trusted"), Some(n));
        assert_eq!(checked_field(&second, "read"), Some(0), "nothing read");
        println!(
            "second run on the finished folder: {:.2} s, 0 bytes read",
            took.as_secs_f64()
        );

        let mut without = cmd();
        without.arg("--no-resume");
        let (third, took) = run_to_end("download --no-resume", without).await;
        assert_eq!(checked_field(&third, "pieces"), Some(n));
        assert_eq!(
            checked_field(&third, "read"),
            Some(total),
            "everything hashed"
        );
        println!(
            "--no-resume: {:.2} s, {total} bytes read",
            took.as_secs_f64()
        );
        f.assert_downloaded();
        seeder.shutdown().await;
    })
    .await
    .expect("test took too long");
}

/// Every piece `resume` (if there is one) claims hashes right from what is
/// on disk under `out`. Returns how many pieces it claims.
fn claims_hold(torrent: &seedbed_metainfo::Torrent, out: &Path, resume: &Path) -> u32 {
    let Ok(bytes) = std::fs::read(resume) else {
        return 0;
    };
    let info = std::sync::Arc::new(torrent.info().clone());
    let n = info.geometry().num_pieces();
    let data = seedbed_session::ResumeData::decode(&bytes, n, info.files().len())
        .expect("a resume file is whole: written atomically");
    let storage = seedbed_session::Storage::open(std::sync::Arc::clone(&info), out).unwrap();
    for p in data.pieces.iter_set() {
        let piece = info.geometry().piece(p).unwrap();
        let mut buf = vec![0u8; info.geometry().piece_len(piece) as usize];
        storage
            .read(piece, 0, &mut buf)
            .unwrap_or_else(|e| panic!("piece {p} claimed but unreadable: {e}"));
        let hash: [u8; 20] = sha1::Sha1::digest(&buf).into();
        assert_eq!(
            Some(&hash),
            info.piece_hash_v1(piece),
            "piece {p} claimed by the resume data but not on disk"
        );
    }
    data.pieces.count_ones()
}

/// How many pieces the resume data at `resume` claims whose files are all
/// unchanged on disk under `out` (same size and time as recorded).
fn unchanged_claims(torrent: &seedbed_metainfo::Torrent, out: &Path, resume: &Path) -> u32 {
    let Ok(bytes) = std::fs::read(resume) else {
        return 0;
    };
    let info = torrent.info();
    let data = seedbed_session::ResumeData::decode(
        &bytes,
        info.geometry().num_pieces(),
        info.files().len(),
    )
    .expect("a resume file is whole");
    let unchanged: Vec<bool> = info
        .files()
        .iter()
        .zip(&data.files)
        .map(|(f, recorded)| {
            let now = seedbed_session::FileStamp::of_path(&f.path().to_path_buf_under(out));
            recorded.is_some() && now == *recorded && now.map(|s| s.size) == Some(f.length())
        })
        .collect();
    data.pieces
        .iter_set()
        .filter(|&p| {
            let piece = info.geometry().piece(p).unwrap();
            info.piece_spans(piece).all(|span| unchanged[span.file])
        })
        .count() as u32
}

/// Kill -9 the `download` example again and again while it saves resume
/// data every 5 ms (so kills land during saves): after each kill the
/// resume file is whole and every piece it claims is on disk; the runs
/// go on from what earlier ones saved and the last one finishes with the
/// right data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_during_resume_saves_never_claim_missing_pieces() {
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
        let base = src.path().join("small");
        std::fs::create_dir_all(base.join("d")).unwrap();
        std::fs::write(base.join("one.bin"), common::data(21, 2_500_000)).unwrap();
        std::fs::write(base.join("d/two.bin"), common::data(22, 1_700_001)).unwrap();
        std::fs::write(base.join("three.bin"), common::data(23, 999)).unwrap();
        let file = src.path().join("small.torrent");
        // Small pieces: many verified per second, so many saves.
        let created = TorrentBuilder::new(TorrentVersion::V1)
            .piece_length(16 * 1024)
            .build_from_path(&base, |_, _| {})
            .unwrap();
        std::fs::write(&file, created.as_bytes()).unwrap();
        let torrent = created.to_torrent().unwrap();
        let (seeder, addr) =
            common::lt_seed(&file, src.path(), 1_000_000, Duration::from_secs(60)).await;
        let resume = dst
            .path()
            .join(".seedbed")
            .join(format!("{}.resume", torrent.info_hash().to_hex()));
        let tmp = resume.with_file_name(format!(
            "{}.tmp",
            resume.file_name().unwrap().to_string_lossy()
        ));
        let cmd = || {
            let mut c = download_command(&exe, &file, dst.path(), addr);
            // At most 500 KiB/s: the 4.2 MB take several runs, so there
            // are kills to make whatever the seeder's pace.
            c.args(["--resume-interval", "0.005", "--sparse"]);
            c.args(["--max-download-rate", "500k"]);
            c
        };
        let mut during_save = 0;
        let mut kills = 0;
        let mut claimed = Vec::new();
        while kills < 12 && (kills < 4 || during_save == 0) {
            // A temporary file left by the last kill is overwritten by the
            // next save; remove it so that only a new one counts.
            let _ = std::fs::remove_file(&tmp);
            let mut run = common::ChildGuard::spawn("download example", cmd());
            // Let it run a while (600-900 ms), then kill it as soon as a
            // save has its temporary file open (or 300 ms later anyway).
            let wait = 600 + (kills * 97) % 300;
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            let aim = Instant::now() + Duration::from_millis(300);
            while !tmp.exists() && Instant::now() < aim {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if run.exited().is_some() {
                break;
            }
            run.kill();
            kills += 1;
            if tmp.exists() {
                during_save += 1;
            }
            claimed.push(claims_hold(&torrent, dst.path(), &resume));
        }
        println!(
            "{kills} kills, {during_save} during a save (a temporary file left); pieces claimed after each: {claimed:?}"
        );
        assert!(kills >= 4, "the download ended too soon to test kills");
        assert!(during_save > 0, "no kill landed during a save");
        assert!(
            claimed.windows(2).any(|w| w[1] > w[0]),
            "later runs go on from what earlier ones saved: {claimed:?}"
        );
        // The final run trusts the claimed pieces whose files are as the
        // resume data recorded them (a kill right after a write changes a
        // file, whose pieces are then hashed instead).
        let trustworthy = unchanged_claims(&torrent, dst.path(), &resume);
        let (last, _) = run_to_end("final download", cmd()).await;
        println!("final run: {trustworthy} claimed pieces in unchanged files");
        assert_eq!(
            checked_field(&last, "trusted"),
            Some(u64::from(trustworthy)),
            "resume data used"
        );
        // Every claimed piece is on disk, so the check finds at least those.
        let last_claims = u64::from(*claimed.last().unwrap());
        assert!(checked_field(&last, "pieces").unwrap_or(0) >= last_claims);
        assert_eq!(common::sha1_tree(&base), common::sha1_tree(&dst.path().join("small")));
        assert!(!tmp.exists(), "the last save finished");
        assert_eq!(
            claims_hold(&torrent, dst.path(), &resume),
            torrent.info().geometry().num_pieces()
        );
        drop(seeder);
    })
    .await
    .expect("test took too long");
}
