//! Every command of the built `seedbed` binary: its happy path and its bad
//! input (missing file, corrupt torrent, bad magnet, unreachable peer or
//! tracker), checking the exit status, the message and that nothing
//! panics. Loopback only; every run has a time limit.

mod common;

use std::time::Duration;

use common::{create_torrent, make_content, our_tracker, run, run_within};

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn help_explains_every_command_and_flag() {
    let top = run(&["--help"]).ok();
    for cmd in [
        "create",
        "info",
        "magnet",
        "announce",
        "scrape",
        "tracker",
        "probe",
        "dht",
        "completions",
    ] {
        assert!(top.stdout.contains(cmd), "{cmd} missing: {}", top.stdout);
        let help = run(&[cmd, "--help"]).ok();
        assert!(help.stdout.contains("Usage: seedbed"), "{}", help.stdout);
    }
    // PyBitTorrent-style help texts: each flag has its sentence.
    let announce = run(&["announce", "--help"]).ok().stdout;
    assert!(
        announce.contains("--numwant <N>\n          Peers wanted"),
        "{announce}"
    );
    run(&["no-such-command"]).fails_with(2, "unrecognized subcommand");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = run(&["completions", shell]).ok();
        assert!(r.stdout.contains("seedbed"), "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("announce"), "{shell}");
    }
    run(&["completions", "tcsh"]).fails_with(2, "invalid value 'tcsh'");
}

