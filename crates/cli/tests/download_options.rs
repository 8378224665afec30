//! `seedbed download` choosing what to fetch and remembering what it has,
//! through the built binary (issue 15): `--only` fetches the chosen files
//! (bytes of others in shared pieces wait in the part file) and later runs
//! add the rest; a second run on a finished folder reads nothing and
//! fetches nothing; `seedbed seed` keeps resume data too; `--sequential`
//! verifies pieces in order. Our own seeder on loopback; every run has a
//! time limit and every child is killed by its guard.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{create_torrent, make_content, run_cmd_within, ChildGuard};

const LIMIT: Duration = Duration::from_secs(60);

/// Removes terminal colour codes from log text.
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

/// The numbers `key=N` of the log lines of `stderr` that contain `what`.
fn log_field(stderr: &str, what: &str, key: &str) -> Vec<u64> {
    let key = format!(" {key}=");
    strip_ansi(stderr)
        .lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| {
            let rest = &l[l.find(&key)? + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Every file (not folder) below `dir`, relative, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `seedbed seed` of `torrent` with data in `data`, on loopback, with
/// `extra` flags; returns the guard and the address it listens on.
fn our_seed(torrent: &Path, data: &Path, extra: &[&str]) -> (ChildGuard, String) {
    let mut cmd = common::seedbed();
    cmd.args(["seed", "--torrent"])
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-trackers",
            "--no-dht",
            "--json",
        ])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let mut seeder = ChildGuard::spawn("seedbed seed", &mut cmd);
    let listen = seeder.wait_line(Duration::from_secs(30), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        Some(v["listen"].as_str()?.to_owned())
    });
    (seeder, listen)
}

