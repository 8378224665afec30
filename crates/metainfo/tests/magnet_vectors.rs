//! Every row of `shared/corpus/*/magnet_vectors.tsv` (libtorrent, anacrolix,
//! transmission): parse rows give the expected outcome and fields, generate
//! rows give libtorrent's `make_magnet_uri` output byte for byte.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seedbed_metainfo::{HostPort, InfoHash, InfoHashV2, Magnet, Torrent};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

fn corpus() -> Option<PathBuf> {
    let p = Path::new(CORPUS);
    if p.is_dir() {
        return Some(p.to_path_buf());
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("corpus not found at {CORPUS} (required when CI=true)");
    }
    println!("SKIPPED: corpus not found at {CORPUS}");
    None
}

struct Row {
    file: String,
    cols: HashMap<String, String>,
}

impl Row {
    fn get(&self, col: &str) -> &str {
        self.cols
            .get(col)
            .unwrap_or_else(|| panic!("{}: no column {col}", self.file))
    }
    fn name(&self) -> &str {
        self.get("name")
    }
}

fn rows(dir: &Path) -> Vec<Row> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().join("magnet_vectors.tsv"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "expected three magnet_vectors.tsv files");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        for line in lines.filter(|l| !l.is_empty()) {
            let cols = header
                .iter()
                .zip(line.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            out.push(Row {
                file: path.display().to_string(),
                cols,
            });
        }
    }
    out
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `key=value` items of the `expected_result` column, split on `; `.
fn expected_field<'a>(row: &'a Row, key: &str) -> Option<&'a str> {
    row.get("expected_result")
        .split("; ")
        .find_map(|item| item.strip_prefix(key)?.strip_prefix('='))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sock(s: &str) -> HostPort {
    HostPort::Ip(s.parse::<SocketAddr>().unwrap())
}

/// The wanted file indices, expanded.
fn selected(m: &Magnet) -> Vec<u32> {
    m.select_only().iter().flat_map(|r| r.clone()).collect()
}