#[test]
fn create_info_magnet() {
    let dir = tempfile::tempdir().unwrap();
    let content = make_content(dir.path(), 300_000);
    let file = dir.path().join("t.torrent");
    let out = file.to_str().unwrap();

    // Text output: info hashes and magnet link.
    let r = run(&["create", content.to_str().unwrap(), "-o", out, "--quiet"]).ok();
    assert!(r.stdout.contains("info hash v1: "), "{}", r.stdout);
    assert!(r.stdout.contains("info hash v2: "), "hybrid by default");
    let v1 = create_torrent(&content, &file, Some("http://127.0.0.1:1/announce"));

    let r = run(&["info", out]).ok();
    assert!(
        r.stdout.contains(&format!("info hash v1: {v1}")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("piece length: 65536 bytes"));
    // Each file with its index, as `download --only` takes it.
    assert!(
        r.stdout
            .contains("   0  content/a/b/big.bin (300000 bytes)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("   2  content/top.bin (77777 bytes)"),
        "{}",
        r.stdout
    );
    let j = run(&["info", "--json", out]).ok().json();
    assert_eq!(j["info_hash_v1"], v1.as_str());
    assert_eq!(j["files"][1]["index"], 1);
    assert_eq!(j["files"][1]["path"], "content/a/small.txt");
    assert_eq!(j["total_size"], 300_000 + 1000 + 77_777);
    assert_eq!(j["trackers"][0][0], "http://127.0.0.1:1/announce");

    let link = run(&["magnet", out]).ok().stdout;
    assert!(
        link.starts_with(&format!("magnet:?xt=urn:btih:{v1}")),
        "{link}"
    );
    let j = run(&["magnet", "--json", out]).ok().json();
    assert_eq!(j["info_hash"], v1.as_str());
    assert_eq!(j["name"], "content");
    let j = run(&["magnet", "--parse", link.trim()]).ok().json();
    assert_eq!(j["canonical"], link.trim());
    assert_eq!(j["trackers"][0], "http://127.0.0.1:1/announce");
}

#[test]
fn bad_files_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.torrent");
    let missing = missing.to_str().unwrap();
    let corrupt = dir.path().join("corrupt.torrent");
    std::fs::write(&corrupt, b"d8:announce3:abc4:infod4:name1:xee").unwrap();
    let corrupt = corrupt.to_str().unwrap();
    let out = dir.path().join("out.torrent");

    run(&["info", missing]).fails_with(1, "No such file or directory");
    run(&["info", corrupt]).fails_with(1, "not a valid torrent");
    // The good ones are still shown when one fails.
    let good = dir.path().join("good.torrent");
    let content = make_content(dir.path(), 10_000);
    create_torrent(&content, &good, None);
    let r = run(&["info", good.to_str().unwrap(), corrupt]).fails_with(1, "corrupt.torrent");
    assert!(r.stdout.contains("name:         content"), "{}", r.stdout);

    run(&["magnet", missing]).fails_with(1, "No such file or directory");
    run(&["magnet", corrupt]).fails_with(1, "not a valid torrent");
    run(&["magnet", "--parse", "magnet:?dn=no-hash"]).fails_with(1, "bad magnet link");
    run(&["magnet", "--parse", "http://not-a-magnet"]).fails_with(1, "bad magnet link");

    let nothing = dir.path().join("nothing");
    run(&[
        "create",
        nothing.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
    .fails_with(1, "error:");
    assert!(!out.exists());
    let r = run(&[
        "create",
        content.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--piece-length",
        "1000",
        "--quiet",
    ]);
    r.fails_with(1, "piece length");
    run(&["create", ".", "-o", "x", "--piece-length", "12Q"]).fails_with(2, "unknown unit");
    // Into a folder that does not exist.
    let unwritable = dir.path().join("no/such/dir/t.torrent");
    run(&[
        "create",
        content.to_str().unwrap(),
        "-o",
        unwritable.to_str().unwrap(),
        "-q",
    ])
    .fails_with(1, "writing");
    run(&["probe", "--torrent", missing, "--peer", "127.0.0.1:1"])
        .fails_with(1, "No such file or directory");
    run(&["probe", "--torrent", corrupt, "--peer", "127.0.0.1:1"]).fails_with(1, "error:");
    run(&["announce", "--torrent", missing]).fails_with(1, "No such file or directory");
    run(&["announce", "--torrent", corrupt]).fails_with(1, "not a valid torrent");
    run(&["announce", "--info-hash", "xyz"]).fails_with(2, "--info-hash");
    run(&["announce", "--info-hash", HASH]).fails_with(1, "give --tracker");
    run(&["scrape", "--tracker", "http://127.0.0.1:1/announce"]).fails_with(2, "--info-hash");
}

#[test]
fn tracker_announce_scrape() {
    let (tracker, http) = our_tracker();
    let udp = serde_json::from_str::<serde_json::Value>(tracker.stdout().lines().next().unwrap())
        .unwrap()["udp"]
        .as_str()
        .unwrap()
        .to_owned();
    let announce = |url: &str, port: &str, left: &str| {
        run(&[
            "announce",
            "--tracker",
            url,
            "--info-hash",
            HASH,
            "--port",
            port,
            "--left",
            left,
            "--json",
        ])
        .ok()
        .json()
    };
    let first = announce(&http, "7001", "0");
    assert_eq!(first["interval"], 5);
    assert_eq!(first["peers"], serde_json::json!([]));
    // A second peer over UDP is told about the first.
    let second = announce(&udp, "7002", "100");
    assert_eq!(second["complete"], 1);
    assert_eq!(second["peers"], serde_json::json!(["127.0.0.1:7001"]));

    let text = run(&[
        "announce",
        "--tracker",
        &http,
        "--info-hash",
        HASH,
        "--port",
        "7003",
    ])
    .ok();
    assert!(text.stdout.contains("seeders:  1"), "{}", text.stdout);
    assert!(text.stdout.contains("leechers: 2"), "{}", text.stdout);

    let other = "fedcba9876543210fedcba9876543210fedcba98";
    let j = run(&["scrape", "--tracker", &udp, "--info-hash", HASH, "--json"])
        .ok()
        .json();
    assert_eq!(j["files"][HASH]["complete"], 1);
    assert_eq!(j["files"][HASH]["incomplete"], 2);
    let text = run(&["scrape", "--tracker", &http, "--info-hash", HASH, other]).ok();
    assert!(
        text.stdout
            .contains(&format!("{HASH}  seeders 1  leechers 2")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("{other}  unknown")),
        "{}",
        text.stdout
    );
    drop(tracker);
}

#[test]
fn unreachable_tracker() {
    // Nothing listens on port 1 of 127.0.0.1.
    let limit = Duration::from_secs(20);
    run_within(
        limit,
        &[
            "announce",
            "--tracker",
            "http://127.0.0.1:1/announce",
            "--info-hash",
            HASH,
        ],
    )
    .fails_with(1, "error:");
    run_within(
        limit,
        &[
            "announce",
            "--tracker",
            "udp://127.0.0.1:1",
            "--info-hash",
            HASH,
            "--timeout",
            "2",
        ],
    )
    .fails_with(1, "error:");
    run_within(
        limit,
        &[
            "scrape",
            "--tracker",
            "udp://127.0.0.1:1",
            "--info-hash",
            HASH,
            "--timeout",
            "2",
        ],
    )
    .fails_with(1, "error:");
    run(&["announce", "--tracker", "gopher://x", "--info-hash", HASH]).fails_with(1, "error:");
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(&["tracker", "--http", &addr]).fails_with(1, "cannot bind");
    run(&["tracker"]).fails_with(2, "--http");
}

#[test]
fn probe_a_libtorrent_peer_and_an_unreachable_one() {
    let dir = tempfile::tempdir().unwrap();
    let content = make_content(dir.path(), 300_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let torrent = file.to_str().unwrap();
    run_within(
        Duration::from_secs(20),
        &[
            "probe",
            "--torrent",
            torrent,
            "--peer",
            "127.0.0.1:1",
            "--timeout",
            "3",
        ],
    )
    .fails_with(1, "127.0.0.1:1: cannot connect");

    if !common::have_libtorrent() {
        return;
    }
    let (_seeder, port) = common::lt_seed(&file, dir.path());
    let peer = format!("127.0.0.1:{port}");
    let j = run(&["probe", "--torrent", torrent, "--peer", &peer, "--json"])
        .ok()
        .json();
    assert_eq!(
        j["client"].as_str().map(|c| c.starts_with("libtorrent")),
        Some(true),
        "{j}"
    );
    assert_eq!(j["pieces_have"], j["num_pieces"]);
    assert_eq!(j["extension_protocol"], true);
    let text = run(&["probe", "--torrent", torrent, "--peer", &peer])
        .ok()
        .stdout;
    assert!(text.contains("pieces       6/6 (have all)"), "{text}");
    // Another torrent's info hash: the peer hangs up.
    let other = dir.path().join("other.torrent");
    let content2 = dir.path().join("x");
    std::fs::create_dir_all(&content2).unwrap();
    std::fs::write(content2.join("f"), b"other").unwrap();
    create_torrent(&content2, &other, None);
    run(&[
        "probe",
        "--torrent",
        other.to_str().unwrap(),
        "--peer",
        &peer,
        "--timeout",
        "5",
    ])
    .fails_with(1, &peer);
}

#[test]
fn download_and_seed_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.torrent");
    let missing = missing.to_str().unwrap();
    let corrupt = dir.path().join("corrupt.torrent");
    std::fs::write(&corrupt, b"not bencode at all").unwrap();
    let corrupt = corrupt.to_str().unwrap();
    let out = dir.path().to_str().unwrap();
    let base = [
        "--output-directory",
        out,
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--no-dht",
    ];
    let download = |extra: &[&str]| {
        let mut a = vec!["download"];
        a.extend(base);
        a.extend(extra);
        run(&a)
    };
    download(&["--torrent", missing]).fails_with(1, "No such file or directory");
    download(&["--torrent", corrupt]).fails_with(1, "not a valid torrent");
    download(&["--magnet", "magnet:?xt=urn:btih:nothex"]).fails_with(1, "bad magnet link");
    download(&[]).fails_with(2, "--torrent");
    download(&["--torrent", missing, "--utp-only", "--no-utp"]).fails_with(2, "--utp-only");
    let peers = dir.path().join("peers.txt");
    std::fs::write(&peers, "127.0.0.1:1\nnonsense\n").unwrap();
    download(&[
        "--magnet",
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
        "--peers",
        peers.to_str().unwrap(),
    ])
    .fails_with(1, "peers.txt:2: bad address \"nonsense\"");

    // An unreachable peer: a clear error after --peer-timeout, and
    // nothing left behind.
    let content = make_content(dir.path(), 100_000);
    let file = dir.path().join("t.torrent");
    create_torrent(&content, &file, None);
    let dst = dir.path().join("dst");
    let r = run_within(
        Duration::from_secs(30),
        &[
            "download",
            "--torrent",
            file.to_str().unwrap(),
            "--output-directory",
            dst.to_str().unwrap(),
            "--peer",
            "127.0.0.1:1",
            "--peer-timeout",
            "2",
            "--no-trackers",
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    r.fails_with(1, "no peer reachable within 2 s");
    // Files appear when their first piece is written: nothing was.
    assert!(!dst.exists(), "a download that never started left {dst:?}");
    // --only: indexes 0-2 are the torrent's three files.
    download(&["--torrent", file.to_str().unwrap(), "--only", "0,3"])
        .fails_with(1, "file 3 does not exist: the torrent has 3 files");
    download(&["--torrent", file.to_str().unwrap(), "--only", "x"]).fails_with(2, "--only");
    let r = run_within(
        Duration::from_secs(30),
        &[
            "download",
            "--magnet",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=127.0.0.1:1",
            "--output-directory",
            dst.to_str().unwrap(),
            "--peer-timeout",
            "2",
            "--no-trackers",
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    r.fails_with(1, "no peer sent the metadata within 2 s");

    run(&["seed", "--torrent", missing, "--data", out, "--no-dht"])
        .fails_with(1, "No such file or directory");
    run(&["seed", "--torrent", corrupt, "--data", out, "--no-dht"])
        .fails_with(1, "not a valid torrent");
    let nowhere = dir.path().join("nowhere");
    run(&[
        "seed",
        "--torrent",
        file.to_str().unwrap(),
        "--data",
        nowhere.to_str().unwrap(),
        "--no-dht",
    ])
    .fails_with(1, "not a folder");
}

/// `seedbed seed` serves `seedbed download`, then stops on SIGINT with
/// its last line; a second download from a python3-libtorrent seeder.
#[test]
fn seed_then_download() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 2_000_000);
    let file = dir.path().join("t.torrent");
    let hash = create_torrent(&content, &file, None);
    let torrent = file.to_str().unwrap();

    let mut cmd = common::seedbed();
    cmd.args([
        "seed",
        "--torrent",
        torrent,
        "--data",
        src.to_str().unwrap(),
    ])
    .args([
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--no-dht",
        "--json",
    ])
    .stdin(std::process::Stdio::null());
    let mut seeder = common::ChildGuard::spawn("seedbed seed", &mut cmd);
    let listen = seeder.wait_line(Duration::from_secs(30), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        assert_eq!(v["valid_pieces"], v["pieces"], "{v}");
        Some(v["listen"].as_str()?.to_owned())
    });

    let dst = dir.path().join("dst");
    let download = |peer: &str, dst: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "download",
            "--torrent",
            torrent,
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
        run_within(Duration::from_secs(60), &args).ok().json()
    };
    // Both transports (uTP dialled first), then each one alone: the
    // seeder accepts TCP and uTP on its listen port.
    for (i, extra) in [&[][..], &["--utp-only"], &["--no-utp"]].iter().enumerate() {
        let dst = dst.join(i.to_string());
        let j = download(&listen, &dst, extra);
        assert_eq!(j["info_hash"], hash.as_str());
        assert_eq!(j["total_bytes"], 2_000_000 + 1000 + 77_777);
        for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
            assert!(
                std::fs::read(content.join(rel)).unwrap()
                    == std::fs::read(dst.join("content").join(rel)).unwrap(),
                "{rel} differs ({extra:?})"
            );
        }
    }
    // Ctrl-C: the seeder says how much it uploaded and exits 0.
    seeder.interrupt(Duration::from_secs(30));
    let last = seeder.last_json();
    assert!(
        last["uploaded"].as_u64().unwrap() >= 3 * 2_000_000,
        "{last}"
    );

    if !common::have_libtorrent() {
        return;
    }
    let (_lt, port) = common::lt_seed(&file, &src);
    let dst2 = dir.path().join("dst2");
    let text = run_within(
        Duration::from_secs(60),
        &[
            "download",
            "--torrent",
            torrent,
            "--output-directory",
            dst2.to_str().unwrap(),
            "--peer",
            &format!("127.0.0.1:{port}"),
            "--no-trackers",
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .ok();
    assert!(
        text.stdout.starts_with("complete: content ("),
        "{}",
        text.stdout
    );
    assert!(dst2.join("content/a/b/big.bin").exists());
}

/// `seedbed dht` against a loopback node of its own (`dht serve`): ping,
/// announce, get-peers (JSON and text), sample; then bad input: a bad
/// hash, a bad address, a missing port, an unreachable bootstrap node and
/// an unreachable node to ping.
#[test]
fn dht_commands_against_a_loopback_node() {
    let mut cmd = common::seedbed();
    cmd.args(["dht", "serve", "--bind", "127.0.0.1:0", "--json"])
        .stdin(std::process::Stdio::null());
    let mut server = common::ChildGuard::spawn("seedbed dht serve", &mut cmd);
    let (id, node) = server.wait_line(Duration::from_secs(20), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        Some((
            v["id"].as_str()?.to_owned(),
            v["addrs"][0].as_str()?.to_owned(),
        ))
    });
    let dht = |args: &[&str]| {
        let mut a = vec!["dht"];
        a.extend(args);
        a.extend(["--bind", "127.0.0.1:0", "--timeout", "20"]);
        run(&a)
    };

    let pong = dht(&["ping", &node, "--json"]).ok().json();
    assert_eq!(pong["id"], id.as_str(), "{pong}");
    assert_eq!(pong["addr"], node.as_str());
    let text = dht(&["ping", &node]).ok().stdout;
    assert!(
        text.starts_with(&format!("pong from {node} ({id})")),
        "{text}"
    );

    let a = dht(&[
        "announce",
        HASH,
        "--port",
        "4321",
        "--bootstrap",
        &node,
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(a["acked"], 1, "{a}");
    assert_eq!(a["port"], 4321);
    let found = dht(&["get-peers", HASH, "--bootstrap", &node, "--json"])
        .ok()
        .json();
    assert_eq!(found["info_hash"], HASH);
    assert_eq!(
        found["peers"],
        serde_json::json!(["127.0.0.1:4321"]),
        "{found}"
    );
    let text = dht(&["get-peers", HASH, "--bootstrap", &node]).ok().stdout;
    assert!(
        text.starts_with("peer 127.0.0.1:4321\n1 peers in "),
        "{text}"
    );
    // BEP 51: the node samples what it stores.
    let sample = dht(&["sample", &node, "--json"]).ok().json();
    assert_eq!(sample["samples"], serde_json::json!([HASH]), "{sample}");
    assert_eq!(sample["num"], 1);

    // Ctrl-C: the node says what it served and exits 0.
    server.interrupt(Duration::from_secs(20));
    let last = server.last_json();
    assert!(last["queries"].as_u64().unwrap() >= 6, "{last}");
    assert_eq!(last["peers"], 1, "{last}");

    // Bad input.
    dht(&["get-peers", "nothex", "--bootstrap", "127.0.0.1:1"]).fails_with(2, "invalid value");
    dht(&["get-peers", HASH, "--bootstrap", "nonsense"]).fails_with(2, "not host:port");
    dht(&["announce", HASH, "--bootstrap", "127.0.0.1:1"]).fails_with(2, "--port");
    dht(&["ping", "127.0.0.1:99999"]).fails_with(2, "bad port");
    dht(&["get-peers", HASH, "--bootstrap", "127.0.0.1:1"])
        .fails_with(1, "no DHT node answered the bootstrap");
    dht(&["ping", "127.0.0.1:1"]).fails_with(1, "error:");
    // The download and seed flags check their addresses too.
    run(&[
        "download",
        "--magnet",
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
        "--dht-bootstrap",
        "nonsense",
    ])
    .fails_with(2, "not host:port");
    run(&[
        "download",
        "--torrent",
        "x",
        "--no-dht",
        "--dht-bootstrap",
        "127.0.0.1:1",
    ])
    .fails_with(2, "cannot be used with");
}

/// `seedbed download` given only `magnet:?xt=urn:btih:HASH` and loopback
/// DHT nodes (no tracker, no peer): it finds a python3-libtorrent seeder
/// through the DHT, fetches the metadata from it and completes with the
/// right data.
#[test]
fn download_a_bare_magnet_link_through_the_dht() {
    if !common::have_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 1_000_000);
    let file = dir.path().join("t.torrent");
    let hash = create_torrent(&content, &file, None);
    let saves = dir.path().join("lt");
    std::fs::create_dir_all(&saves).unwrap();
    let mut swarm = common::LtDhtSwarm::start(3, &saves);
    let seeding = swarm.command(
        &format!("SEED 0 {} {}", file.display(), src.display()),
        Duration::from_secs(70),
    );
    let seeder = swarm.addrs[0];
    assert_eq!(seeding, format!("SEEDING 0 {}", seeder.port()));
    // The seeder is in the DHT before we look.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let peers = swarm.command(&format!("GET_PEERS 1 {hash} 5"), Duration::from_secs(15));
        if peers.split_whitespace().any(|p| p == seeder.to_string()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the libtorrent seeder is not in the DHT: {peers}"
        );
    }

    let dst = dir.path().join("dst");
    let nodes: Vec<String> = swarm.addrs[1..].iter().map(|a| a.to_string()).collect();
    let mut args = vec![
        "download".to_owned(),
        "--magnet".to_owned(),
        format!("magnet:?xt=urn:btih:{hash}"),
        "--output-directory".to_owned(),
        dst.to_str().unwrap().to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--peer-timeout".to_owned(),
        "45".to_owned(),
        "--json".to_owned(),
        "--dht-bootstrap".to_owned(),
    ];
    args.extend(nodes);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let j = run_within(Duration::from_secs(60), &args).ok().json();
    assert_eq!(j["info_hash"], hash.as_str(), "{j}");
    assert_eq!(j["total_bytes"], 1_000_000 + 1000 + 77_777);
    for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
        assert!(
            std::fs::read(content.join(rel)).unwrap()
                == std::fs::read(dst.join("content").join(rel)).unwrap(),
            "{rel} differs"
        );
    }
}

/// `seed --dht-bootstrap NODE --dht-state FILE` shares its listen port
/// with the DHT's UDP socket, announces the torrent to the loopback node
/// (`dht get-peers` there finds the seeder's listen address) and writes
/// the routing table, with that node, to FILE at exit; `seed --no-dht`
/// binds no UDP socket at all.
#[test]
fn seed_dht_flags() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 200_000);
    let file = dir.path().join("t.torrent");
    let hash = create_torrent(&content, &file, None);
    let state = dir.path().join("dht.state");

    let mut cmd = common::seedbed();
    cmd.args(["dht", "serve", "--bind", "127.0.0.1:0", "--json"])
        .stdin(std::process::Stdio::null());
    let mut node = common::ChildGuard::spawn("seedbed dht serve", &mut cmd);
    let node_addr: std::net::SocketAddr = node.wait_line(Duration::from_secs(20), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        v["addrs"][0].as_str()?.parse().ok()
    });

    let seed = |dht: &[&str]| {
        let mut cmd = common::seedbed();
        cmd.args(["seed", "--torrent", file.to_str().unwrap()])
            .args(["--data", src.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--no-trackers", "--json"])
            .args(dht)
            .stdin(std::process::Stdio::null());
        let mut seeder = common::ChildGuard::spawn("seedbed seed", &mut cmd);
        let listen: std::net::SocketAddr = seeder.wait_line(Duration::from_secs(30), |l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["listen"].as_str()?.parse().ok()
        });
        (seeder, listen)
    };
    let stop = |mut seeder: common::ChildGuard| {
        seeder.interrupt(Duration::from_secs(30));
    };

    let node_str = node_addr.to_string();
    let (seeder, listen) = seed(&[
        "--dht-bootstrap",
        &node_str,
        "--dht-state",
        state.to_str().unwrap(),
    ]);
    // The DHT holds the listen address's UDP port.
    assert!(
        std::net::UdpSocket::bind(listen).is_err(),
        "no UDP socket on {listen}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = run(&[
            "dht",
            "get-peers",
            &hash,
            "--bootstrap",
            &node_str,
            "--bind",
            "127.0.0.1:0",
            "--timeout",
            "10",
            "--json",
        ])
        .ok()
        .json();
        if found["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == listen.to_string().as_str())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seeder is not announced: {found}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(seeder);
    let saved = seedbed::dht::RoutingState::decode(&std::fs::read(&state).unwrap()).unwrap();
    assert!(saved.nodes.iter().any(|n| n.addr == node_addr), "{saved:?}");

    // --no-dht: the listen port's UDP side carries uTP only; with
    // --no-utp too it stays free.
    let (seeder, listen) = seed(&["--no-dht"]);
    assert!(
        std::net::UdpSocket::bind(listen).is_err(),
        "uTP listens on the UDP side of the listen port"
    );
    stop(seeder);
    let (seeder, listen) = seed(&["--no-dht", "--no-utp"]);
    std::net::UdpSocket::bind(listen).expect("no UDP socket with --no-dht --no-utp");
    stop(seeder);
}

