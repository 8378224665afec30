//! The `info` dictionary we create is byte-identical to the one of an
//! independent creator for the same files: mktorrent for v1,
//! python3-libtorrent's `create_torrent` for v2 and hybrid (and for v2 the
//! `piece layers` too).
//!
//! A missing tool fails the test when `CI=true`, otherwise it prints
//! `SKIPPED` and returns. Every external process is killed after
//! [`TIMEOUT`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seedbed_bencode::decode;
use seedbed_metainfo::{TorrentBuilder, TorrentVersion};

const TIMEOUT: Duration = Duration::from_secs(120);
const PYTHON: &str = "/usr/bin/python3";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "seedbed-create-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command, killing it after [`TIMEOUT`]; panics unless it exits 0.
fn run(cmd: &mut Command) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "{cmd:?} failed: {status}\n{err}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} timed out after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a tool works; a missing one fails under CI=true.
fn available(name: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    seedbed_testbed::tool_available(name, ok)
}

fn have_mktorrent() -> bool {
    // `mktorrent -h` exits non-zero on some versions; probe `--help` output
    // by running it through sh.
    available(
        "mktorrent",
        Command::new("sh").args(["-c", "command -v mktorrent"]),
    )
}

fn have_libtorrent() -> bool {
    available(
        "python3-libtorrent",
        Command::new(PYTHON).args(["-c", "import libtorrent"]),
    )
}

fn write(path: &Path, len: usize, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect();
    std::fs::write(path, data).unwrap();
}

/// A multi-file tree: nested folders, files smaller than a piece, an empty
/// file, lengths that are not multiples of the piece length, one exact
/// block, one multi-piece file, names whose order differs between
/// "by string" and "by component", a hidden file and an executable one.
fn make_tree(root: &Path) -> PathBuf {
    let d = root.join("content");
    write(&d.join("big.bin"), 200_000, 1);
    write(&d.join("small.txt"), 100, 2);
    write(&d.join("empty"), 0, 3);
    write(&d.join("sub/mid.bin"), 40_000, 4);
    write(&d.join("sub/deeper/exact16k"), 16_384, 5);
    write(&d.join("a/z"), 5, 6);
    write(&d.join("B.bin"), 32_768, 7);
    write(&d.join("x/1"), 10, 8);
    write(&d.join("x-y"), 10, 9);
    write(&d.join("x.z"), 70_001, 10);
    write(&d.join(".hidden"), 3_000, 11);
    write(&d.join("run.sh"), 1_000, 12);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    d
}

/// A single executable file (libtorrent writes `attr` `x` for it).
fn make_executable(root: &Path) -> PathBuf {
    let p = root.join("tool.sh");
    write(&p, 20_000, 13);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

/// The three inputs both comparisons hash: the [`make_tree`] folder, a
/// 100,001-byte single file and the [`make_executable`] file.
fn make_inputs(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = make_tree(root);
    let single = root.join("single.iso");
    write(&single, 100_001, 42);
    (dir, single, make_executable(root))
}

/// The raw bytes of the root's `info` value, and of `piece layers` if any.
fn info_of(torrent: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let doc = decode(torrent).expect("a torrent decodes");
    let root = doc.root().as_dict().expect("root dict");
    let info = root.get("info").expect("info").raw().to_vec();
    (info, root.get("piece layers").map(|v| v.raw().to_vec()))
}

fn ours(
    version: TorrentVersion,
    path: &Path,
    piece_length: u32,
    private: bool,
    source: Option<&str>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut b = TorrentBuilder::new(version)
        .piece_length(piece_length)
        .tracker("http://tracker.example/announce")
        .private(private);
    if let Some(s) = source {
        b = b.source(s);
    }
    let t = b.build_from_path(path, |_, _| {}).unwrap();
    let (info, layers) = info_of(t.as_bytes());
    assert_eq!(info, t.info_bytes());
    // Our reader loads it, and the v2 piece layers verify.
    let loaded = t.to_torrent().expect("the reader loads created torrents");
    loaded.verify_piece_layers().expect("piece layers verify");
    assert_eq!(loaded.info_hash_v1(), t.info_hash_v1());
    assert_eq!(loaded.info_hash_v2(), t.info_hash_v2());
    (info, layers)
}

fn mktorrent(path: &Path, out_dir: &Path, piece_length: u32, private: bool) -> Vec<u8> {
    let tag = path.file_name().unwrap().to_string_lossy();
    let out = out_dir.join(format!("mk-{tag}-{piece_length}-{private}.torrent"));
    let mut cmd = Command::new("mktorrent");
    cmd.args(["-a", "http://tracker.example/announce"]);
    if private {
        // Private torrents also get a `source` (mktorrent -s), as trackers
        // ask for.
        cmd.args(["-p", "-s", SOURCE]);
    }
    cmd.args(["-l", &piece_length.trailing_zeros().to_string(), "-o"])
        .arg(&out)
        .arg(path);
    run(&mut cmd);
    std::fs::read(out).unwrap()
}

const SOURCE: &str = "SEEDBED test";

const LT_SCRIPT: &str = r#"
import sys, libtorrent as lt
path, out, piece, mode, private = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
flags = {"v2": lt.create_torrent.v2_only, "hybrid": 0, "v1": lt.create_torrent.v1_only}[mode]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, piece, flags=flags)
ct.add_tracker("http://tracker.example/announce")
ct.set_priv(private)
lt.set_piece_hashes(ct, __import__("os").path.dirname(path))
open(out, "wb").write(lt.bencode(ct.generate()))
"#;