fn check_parse_row(row: &Row) -> usize {
    let input = unhex(row.get("input_hex"));
    let result = Magnet::parse_bytes(&input);
    let name = row.name();
    match row.get("expect") {
        "error" => {
            assert!(result.is_err(), "{name}: expected an error, got {result:?}");
            return 1;
        }
        "any" => {
            // empty_tr: the test only requires that no tracker comes out.
            if let Ok(m) = &result {
                assert!(m.trackers().is_empty(), "{name}");
            }
            return 1;
        }
        "ok" => {}
        other => panic!("{name}: unknown expect {other}"),
    }
    let m = result.unwrap_or_else(|e| panic!("{name}: expected ok, got {e}"));
    let mut checks = 0;

    // Hashes, stated in every ok row except the select-only and i2p ones
    // (there the observed column carries the v1 hash).
    match expected_field(row, "v1") {
        Some(h) => assert_eq!(
            m.info_hash_v1(),
            Some(h.parse::<InfoHash>().unwrap()),
            "{name}"
        ),
        None => {
            let observed = row.get("observed_python_libtorrent_2.0.8");
            let v1 = observed
                .split(' ')
                .find_map(|t| t.strip_prefix("v1="))
                .expect("observed v1");
            if v1.bytes().all(|b| b == b'0') {
                assert_eq!(m.info_hash_v1(), None, "{name}");
            } else {
                assert_eq!(m.info_hash_v1(), Some(v1.parse().unwrap()), "{name}");
            }
        }
    }
    checks += 1;
    if let Some(h) = expected_field(row, "v2") {
        assert_eq!(
            m.info_hash_v2(),
            Some(h.parse::<InfoHashV2>().unwrap()),
            "{name}"
        );
        checks += 1;
    } else {
        assert_eq!(m.info_hash_v2(), None, "{name}");
    }
    if let Some(n) = expected_field(row, "name") {
        assert_eq!(m.name(), Some(n), "{name}");
        checks += 1;
    }

    // Row-specific facts from expected_result, spelled out.
    match name {
        "basic_trackers_dn_dht" => {
            assert_eq!(m.trackers(), strs(&["http://1", "http://2", "http://3"]));
            assert_eq!(m.dht_nodes(), [sock("127.0.0.1:43")]);
        }
        "ed2k_and_btih" => {
            assert_eq!(m.trackers(), strs(&["http://1", "http://2"]));
            // The ed2k topic is not ours; it is kept as an unknown parameter.
            assert_eq!(
                m.extra_params(),
                [(
                    "xt".to_string(),
                    "urn:ed2k:a0a9277894123b27945224fbac8366c9".to_string()
                )]
            );
        }
        "escaped_trackers" => {
            assert_eq!(
                m.trackers(),
                strs(&[
                    "udp://tracker.openbittorrent.com:80",
                    "udp://tracker.publicbt.com:80",
                    "udp://tracker.ccc.de:80"
                ])
            );
            assert_eq!(m.name(), Some("Ubuntu 11.04 (Final)"));
        }
        "mixed_case_keys" | "two_web_seeds" => {
            let want = expected_field(row, "url_seeds").unwrap();
            let want = want.trim_end_matches(" (in order)");
            assert_eq!(m.web_seeds(), strs(&want.split(',').collect::<Vec<_>>()));
        }
        "quote_in_query" => {
            assert_eq!(m.extra_params(), [("\"foo".to_string(), "bar".to_string())]);
        }
        "peers_x_pe" => {
            assert_eq!(m.peers(), [sock("127.0.0.1:43"), sock("[::1]:45")]);
        }
        "dht_nodes" => {
            assert_eq!(m.dht_nodes(), [sock("127.0.0.1:43"), sock("10.0.0.1:1337")]);
        }
        "i2p_tracker" => assert_eq!(m.trackers(), strs(&["https://test.i2p/announce"])),
        "non_i2p_tracker" => assert_eq!(m.trackers(), strs(&["https://test.com/announce"])),
        "so_list_and_range" => assert_eq!(selected(&m), [0, 2, 4, 6, 7, 8]),
        "so_overlapping_ranges" => assert_eq!(selected(&m), [0, 2, 3, 4, 5]),
        "so_repeated_param" => assert_eq!(selected(&m), [1, 2, 3, 4]),
        "so_inverted_range" | "so_huge_index" => assert_eq!(selected(&m), [10]),
        "so_negative" | "so_open_range" | "so_letter" | "so_huge_then_valid" | "so_empty_items" => {
            assert_eq!(selected(&m), [1])
        }
        "so_empty" | "so_quoted" => {
            assert!(m.select_only().is_empty());
            assert!(m.selects_file(0) && m.selects_file(7));
        }
        "tr_x_numbered" => {
            assert_eq!(m.trackers(), strs(&["udp://1", "http://2", "http://3"]));
        }
        "tr_x_bad_number" => assert_eq!(m.trackers(), strs(&["http://2"])),
        "tracker_url_filter" => {
            assert_eq!(
                m.trackers(),
                strs(&["HTTP://2", "udp://4", "https://5", "http://foo"])
            );
        }
        "transmission_style" => {
            assert_eq!(
                m.trackers(),
                strs(&[
                    "http://tracker.publicbt.com/announce",
                    "udp://tracker.publicbt.com:80"
                ])
            );
            assert_eq!(m.web_seeds(), strs(&["http://transmissionbt.com"]));
            // Transmission writes escapes in upper case, libtorrent (and we)
            // in lower case; otherwise regenerating gives the same string.
            let input = row.get("input");
            assert_eq!(m.to_string(), input.to_ascii_lowercase());
        }
        "escaped_xt_colons"
        | "escaped_hex_digit"
        | "base32_hash"
        | "v2_btmh"
        | "hybrid"
        | "no_trailing_newline"
        | "anacrolix_v2_only"
        | "anacrolix_hybrid"
        | "transmission_archlinux_magnet" => {
            // Hashes and name, checked above, are the whole expectation.
            assert!(m.trackers().is_empty());
        }
        other => panic!("row {other} has no check: add one"),
    }
    checks += 1;

    // Formatting and parsing again gives the same value.
    let again: Magnet = m.to_string().parse().unwrap();
    assert_eq!(again, m, "{name}: round trip");
    checks + 1
}

fn generated(name: &str) -> Magnet {
    let a = InfoHash([b'a'; 20]);
    let v1 = Magnet::new_v1(a);
    match name {
        "gen_v2_only" => Magnet::new_v2(InfoHashV2([b'a'; 32])),
        "gen_hybrid" => Magnet::new_hybrid(a, InfoHashV2([b'b'; 32])),
        "gen_so_0" => v1.with_file_selection(&[false, true]),
        "gen_so_all" => v1.with_file_selection(&[true, true]),
        "gen_so_1" => v1.with_file_selection(&[true, false]),
        "gen_so_range" => v1.with_file_selection(&[true, false, true, true, true]),
        "gen_so_ranges" => v1.with_file_selection(&[true, true, false, true, true, true]),
        "gen_so_singles" => v1.with_file_selection(&[true, false, true, false, true]),
        "gen_peer" => v1.with_peer("127.0.0.1:6881".parse::<SocketAddr>().unwrap()),
        "gen_peers" => v1
            .with_peer("127.0.0.1:6881".parse::<SocketAddr>().unwrap())
            .with_peer("1.2.3.4:1234".parse::<SocketAddr>().unwrap()),
        "gen_dht" => v1.with_dht_node(sock("127.0.0.1:6881")),
        "gen_dht2" => v1
            .with_dht_node(sock("127.0.0.1:6881"))
            .with_dht_node(sock("1.2.3.4:1234")),
        "gen_dht_hostname" => v1.with_dht_node("foobar.com:1".parse::<HostPort>().unwrap()),
        "gen_web_seed_escape" => v1.with_web_seed("http://foo.com/bar"),
        "gen_trackers_escape" => Magnet::new_hybrid(a, InfoHashV2([b'b'; 32]))
            .with_tracker("http://foo.bar")
            .with_tracker("udp://foo.bar/announce"),
        other => panic!("generate row {other} has no builder: add one"),
    }
}