/// `seedbed download --json` of `torrent` into `dst` from `peer`, with
/// `extra` flags, logging at `log` (`RUST_LOG`); must exit 0. Returns
/// the summary and stderr.
fn download(
    torrent: &Path,
    dst: &Path,
    peer: &str,
    extra: &[&str],
    log: &str,
) -> (serde_json::Value, String) {
    let mut cmd = common::seedbed();
    cmd.args(["download", "--torrent"])
        .arg(torrent)
        .arg("--output-directory")
        .arg(dst)
        .args([
            "--peer",
            peer,
            "--no-trackers",
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--json"])
        .args(extra)
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1");
    let r = run_cmd_within(LIMIT, cmd).ok();
    (r.json(), r.stderr)
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// Files 0 `a/b/big.bin` (2,000,000 bytes), 1 `a/small.txt` (1,000, in
/// piece 30 with the end of big.bin and the start of top.bin), 2
/// `top.bin` (77,777), pieces of 64 KiB. `--only 1` fetches piece 30 only:
/// small.txt appears, the other bytes of that piece wait in
/// `.content.parts`, no other file is created. `--only 0,1` then fetches
/// big.bin (its tail from the part file, piece 30 not again); a plain run
/// fetches the last piece, top.bin takes its bytes back and the part file
/// goes. A fourth run reads and fetches nothing. A restarted `seed` trusts
/// its resume data and reads nothing; with `--no-resume` it reads it all.
#[test]
fn only_chosen_files_then_the_rest_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 2_000_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let (mut seeder, peer) = our_seed(&file, &src, &[]);
    let dst = dir.path().join("dst");
    let got = dst.join("content");

    let (j, _) = download(&file, &dst, &peer, &["--only", "1"], "warn");
    assert!(same(&content.join("a/small.txt"), &got.join("a/small.txt")));
    assert_eq!(
        files_below(&dst),
        [
            ".content.parts".to_owned(),
            format!(".seedbed/{}.resume", j["info_hash"].as_str().unwrap()),
            "content/a/small.txt".to_owned(),
        ],
        "only small.txt, the part file and the resume data"
    );
    let downloaded = j["downloaded"].as_u64().unwrap();
    assert!(
        (1000..=2 * 65_536).contains(&downloaded),
        "one piece fetched, not {downloaded} bytes"
    );

    let (j, _) = download(&file, &dst, &peer, &["--only", "0,1"], "warn");
    assert!(same(&content.join("a/b/big.bin"), &got.join("a/b/big.bin")));
    assert!(same(&content.join("a/small.txt"), &got.join("a/small.txt")));
    assert!(!got.join("top.bin").exists(), "top.bin is still skipped");
    assert!(dst.join(".content.parts").exists(), "top.bin's bytes wait");
    let downloaded = j["downloaded"].as_u64().unwrap();
    assert!(
        downloaded < 2_000_000,
        "piece 30 is not fetched again: {downloaded} bytes"
    );

    let (j, _) = download(&file, &dst, &peer, &[], "warn");
    for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
        assert!(same(&content.join(rel), &got.join(rel)), "{rel} differs");
    }
    assert!(
        !dst.join(".content.parts").exists(),
        "the part file is gone"
    );
    let downloaded = j["downloaded"].as_u64().unwrap();
    assert!(
        downloaded <= 2 * 65_536,
        "only the last piece is fetched: {downloaded} bytes"
    );

    // The same command on the finished folder: nothing read or fetched.
    let (j, stderr) = download(&file, &dst, &peer, &[], "info");
    let n = j["pieces"].as_u64().unwrap();
    assert_eq!(
        log_field(&stderr, "checked existing data", "trusted"),
        [n],
        "{stderr}"
    );
    assert_eq!(log_field(&stderr, "checked existing data", "read"), [0]);
    assert_eq!(j["downloaded"], 0);

    // The seeder saved resume data: started again, it reads nothing.
    seeder.interrupt(Duration::from_secs(30));
    assert!(log_field(&seeder.stderr(), "checked existing data", "read")[0] > 0);
    let checked = |extra: &[&str], key: &str| {
        let (seeder, _) = our_seed(&file, &src, extra);
        let field = || log_field(&seeder.stderr(), "checked existing data", key);
        for _ in 0..50 {
            if !field().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        field()
    };
    assert_eq!(checked(&[], "read"), [0]);
    assert_eq!(checked(&[], "trusted"), [n]);
    // --no-resume: every byte read and hashed again.
    assert_eq!(
        checked(&["--no-resume"], "read"),
        [2_000_000 + 1000 + 77_777]
    );
    assert_eq!(checked(&["--no-resume"], "trusted"), [0]);
}

/// `--only 1` (small.txt, 1,000 bytes inside piece 3 with the end of
/// big.bin and the start of top.bin): the run exits 0 with the progress at
/// 100 % of the wanted bytes, not of the torrent: the summary has
/// `wanted_bytes` 1,000 of them verified, the last log line says so, and
/// the text summary says what was fetched of what.
#[test]
fn only_one_file_ends_at_100_percent_of_the_wanted_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 200_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let (_seeder, peer) = our_seed(&file, &src, &[]);
    let dst = dir.path().join("dst");

    let (j, stderr) = download(&file, &dst, &peer, &["--only", "1"], "info");
    assert_eq!(j["total_bytes"], 200_000 + 1000 + 77_777, "{j}");
    assert_eq!(j["wanted_bytes"], 1000, "{j}");
    assert_eq!(j["wanted_bytes_have"], 1000, "{j}");
    assert!(same(
        &content.join("a/small.txt"),
        &dst.join("content/a/small.txt")
    ));
    let last = strip_ansi(&stderr)
        .lines()
        .rfind(|l| l.contains("progress"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no progress line: {stderr}"));
    assert!(last.contains("percent=100.0 %"), "{last}");
    assert_eq!(log_field(&stderr, "progress", "wanted_bytes_have"), [1000]);
    assert_eq!(log_field(&stderr, "progress", "wanted_bytes"), [1000]);

    // Text: the fetched bytes of the torrent's.
    let mut cmd = common::seedbed();
    cmd.args(["download", "--torrent"])
        .arg(&file)
        .arg("--output-directory")
        .arg(dir.path().join("dst2"))
        .args(["--peer", &peer, "--no-trackers", "--no-dht"])
        .args(["--listen", "127.0.0.1:0", "--no-resume", "--only", "1"]);
    let text = run_cmd_within(LIMIT, cmd).ok();
    assert!(
        text.stdout
            .starts_with("complete: content (1000 of 278777 bytes, 5 pieces)"),
        "{}",
        text.stdout
    );
}

/// `seed --max-queued-requests N` is the `reqq` its extension handshake
/// announces (BEP 10; 2000 without the flag), as `probe` sees it; 0 is
/// refused.
#[test]
fn seed_announces_the_reqq_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 50_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let probe = |peer: &str| {
        let mut cmd = common::seedbed();
        cmd.args(["probe", "--torrent"])
            .arg(&file)
            .args(["--peer", peer, "--timeout", "10"]);
        run_cmd_within(LIMIT, cmd).ok().stdout
    };
    for (extra, want) in [
        (&[][..], "2000"),
        (&["--max-queued-requests", "123"][..], "123"),
    ] {
        let (_seeder, peer) = our_seed(&file, &src, extra);
        let text = probe(&peer);
        assert!(
            text.contains(&format!("reqq         {want}\n")),
            "{extra:?}: {text}"
        );
    }
    let mut cmd = common::seedbed();
    cmd.args(["seed", "--torrent"])
        .arg(&file)
        .arg("--data")
        .arg(&src)
        .args(["--max-queued-requests", "0"]);
    run_cmd_within(LIMIT, cmd).fails_with(2, "--max-queued-requests");
}

/// For each piece of `order`, how many pieces of higher index came
/// before it; the mean of these.
fn mean_overtaken(order: &[u32]) -> f64 {
    let overtaken: usize = order
        .iter()
        .enumerate()
        .map(|(i, p)| order[..i].iter().filter(|q| *q > p).count())
        .sum();
    overtaken as f64 / order.len().max(1) as f64
}

/// `--sequential`: the pieces (their "piece verified" debug lines) come
/// in index order, but for the seeder's allowed fast set (BEP 6, fetched
/// while it still choked us) and a few overtaken while a hashing thread
/// was slow (the binary hashes on every core).
#[test]
fn sequential_verifies_pieces_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 3_000_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let torrent = seedbed::metainfo::Torrent::from_bytes(std::fs::read(&file).unwrap()).unwrap();
    let n = torrent.info().geometry().num_pieces();
    let fast =
        seedbed::wire::allowed_fast_set(&torrent.info_hash(), std::net::Ipv4Addr::LOCALHOST, n, 4);
    let (_seeder, peer) = our_seed(&file, &src, &[]);
    let dst = dir.path().join("dst");
    let (_, stderr) = download(
        &file,
        &dst,
        &peer,
        &["--sequential", "--no-resume"],
        "seedbed_session::torrent=debug",
    );
    for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
        assert!(
            same(&content.join(rel), &dst.join("content").join(rel)),
            "{rel}"
        );
    }
    let order: Vec<u32> = log_field(&stderr, "piece verified", "piece")
        .into_iter()
        .map(|p| u32::try_from(p).unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "each piece once");
    let rest: Vec<u32> = order.into_iter().filter(|p| !fast.contains(p)).collect();
    // Rarest first (random ties) would give about n / 4 on average.
    let mean = mean_overtaken(&rest);
    assert!(
        mean <= 3.0,
        "not in order (each piece overtaken by {mean:.1} on average): {rest:?} ({n} pieces, fast set {fast:?})"
    );
}
