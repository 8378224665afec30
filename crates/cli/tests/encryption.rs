//! `seedbed download --encryption ...` and `seedbed seed --encryption ...`
//! through the built binary (issue 13): a forced-RC4 seeder serves a
//! forced-RC4 download (data compared byte for byte), and refuses a
//! download with encryption disabled (it never gets a peer); a download
//! with `--encryption forced` from a python3-libtorrent seeder that
//! requires MSE with an RC4 payload; bad flag values are refused by the
//! parser. Loopback only; every run has a time limit and every child is
//! killed by its guard.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{create_torrent, make_content, run, run_within, ChildGuard};

const RELS: [&str; 3] = ["a/b/big.bin", "a/small.txt", "top.bin"];

fn assert_same(content: &Path, dst: &Path) {
    for rel in RELS {
        assert!(
            std::fs::read(content.join(rel)).unwrap()
                == std::fs::read(dst.join("content").join(rel)).unwrap(),
            "{rel} differs"
        );
    }
}

/// `seedbed download` of `torrent` from `peer` into `dst` with `extra`
/// flags, within 60 s.
fn download(torrent: &Path, dst: &Path, peer: &str, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "download",
        "--torrent",
        torrent.to_str().unwrap(),
        "--output-directory",
        dst.to_str().unwrap(),
        "--peer",
        peer,
        "--no-trackers",
        "--no-dht",
        "--listen",
        "127.0.0.1:0",
        "--json",
    ];
    args.extend(extra);
    run_within(Duration::from_secs(60), &args)
}

#[test]
fn forced_rc4_seed_serves_forced_rc4_download_and_refuses_plain() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 1_000_000);
    let file = dir.path().join("t.torrent");
    let hash = create_torrent(&content, &file, None);

    let mut cmd = common::seedbed();
    cmd.args(["seed", "--torrent", file.to_str().unwrap()])
        .args(["--data", src.to_str().unwrap()])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-trackers",
            "--no-dht",
            "--json",
        ])
        .args(["--encryption", "forced", "--encryption-level", "rc4"])
        .stdin(Stdio::null());
    let mut seeder = ChildGuard::spawn("seedbed seed --encryption forced", &mut cmd);
    let listen = seeder.wait_line(Duration::from_secs(30), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        Some(v["listen"].as_str()?.to_owned())
    });

    // Both sides allow only an RC4 payload: a finished download proves an
    // RC4 connection.
    let dst = dir.path().join("dst");
    let j = download(
        &file,
        &dst,
        &listen,
        &["--encryption", "forced", "--encryption-level", "rc4"],
    )
    .ok()
    .json();
    assert_eq!(j["info_hash"], hash.as_str());
    assert_eq!(j["total_bytes"], 1_000_000 + 1000 + 77_777);
    assert_same(&content, &dst);

    // A plain-only download: the forced seeder drops its handshake, so no
    // peer is ever connected and the download gives up.
    let plain = dir.path().join("plain");
    download(
        &file,
        &plain,
        &listen,
        &["--encryption", "disabled", "--peer-timeout", "3"],
    )
    .fails_with(1, "no peer reachable within 3 s");
    // Nor does an MSE connection whose payload may only be plaintext.
    download(
        &file,
        &plain,
        &listen,
        &[
            "--encryption",
            "forced",
            "--encryption-level",
            "plaintext",
            "--peer-timeout",
            "3",
        ],
    )
    .fails_with(1, "no peer reachable within 3 s");
    assert!(
        seeder.stderr().contains("peer connected"),
        "{}",
        seeder.tail()
    );
}

#[test]
fn download_from_libtorrent_requiring_rc4() {
    if !common::have_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let content = make_content(dir.path(), 1_000_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    // lt_peer.py --encryption 2: out_enc_policy and in_enc_policy forced,
    // allowed_enc_level RC4.
    let mut cmd = Command::new(common::PYTHON);
    cmd.arg(common::lt_script())
        .arg("seed")
        .arg(&file)
        .arg(dir.path())
        .args(["--encryption", "2"])
        .stdin(Stdio::piped());
    let mut lt = ChildGuard::spawn("libtorrent seeder, MSE forced, RC4", &mut cmd);
    let port: u16 = lt.wait_line(Duration::from_secs(60), |l| {
        l.strip_prefix("READY ")?.trim().parse().ok()
    });
    let peer = format!("127.0.0.1:{port}");

    let dst = dir.path().join("dst");
    download(&file, &dst, &peer, &["--encryption", "forced"]).ok();
    assert_same(&content, &dst);
    // Plain only: libtorrent drops the connection.
    let plain = dir.path().join("plain");
    download(
        &file,
        &plain,
        &peer,
        &["--encryption", "disabled", "--peer-timeout", "3"],
    )
    .fails_with(1, "no peer reachable within 3 s");
}

#[test]
fn bad_encryption_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let any = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    run(&[
        "download",
        "--magnet",
        any,
        "--output-directory",
        out,
        "--encryption",
        "sometimes",
    ])
    .fails_with(2, "unknown encryption policy \"sometimes\"");
    run(&[
        "seed",
        "--torrent",
        "t.torrent",
        "--data",
        out,
        "--encryption-level",
        "aes",
    ])
    .fails_with(2, "unknown encryption level \"aes\"");
    let help = run(&["download", "--help"]).ok().stdout;
    assert!(help.contains("--encryption <POLICY>"), "{help}");
    assert!(help.contains("--encryption-level <LEVEL>"), "{help}");
}