fn check_generate_row(row: &Row) -> usize {
    let name = row.name();
    let m = generated(name);
    let got = m.to_string();
    let want = row.get("expected_result");
    if let Some(part) = want.strip_prefix("contains ") {
        assert!(got.contains(part), "{name}: {got} lacks {part}");
    } else {
        let hex = |h: Option<String>| h.unwrap_or_default();
        let want = want
            .replace("<v1 hex>", &hex(m.info_hash_v1().map(|h| h.to_hex())))
            .replace("<v2 hex>", &hex(m.info_hash_v2().map(|h| h.to_hex())));
        assert_eq!(got, want, "{name}");
    }
    // And it parses back to the same value.
    assert_eq!(got.parse::<Magnet>().unwrap(), m, "{name}");
    2
}

#[test]
fn magnet_vectors() {
    let Some(dir) = corpus() else { return };
    let rows = rows(&dir);
    let (mut parse, mut generate, mut checks) = (0, 0, 0);
    for row in &rows {
        match row.get("kind") {
            "parse" => {
                parse += 1;
                checks += check_parse_row(row);
            }
            "generate" => {
                generate += 1;
                checks += check_generate_row(row);
            }
            other => panic!("{}: unknown kind {other}", row.name()),
        }
    }
    println!("{parse} parse rows, {generate} generate rows, {checks} checks");
    assert_eq!(parse + generate, rows.len());
    assert!(parse >= 40 && generate >= 15, "{parse} {generate}");
}

/// For every corpus torrent that python3-libtorrent loads, its
/// `make_magnet_uri` and ours from the same file.
const LT_MAGNETS: &str = r#"
import sys, libtorrent as lt
root = sys.argv[1]
hdr = None
for line in open(root + "/EXPECTED.tsv", encoding="utf-8"):
    cols = line.rstrip("\n").split("\t")
    if hdr is None:
        hdr = cols
        continue
    row = dict(zip(hdr, cols))
    if row["libtorrent_loads"] != "yes":
        continue
    try:
        ti = lt.torrent_info(root + "/" + row["path"])
    except Exception:
        continue
    print(row["path"] + "\t" + lt.make_magnet_uri(ti))
"#;

/// Runs `/usr/bin/python3 -c script args`, killed after two minutes.
fn python(script: &str, arg: &Path) -> Option<String> {
    let probe = Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3-libtorrent is required when CI=true");
        }
        println!("SKIPPED: python3-libtorrent not available");
        return None;
    }
    let out_path = std::env::temp_dir().join(format!("seedbed-lt-magnets-{}", std::process::id()));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(arg)
        .stdout(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "python failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&out_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    Some(text)
}

#[test]
fn torrent_magnets_match_libtorrent() {
    let Some(dir) = corpus() else { return };
    let Some(text) = python(LT_MAGNETS, &dir) else {
        return;
    };
    let (mut same, mut differ) = (0, Vec::new());
    for line in text.lines() {
        let (path, theirs) = line.split_once('\t').unwrap();
        let bytes = std::fs::read(dir.join(path)).unwrap();
        let Ok(t) = Torrent::from_bytes(bytes) else {
            continue;
        };
        let ours = Magnet::from(&t).to_string();
        if ours == theirs {
            same += 1;
        } else {
            differ.push(format!("{path}\n  ours   {ours}\n  theirs {theirs}"));
        }
    }
    println!("{same} magnets identical to libtorrent's");
    // Where the two readers clean the torrent differently, not where the
    // magnet is formatted differently.
    let known: [(&str, &str); 8] = [
        (
            "aria2/single.torrent",
            "2.0.8 keeps a trailing space in a tracker URL; ours trims",
        ),
        ("aria2/test.torrent", "same"),
        ("aria2/utf8.torrent", "same"),
        (
            "aria2/url-list-multiFile.torrent",
            "2.0.8 appends / to multi-file web seeds",
        ),
        ("libtorrent/url_seed_multi.torrent", "same"),
        (
            "libtorrent/url_seed_multi_space.torrent",
            "2.0.8 also re-escapes spaces as %20",
        ),
        ("libtorrent/url_seed_multi_space_nolist.torrent", "same"),
        (
            "webtorrent/parse-torrent/leaves-duplicate-tracker.torrent",
            "2.0.8 keeps repeated trackers; ours drops repeats (BEP 12)",
        ),
    ];
    let unexpected: Vec<&String> = differ
        .iter()
        .filter(|d| !known.iter().any(|(p, _)| d.starts_with(&format!("{p}\n"))))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} differ:\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        differ.len(),
        known.len(),
        "a known difference went away: update the list"
    );
    assert!(same > 100, "{same}");
}