/// A v2-only torrent (BEP 52) made by `seedbed create --v2`: `seedbed
/// seed` serves it to `seedbed download`, from the .torrent file and from
/// a `btmh`-only magnet link (then the piece layers come from the seeder
/// with `hash request`); the summary has the hashing time.
#[test]
fn v2_only_seed_then_download() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let content = make_content(&src, 300_000);
    let file = dir.path().join("v2.torrent");
    let created = run(&[
        "create",
        content.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
        "--v2",
        "--piece-length",
        "32k",
        "--quiet",
        "--json",
    ])
    .ok()
    .json();
    assert!(created["info_hash_v1"].is_null(), "{created}");
    let v2 = created["info_hash_v2"].as_str().unwrap().to_owned();
    let torrent = file.to_str().unwrap();

    let mut cmd = common::seedbed();
    cmd.args([
        "seed",
        "--torrent",
        torrent,
        "--data",
        src.to_str().unwrap(),
    ])
    .args(["--listen", "127.0.0.1:0", "--no-trackers", "--json"])
    .stdin(std::process::Stdio::null());
    let mut seeder = common::ChildGuard::spawn("seedbed seed", &mut cmd);
    let listen = seeder.wait_line(Duration::from_secs(30), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        assert_eq!(v["valid_pieces"], v["pieces"], "{v}");
        Some(v["listen"].as_str()?.to_owned())
    });

    let magnet = format!("magnet:?xt=urn:btmh:1220{v2}");
    for (n, source) in [("--torrent", torrent), ("--magnet", magnet.as_str())]
        .into_iter()
        .enumerate()
    {
        let dst = dir.path().join(format!("dst{n}"));
        let j = run_within(
            Duration::from_secs(60),
            &[
                "download",
                source.0,
                source.1,
                "--output-directory",
                dst.to_str().unwrap(),
                "--peer",
                &listen,
                "--no-trackers",
                "--listen",
                "127.0.0.1:0",
                "--json",
            ],
        )
        .ok()
        .json();
        // The byte stream: each file but the last padded to a piece.
        assert_eq!(j["total_bytes"], 10 * 32768 + 32768 + 77_777, "{j}");
        assert!(j["hashing_seconds"].as_f64().is_some(), "{j}");
        for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
            assert!(
                std::fs::read(content.join(rel)).unwrap()
                    == std::fs::read(dst.join("content").join(rel)).unwrap(),
                "{source:?}: {rel} differs"
            );
        }
    }
}