fn libtorrent(
    path: &Path,
    out_dir: &Path,
    piece_length: u32,
    mode: &str,
    private: bool,
) -> Vec<u8> {
    let tag = path.file_name().unwrap().to_string_lossy();
    let out = out_dir.join(format!("lt-{tag}-{mode}-{piece_length}-{private}.torrent"));
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-c", LT_SCRIPT])
        .arg(path)
        .arg(&out)
        .arg(piece_length.to_string())
        .arg(mode)
        .arg(if private { "1" } else { "0" });
    run(&mut cmd);
    std::fs::read(out).unwrap()
}

#[test]
fn v1_matches_mktorrent() {
    if !have_mktorrent() {
        return;
    }
    let tmp = TempDir::new("v1");
    let (dir, single, tool) = make_inputs(&tmp.0);
    let mut compared = 0;
    for (path, pl, private) in [
        // mktorrent's smallest piece length is 2^15.
        (&dir, 32_768, false),
        (&dir, 65_536, true),
        (&dir, 1 << 18, false),
        (&single, 32_768, false),
        (&single, 65_536, true),
        (&tool, 32_768, false),
    ] {
        let theirs = info_of(&mktorrent(path, &tmp.0, pl, private)).0;
        let source = private.then_some(SOURCE);
        let (mine, layers) = ours(TorrentVersion::V1, path, pl, private, source);
        assert!(layers.is_none());
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&theirs),
            "{} piece length {pl} private {private}",
            path.display()
        );
        assert_eq!(mine, theirs);
        compared += 1;
    }
    assert_eq!(compared, 6);
}

#[test]
fn v2_and_hybrid_match_libtorrent() {
    if !have_libtorrent() {
        return;
    }
    let tmp = TempDir::new("v2");
    let (dir, single, tool) = make_inputs(&tmp.0);
    let mut compared = 0;
    for (path, pl, private) in [
        (&dir, 16_384, false),
        (&dir, 32_768, true),
        (&dir, 65_536, false),
        (&single, 16_384, false),
        (&single, 32_768, true),
        (&tool, 16_384, false),
    ] {
        for (mode, version) in [
            ("v2", TorrentVersion::V2),
            ("hybrid", TorrentVersion::Hybrid),
        ] {
            let (theirs, their_layers) = info_of(&libtorrent(path, &tmp.0, pl, mode, private));
            let (mine, my_layers) = ours(version, path, pl, private, None);
            let what = format!("{mode} {} piece length {pl}", path.display());
            assert_eq!(
                String::from_utf8_lossy(&mine),
                String::from_utf8_lossy(&theirs),
                "{what}"
            );
            assert_eq!(mine, theirs, "{what}");
            assert_eq!(my_layers, their_layers, "{what}: piece layers");
            compared += 1;
        }
    }
    assert_eq!(compared, 12);
}

/// xorshift64*: deterministic sizes and names without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random trees: sizes around block and piece boundaries, empty files,
/// nested names that sort differently by string and by component.
fn random_tree(root: &Path, seed: u64) -> PathBuf {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let d = root.join(format!("tree{seed}"));
    let names = ["a", "a-b", "a.b", "B", "z", "dir", "d i r", "ü"];
    let sizes = [
        0u64, 1, 16_383, 16_384, 16_385, 32_767, 32_768, 65_537, 100_000,
    ];
    let n = 3 + rng.below(8);
    for k in 0..n {
        let depth = 1 + rng.below(3);
        let mut p = d.clone();
        for _ in 0..depth - 1 {
            p.push(names[rng.below(names.len() as u64) as usize]);
        }
        p.push(format!(
            "f{k}{}",
            names[rng.below(names.len() as u64) as usize]
        ));
        let mut size = sizes[rng.below(sizes.len() as u64) as usize];
        if rng.below(2) == 0 {
            size += rng.below(50_000);
        }
        // A name chosen as a directory above may already be a file: skip.
        if p.ancestors().skip(1).any(|a| a.is_file()) {
            continue;
        }
        write(&p, size as usize, k as u8);
    }
    // At least one byte of data, so every tool accepts the tree.
    write(&d.join("last"), 1 + rng.below(70_000) as usize, 99);
    d
}

#[test]
fn random_trees_match_both_tools() {
    let (mk, lt) = (have_mktorrent(), have_libtorrent());
    if !mk && !lt {
        return;
    }
    let tmp = TempDir::new("random");
    let mut compared = 0;
    for seed in 1..=6u64 {
        let dir = random_tree(&tmp.0, seed);
        let pl = [16_384u32, 32_768, 65_536][(seed % 3) as usize];
        if mk && pl >= 32_768 {
            let theirs = info_of(&mktorrent(&dir, &tmp.0, pl, false)).0;
            let (mine, _) = ours(TorrentVersion::V1, &dir, pl, false, None);
            assert_eq!(mine, theirs, "v1 seed {seed}");
            compared += 1;
        }
        if lt {
            for (mode, version) in [
                ("v2", TorrentVersion::V2),
                ("hybrid", TorrentVersion::Hybrid),
            ] {
                let (theirs, their_layers) = info_of(&libtorrent(&dir, &tmp.0, pl, mode, false));
                let (mine, my_layers) = ours(version, &dir, pl, false, None);
                assert_eq!(mine, theirs, "{mode} seed {seed}");
                assert_eq!(my_layers, their_layers, "{mode} seed {seed}: piece layers");
                compared += 1;
            }
        }
    }
    println!("{compared} random trees compared");
    assert!(compared >= 6);
}
