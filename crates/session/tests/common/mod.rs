//! Helpers shared by the real-client tests: tool detection (skip or, with
//! `CI=true`, fail), child processes stopped by a drop guard, test content,
//! tree comparison, opentracker in whitelist mode, python3-libtorrent and
//! transmission peers on loopback.
//!
//! Everything listens on 127.0.0.1 only (transmission-cli also opens ::1,
//! which its settings cannot turn off; `bind-address-ipv6` keeps it on
//! loopback), and every child is killed and reaped when its guard drops,
//! including when a test panics or times out.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use seedbed_metainfo::{InfoHash, PeerId, Torrent, TorrentBuilder, TorrentVersion};
use seedbed_peer_wire::{Handshake, HandshakeCodec, HandshakeEvent, Reserved};
use seedbed_session::{
    AddTorrentOptions, DhtConfig, Event, Session, SessionConfig, Stats, Status, TorrentHandle,
};
use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
use sha1::{Digest, Sha1};
use tokio_util::codec::Framed;

#[allow(unused_imports)] // not every test binary uses each
pub use seedbed_testbed::{data, have_libtorrent, tool_available, PYTHON};
pub const OPENTRACKER: &str = "/usr/bin/opentracker";
pub const TRANSMISSION_CLI: &str = "/usr/bin/transmission-cli";

/// Piece length of the test torrents: several pieces per MiB, a file
/// smaller than one piece.
pub const PIECE: u32 = 64 * 1024;

/// The real-client tests of one test binary run one at a time: each starts
/// two BitTorrent clients, and the machines have two cores.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

pub fn have_opentracker() -> bool {
    seedbed_testbed::have_program("opentracker", OPENTRACKER)
}

pub fn have_transmission() -> bool {
    seedbed_testbed::have_program("transmission-cli", TRANSMISSION_CLI)
}

/// Runs `test` holding the [`serial`] lock, failing it if it takes longer
/// than `limit`.
pub async fn serially_within(limit: Duration, test: impl std::future::Future<Output = ()>) {
    let _serial = serial().await;
    within(limit, test).await;
}

/// Runs `test`, failing it if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, test)
        .await
        .expect("test took too long")
}

/// A session on 127.0.0.1 with a port picked by the system, without the
/// DHT (tests never reach past loopback: the DHT tests set loopback
/// bootstrap nodes instead). Both transports, as by default; the uTP
/// attempt of a dial gets 500 ms (a uTP handshake on loopback takes less
/// than a millisecond), so peers without uTP (the fake peers, libtorrent
/// and Transmission with uTP off) are reached over TCP soon after.
pub fn config() -> SessionConfig {
    SessionConfig {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        connect_timeout: Duration::from_secs(5),
        utp_connect_timeout: Duration::from_millis(500),
        dht: DhtConfig::disabled(),
        ..SessionConfig::default()
    }
}

/// Writes the test content under `root/content`: nested folders, a file
/// smaller than a piece, an empty file, a file ending mid-piece. Returns
/// the content folder.
pub fn make_content(root: &Path) -> PathBuf {
    make_content_with_big(root, 2_500_000)
}

/// As [`make_content`], with `big_len` bytes in `a/b/big.bin`.
pub fn make_content_with_big(root: &Path, big_len: usize) -> PathBuf {
    let base = root.join("content");
    std::fs::create_dir_all(base.join("a/b")).unwrap();
    std::fs::create_dir_all(base.join("c")).unwrap();
    std::fs::write(base.join("a/b/big.bin"), data(1, big_len)).unwrap();
    std::fs::write(base.join("a/small.txt"), data(2, 1000)).unwrap();
    std::fs::write(base.join("c/empty"), b"").unwrap();
    std::fs::write(base.join("top.bin"), data(3, 777_777)).unwrap();
    base
}

/// As [`make_content`], plus a folder of 400 small files of uneven sizes,
/// so that the info dict is larger than one 16 KiB `ut_metadata` piece
/// (BEP 9) and files cross piece boundaries. The same `seed` gives the
/// same bytes; another `seed` gives the same names and lengths (so an
/// info dict of the same size) with other bytes.
pub fn make_magnet_content(root: &Path, seed: u64) -> PathBuf {
    let base = root.join("content");
    std::fs::create_dir_all(base.join("a/b")).unwrap();
    std::fs::create_dir_all(base.join("c")).unwrap();
    std::fs::create_dir_all(base.join("many")).unwrap();
    std::fs::write(base.join("a/b/big.bin"), data(seed * 1000 + 1, 2_500_000)).unwrap();
    std::fs::write(base.join("a/small.txt"), data(seed * 1000 + 2, 1000)).unwrap();
    std::fs::write(base.join("c/empty"), b"").unwrap();
    for i in 0..400u64 {
        let len = 1 + (i * 7919) % 5000;
        std::fs::write(
            base.join(format!("many/file-{i:04}.bin")),
            data(seed * 1000 + 10 + i, len as usize),
        )
        .unwrap();
    }
    base
}

/// Makes a torrent of `content` with our builder, with `tracker` as its
/// announce URL if given, and writes it to `out` for the other clients.
pub fn build_torrent(
    content: &Path,
    version: TorrentVersion,
    tracker: Option<&str>,
    out: &Path,
) -> Torrent {
    let mut b = TorrentBuilder::new(version).piece_length(PIECE);
    if let Some(url) = tracker {
        b = b.tracker(url);
    }
    let created = b.build_from_path(content, |_, _| {}).unwrap();
    std::fs::write(out, created.as_bytes()).unwrap();
    Torrent::from_bytes(created.into_bytes()).unwrap()
}

/// A transfer to set up: `src` holds the test content (in `content`) and
/// its torrent file `file`; `dst` is an empty folder to download into.
pub struct Fixture {
    pub src: tempfile::TempDir,
    pub dst: tempfile::TempDir,
    pub content: PathBuf,
    pub file: PathBuf,
    pub torrent: Torrent,
}

impl Fixture {
    /// Fresh folders, the content `make` writes below `src`, and the
    /// torrent `build` makes of it (given the content folder and the file
    /// to write), written to `src/<name>`.
    pub fn new(
        make: impl FnOnce(&Path) -> PathBuf,
        name: &str,
        build: impl FnOnce(&Path, &Path) -> Torrent,
    ) -> Fixture {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let content = make(src.path());
        let file = src.path().join(name);
        let torrent = build(&content, &file);
        Fixture {
            src,
            dst,
            content,
            file,
            torrent,
        }
    }

    /// [`make_content`] and its v1 torrent made by our builder, in
    /// `src/t.torrent`.
    pub fn v1() -> Fixture {
        Fixture::new(make_content, "t.torrent", |content, file| {
            build_torrent(content, TorrentVersion::V1, None, file)
        })
    }

    /// [`make_content`] and its hybrid (v1 + v2, pad files) torrent made
    /// by libtorrent, in `src/hybrid.torrent`.
    pub fn lt_hybrid() -> Fixture {
        Fixture::new(make_content, "hybrid.torrent", |content, file| {
            lt_create(content, file, true, None)
        })
    }

    pub fn src(&self) -> &Path {
        self.src.path()
    }

    pub fn dst(&self) -> &Path {
        self.dst.path()
    }

    /// `dst` holds the same content as `src`, byte for byte.
    pub fn assert_downloaded(&self) {
        assert_same_tree(&self.content, &self.dst().join("content"));
    }

    /// As [`Fixture::assert_downloaded`], except that empty files may be
    /// missing (see [`assert_same_tree_but_empty_files`]).
    pub fn assert_downloaded_but_empty_files(&self) {
        assert_same_tree_but_empty_files(&self.content, &self.dst().join("content"));
    }

    /// [`download`]s the torrent into `dst`, prints how it went (as `what`)
    /// and checks that `dst` holds the same content as `src`.
    pub async fn download(
        &self,
        peers: &[SocketAddr],
        trackers: bool,
        limit: Duration,
        what: &str,
    ) -> Stats {
        let started = Instant::now();
        let stats = download(&self.torrent, self.dst(), peers, trackers, limit).await;
        println!("{}", describe(what, started, &stats));
        self.assert_downloaded();
        stats
    }
}

/// An opentracker of [`fixture_on_opentracker`]: the guard, its HTTP
/// announce URL (for scrapes) and the announce URL in the torrent.
pub struct Tracker {
    pub guard: ChildGuard,
    pub http: String,
    pub announce: String,
}

/// Opentracker whitelisting the v1 torrent (made by our builder) of the
/// content `make` writes, and a [`Fixture`] of that torrent with the
/// tracker as its announce URL: over UDP if `udp`, else HTTP. The info hash
/// does not depend on the announce URL: the torrent is made once to
/// whitelist it, then again with the tracker's URL.
pub async fn fixture_on_opentracker(
    make: impl FnOnce(&Path) -> PathBuf,
    udp: bool,
) -> (Fixture, Tracker) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let content = make(src.path());
    let probe = build_torrent(
        &content,
        TorrentVersion::V1,
        None,
        &src.path().join("probe.torrent"),
    );
    let hash = probe.info_hash();
    let (guard, http) = opentracker(&[hash]).await;
    let announce = if udp {
        http.replace("http://", "udp://").replace("/announce", "")
    } else {
        http.clone()
    };
    let file = src.path().join("t.torrent");
    let torrent = build_torrent(&content, TorrentVersion::V1, Some(&announce), &file);
    assert_eq!(torrent.info_hash(), hash);
    let fixture = Fixture {
        src,
        dst,
        content,
        file,
        torrent,
    };
    let tracker = Tracker {
        guard,
        http,
        announce,
    };
    (fixture, tracker)
}

/// Every regular file below `root`, by path relative to it.
pub fn files_below(root: &Path) -> BTreeMap<PathBuf, PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The two trees hold the same files with the same bytes.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    compare_trees(expected, actual, false);
}

/// As [`assert_same_tree`], except that empty files may be missing from
/// `actual`: transmission 3.00 never creates zero-length files.
pub fn assert_same_tree_but_empty_files(expected: &Path, actual: &Path) {
    compare_trees(expected, actual, true);
}

fn compare_trees(expected: &Path, actual: &Path, empty_may_miss: bool) {
    let mut a = files_below(expected);
    let b = files_below(actual);
    if empty_may_miss {
        a.retain(|rel, path| {
            b.contains_key(rel) || std::fs::metadata(path).map(|m| m.len()).unwrap_or(1) > 0
        });
    }
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "file lists differ: {} vs {}",
        expected.display(),
        actual.display()
    );
    assert!(a.len() >= 3, "the content has nested and small files");
    for (rel, path) in &a {
        let x = std::fs::read(path).unwrap();
        let y = std::fs::read(&b[rel]).unwrap();
        assert_eq!(x.len(), y.len(), "{}: length", rel.display());
        assert!(x == y, "{} differs", rel.display());
    }
}

/// SHA-1 of every file below `root`, by relative path.
pub fn sha1_tree(root: &Path) -> BTreeMap<PathBuf, [u8; 20]> {
    files_below(root)
        .into_iter()
        .map(|(rel, path)| {
            let mut h = Sha1::new();
            let mut f = std::fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            (rel, h.finalize().into())
        })
        .collect()
}

/// A port free for TCP and UDP on 127.0.0.1 (for programs that cannot be
/// told to pick one themselves).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A child process, killed (SIGKILL) and reaped when dropped, with its
/// standard output collected line by line (`\r` ends a line too:
/// transmission redraws its status line with it) and standard error kept.
pub struct ChildGuard {
    pub name: String,
    child: Child,
    /// Held open: the python peers exit when it closes.
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
    dir: Option<PathBuf>,
}

fn collect(mut r: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b == b'\n' || b == b'\r' {
                    if !line.is_empty() {
                        let s = String::from_utf8_lossy(&line).into_owned();
                        into.lock().unwrap().push(s);
                        line.clear();
                    }
                } else {
                    line.push(b);
                }
            }
        }
        if !line.is_empty() {
            into.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&line).into_owned());
        }
    });
}

impl ChildGuard {
    /// Spawns `cmd` with piped stdio.
    pub fn spawn(name: &str, mut cmd: Command) -> ChildGuard {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&out));
        collect(child.stderr.take().unwrap(), Arc::clone(&err));
        ChildGuard {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
            dir: None,
        }
    }

    /// Also removes `dir` when dropped (after the process is gone).
    pub fn remove_on_drop(mut self, dir: PathBuf) -> Self {
        self.dir = Some(dir);
        self
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Lines of standard output so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    /// Lines of standard error so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.err.lock().unwrap().clone()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// The last lines of both outputs, for failure messages.
    pub fn tail(&self) -> String {
        let tail = |v: &Arc<Mutex<Vec<String>>>| {
            let v = v.lock().unwrap();
            v[v.len().saturating_sub(15)..].join("\n")
        };
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            tail(&self.out),
            self.name,
            tail(&self.err)
        )
    }

    /// The first stdout line for which `f` returns `Some`, waiting for it
    /// (polling) up to `limit`. Panics with the output if the process
    /// exits first or the time runs out.
    pub async fn wait_line<T>(&mut self, limit: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.out.lock().unwrap().iter().find_map(|l| f(l)) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads catch the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(v) = self.out.lock().unwrap().iter().find_map(|l| f(l)) {
                    return v;
                }
                panic!("{} exited ({status}) early\n{}", self.name, self.tail());
            }
            assert!(
                Instant::now() < deadline,
                "{}: expected output did not come in {limit:?}\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (polling) for the process to exit, up to `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit in {limit:?}\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a python peer's `COMPLETE` line (it has every piece and a
    /// recheck of all of them from disk passed) up to `limit`, then for it
    /// to exit (up to 30 s), which must be a success.
    pub async fn wait_lt_complete(&mut self, limit: Duration) {
        self.wait_line(limit, |l| (l == "COMPLETE").then_some(()))
            .await;
        let status = self.wait_exit(Duration::from_secs(30)).await;
        assert!(status.success(), "{}: {status}", self.name);
    }

    /// Writes `line` and a newline to the process's standard input (for
    /// scripts that take commands there).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is held");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.tail());
        }
        self.stdin.take();
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The python3-libtorrent peer script (`tests/scripts/lt_peer.py`).
pub fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_peer.py")
}

fn lt_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(lt_script()).args(args);
    cmd
}

/// Makes a torrent of `content` with libtorrent (`hybrid`: v1 + v2 with
/// pad files; else v1 only), written to `out`, and reads it back.
pub fn lt_create(content: &Path, out: &Path, hybrid: bool, tracker: Option<&str>) -> Torrent {
    let piece = PIECE.to_string();
    let mut args = vec![
        "create",
        content.to_str().unwrap(),
        out.to_str().unwrap(),
        "--piece-size",
        piece.as_str(),
    ];
    if !hybrid {
        args.push("--v1-only");
    }
    if let Some(url) = tracker {
        args.extend(["--tracker", url]);
    }
    let output = lt_command(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run lt_peer.py create");
    assert!(
        output.status.success(),
        "lt_peer.py create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Torrent::from_bytes(std::fs::read(out).unwrap()).unwrap()
}

/// Makes a v2-only torrent of `content` with libtorrent
/// (`create_torrent.v2_only`), written to `out`, and reads it back.
pub fn lt_create_v2_only(content: &Path, out: &Path) -> Torrent {
    let piece = PIECE.to_string();
    let args = [
        "create",
        content.to_str().unwrap(),
        out.to_str().unwrap(),
        "--piece-size",
        piece.as_str(),
        "--v2-only",
    ];
    let output = lt_command(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run lt_peer.py create");
    assert!(
        output.status.success(),
        "lt_peer.py create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Torrent::from_bytes(std::fs::read(out).unwrap()).unwrap()
}

/// Starts a python3-libtorrent seeder of `torrent` with its data in `dir`
/// (the folder that holds the content folder); waits until it has checked
/// the data and seeds. `upload_limit` in bytes per second, 0 for none.
/// Returns the guard and its listening address.
pub async fn lt_seed(
    torrent: &Path,
    dir: &Path,
    upload_limit: u64,
    limit: Duration,
) -> (ChildGuard, SocketAddr) {
    let up = upload_limit.to_string();
    let cmd = lt_command(&[
        "seed",
        torrent.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--upload-limit",
        &up,
    ]);
    let mut g = ChildGuard::spawn("libtorrent seeder", cmd);
    let port = g.wait_line(limit, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Starts a python3-libtorrent leecher of `torrent` into `dir` that
/// connects to `connect`; it prints `COMPLETE` once it has the data and
/// rechecked it from disk. Returns the guard and its listening address.
pub async fn lt_leech(
    torrent: &Path,
    dir: &Path,
    connect: SocketAddr,
    limit: Duration,
) -> (ChildGuard, SocketAddr) {
    let peer = connect.to_string();
    let cmd = lt_command(&[
        "leech",
        torrent.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--connect",
        &peer,
    ]);
    let mut g = ChildGuard::spawn("libtorrent leecher", cmd);
    let port = g.wait_line(limit, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Starts a python3-libtorrent leecher from the magnet link `uri` alone
/// (its `x.pe` peers and `tr` trackers, plus `connect`), saving into `dir`.
/// It prints `METADATA <v1 hash> <name>` once it has the info dict and
/// `COMPLETE` once it has the data and rechecked it from disk. Returns the
/// guard and its listening address.
pub async fn lt_leech_magnet(
    uri: &str,
    dir: &Path,
    connect: &[SocketAddr],
    limit: Duration,
) -> (ChildGuard, SocketAddr) {
    let peers: Vec<String> = connect.iter().map(|a| a.to_string()).collect();
    let mut args = vec!["leech-magnet", uri, dir.to_str().unwrap()];
    for p in &peers {
        args.extend(["--connect", p.as_str()]);
    }
    let mut g = ChildGuard::spawn("libtorrent magnet leecher", lt_command(&args));
    let port = g.wait_line(limit, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// As [`lt_seed`] (no upload limit), with libtorrent on uTP only (BEP
/// 29; TCP off both ways): its address is a UDP one.
pub async fn lt_seed_utp(torrent: &Path, dir: &Path, limit: Duration) -> (ChildGuard, SocketAddr) {
    let cmd = lt_command(&[
        "seed",
        torrent.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--utp-only",
    ]);
    let mut g = ChildGuard::spawn("libtorrent uTP seeder", cmd);
    let port = g.wait_line(limit, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// As [`lt_leech`], with libtorrent on uTP only (BEP 29; TCP off both
/// ways): it dials `connect` over uTP.
pub async fn lt_leech_utp(
    torrent: &Path,
    dir: &Path,
    connect: SocketAddr,
    limit: Duration,
) -> (ChildGuard, SocketAddr) {
    let peer = connect.to_string();
    let cmd = lt_command(&[
        "leech",
        torrent.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--connect",
        &peer,
        "--utp-only",
    ]);
    let mut g = ChildGuard::spawn("libtorrent uTP leecher", cmd);
    let port = g.wait_line(limit, ready_port).await;
    (g, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn ready_port(line: &str) -> Option<u16> {
    line.strip_prefix("READY ")?.trim().parse().ok()
}

/// Starts `transmission-cli` for `torrent` with data folder `dir`,
/// listening on 127.0.0.1:`port`, settings in a fresh `-g` folder. As a
/// seeder (`seed`) it verifies the data (`-v`) and seeds with no ratio or
/// idle limit; as a leecher its ratio limit is 0, so it exits once it has
/// everything.
pub fn transmission(torrent: &Path, dir: &Path, port: u16, seed: bool) -> ChildGuard {
    transmission_with(torrent, dir, port, seed, 0)
}

/// As [`transmission`], with its `encryption` setting: 0 prefer plain
/// (tolerate encrypted), 1 prefer encrypted, 2 require encrypted (MSE).
pub fn transmission_with(
    torrent: &Path,
    dir: &Path,
    port: u16,
    seed: bool,
    encryption: u8,
) -> ChildGuard {
    transmission_full(torrent, dir, port, seed, encryption, false)
}

/// As [`transmission`], with uTP (libutp) on beside TCP (it cannot turn
/// TCP off).
pub fn transmission_utp(torrent: &Path, dir: &Path, port: u16, seed: bool) -> ChildGuard {
    transmission_full(torrent, dir, port, seed, 0, true)
}

fn transmission_full(
    torrent: &Path,
    dir: &Path,
    port: u16,
    seed: bool,
    encryption: u8,
    utp: bool,
) -> ChildGuard {
    let cfg = tempfile::Builder::new()
        .prefix("seedbed-transmission-")
        .tempdir()
        .unwrap()
        .keep();
    let settings = format!(
        r#"{{
  "dht-enabled": false,
  "lpd-enabled": false,
  "pex-enabled": false,
  "utp-enabled": {utp},
  "port-forwarding-enabled": false,
  "rpc-enabled": false,
  "bind-address-ipv4": "127.0.0.1",
  "bind-address-ipv6": "::1",
  "peer-port": {port},
  "peer-port-random-on-start": false,
  "speed-limit-down-enabled": false,
  "speed-limit-up-enabled": false,
  "alt-speed-enabled": false,
  "encryption": {encryption},
  "ratio-limit-enabled": {leech},
  "ratio-limit": 0,
  "idle-seeding-limit-enabled": false,
  "message-level": 2
}}
"#,
        leech = !seed
    );
    std::fs::write(cfg.join("settings.json"), settings).unwrap();
    let mut cmd = Command::new(TRANSMISSION_CLI);
    cmd.arg("-g").arg(&cfg).arg("-w").arg(dir);
    // The command line overrides settings.json: tolerated, preferred,
    // required.
    let enc_flag = ["-et", "-ep", "-er"][usize::from(encryption.min(2))];
    cmd.args(["-p", &port.to_string(), "-D", "-U", "-M", enc_flag]);
    if seed {
        cmd.arg("-v");
    }
    cmd.arg(torrent);
    let name = if seed {
        "transmission seeder"
    } else {
        "transmission leecher"
    };
    ChildGuard::spawn(name, cmd).remove_on_drop(cfg)
}

/// Waits (up to `limit`) for a transmission leecher started with ratio
/// limit 0 to exit, and checks that it exited cleanly having reported the
/// torrent complete (it checks every piece as it arrives, so "Complete"
/// means every piece passed).
pub async fn transmission_leecher_completes(tr: &mut ChildGuard, limit: Duration) {
    let status = tr.wait_exit(limit).await;
    assert!(
        status.success(),
        "transmission leecher: {status}\n{}",
        tr.tail()
    );
    // Its last lines may still be on their way from the pipe.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tr.stderr_lines()
            .iter()
            .any(|l| l.contains(r#"State changed from "Incomplete" to "Complete""#)),
        "transmission did not report the torrent complete\n{}",
        tr.tail()
    );
}

/// Starts a transmission seeder of `torrent` with its data in `dir` on a
/// free port and waits (up to `limit` for each) until it has verified the
/// data, seeds, and listens. Returns the guard and its address.
pub async fn transmission_seed(
    torrent: &Path,
    dir: &Path,
    limit: Duration,
) -> (ChildGuard, SocketAddr) {
    transmission_seed_with(torrent, dir, limit, false).await
}

/// As [`transmission_seed`], with uTP on (`utp`) or off.
pub async fn transmission_seed_with(
    torrent: &Path,
    dir: &Path,
    limit: Duration,
    utp: bool,
) -> (ChildGuard, SocketAddr) {
    let port = free_port();
    let mut tr = transmission_full(torrent, dir, port, true, 0, utp);
    tr.wait_line(limit, |l| l.starts_with("Seeding").then_some(()))
        .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, limit).await;
    (tr, addr)
}

/// Waits until something listens on `addr`.
pub async fn wait_listening(addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts opentracker in whitelist mode for `hashes` on a free port (TCP
/// and UDP). Returns the guard and the HTTP announce URL.
pub async fn opentracker(hashes: &[InfoHash]) -> (ChildGuard, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("seedbed-opentracker-")
        .tempdir()
        .unwrap()
        .keep();
    // It chroots into the folder and runs as `nobody`: world-readable.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let list: String = hashes.iter().map(|h| format!("{h}\n")).collect();
    let wl = dir.join("whitelist.txt");
    std::fs::write(&wl, list).unwrap();
    std::fs::set_permissions(&wl, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let conf = dir.join("opentracker.conf");
    std::fs::write(
        &conf,
        format!(
            "listen.tcp 127.0.0.1:{port}\nlisten.udp 127.0.0.1:{port}\ntracker.rootdir {}\naccess.whitelist /whitelist.txt\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(OPENTRACKER);
    cmd.arg("-f").arg(&conf);
    let guard = ChildGuard::spawn("opentracker", cmd).remove_on_drop(dir);
    wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10)).await;
    (guard, format!("http://127.0.0.1:{port}/announce"))
}

/// Waits until the tracker counts at least one peer of `hash` (a seeder
/// if `seeder`), by scraping it.
pub async fn wait_tracker_peer(url: &str, hash: InfoHash, seeder: bool, limit: Duration) {
    let client = TrackerClient::new(ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    })
    .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = client.scrape(url, &[hash]).await {
            if let Some(s) = r.files.get(&hash) {
                if (seeder && s.complete > 0) || (!seeder && s.complete + s.incomplete > 0) {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no peer announced {hash} to {url} in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The peak virtual memory size of this process (`VmPeak` in
/// `/proc/self/status`), in bytes; 0 where there is no such file. A
/// buffer allocated for a peer's claimed size shows here even before it is
/// touched.
pub fn vm_peak() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmPeak:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// A short line about a finished transfer, for the test log.
pub fn describe(what: &str, started: Instant, stats: &Stats) -> String {
    format!(
        "{what}: {:.1} s, {} pieces, {} bytes down, {} up, {} wasted",
        started.elapsed().as_secs_f64(),
        stats.pieces_have,
        stats.downloaded,
        stats.uploaded,
        stats.wasted
    )
}

/// Waits until `handle` has every piece, up to `limit`; panics with its
/// stats otherwise.
pub async fn wait_complete(handle: &TorrentHandle, limit: Duration) {
    match tokio::time::timeout(limit, handle.wait_for_completion()).await {
        Ok(r) => r.unwrap(),
        Err(_) => panic!("download did not finish in {limit:?}: {:?}", handle.stats()),
    }
}

/// A fresh session of ours with `torrent` added to download into `out`
/// (from `peers`, and from the torrent's trackers if `trackers`), without
/// seeding afterwards.
pub async fn our_leecher(
    torrent: &Torrent,
    out: &Path,
    peers: &[SocketAddr],
    trackers: bool,
) -> (Session, TorrentHandle) {
    our_leecher_with(config(), torrent, out, peers, trackers).await
}

/// As [`our_leecher`], with a session of `config`.
pub async fn our_leecher_with(
    config: SessionConfig,
    torrent: &Torrent,
    out: &Path,
    peers: &[SocketAddr],
    trackers: bool,
) -> (Session, TorrentHandle) {
    let session = Session::new(config).await.unwrap();
    let handle = session
        .add_torrent(
            torrent,
            AddTorrentOptions::new(out)
                .trackers(trackers)
                .seed(false)
                .peers(peers.iter().copied()),
        )
        .await
        .unwrap();
    (session, handle)
}

/// Downloads `torrent` into `out` with a fresh session of ours (from
/// `peers`, and from the torrent's trackers if `trackers`), without seeding
/// afterwards. Returns the final stats.
pub async fn download(
    torrent: &Torrent,
    out: &Path,
    peers: &[SocketAddr],
    trackers: bool,
    limit: Duration,
) -> Stats {
    let (session, handle) = our_leecher(torrent, out, peers, trackers).await;
    wait_complete(&handle, limit).await;
    assert_eq!(handle.status(), Status::Finished);
    let stats = handle.stats();
    assert_eq!(stats.pieces_have, stats.num_pieces);
    assert!(stats.downloaded >= stats.total_bytes / 2, "{stats:?}");
    session.shutdown().await;
    stats
}

/// Starts a session of ours seeding `torrent` from `dir` (which must hold
/// the complete data); waits until it has checked the data.
pub async fn our_seeder(torrent: &Torrent, dir: &Path) -> (Session, TorrentHandle) {
    our_seeder_with(config(), torrent, dir).await
}

/// As [`our_seeder`], with a session of `config`.
pub async fn our_seeder_with(
    config: SessionConfig,
    torrent: &Torrent,
    dir: &Path,
) -> (Session, TorrentHandle) {
    let session = Session::new(config).await.unwrap();
    let handle = session
        .add_torrent(torrent, AddTorrentOptions::new(dir).trackers(false))
        .await
        .unwrap();
    wait_complete(&handle, Duration::from_secs(60)).await;
    assert_eq!(handle.status(), Status::Seeding);
    (session, handle)
}

/// Shuts the `sessions` down, one after the other.
pub async fn shut_down(sessions: impl IntoIterator<Item = Session>) {
    for session in sessions {
        session.shutdown().await;
    }
}

/// A fake peer's side of the BitTorrent handshake on an accepted `stream`:
/// reads the other side's handshake, passes it to `check` (which asserts
/// what the test expects of it), then answers for `info_hash` as `peer_id`
/// with `reserved`. Returns the framed stream (still with the handshake
/// codec) and the other side's handshake; `None` if it sent no complete
/// handshake.
pub async fn answer_handshake(
    stream: tokio::net::TcpStream,
    info_hash: InfoHash,
    peer_id: PeerId,
    reserved: Reserved,
    check: impl FnOnce(&Handshake),
) -> Result<Option<(HandshakeStream, Handshake)>, seedbed_peer_wire::Error> {
    let mut framed = Framed::new(stream, HandshakeCodec::new());
    let Some(Ok(HandshakeEvent::Complete(theirs))) = framed.next().await else {
        return Ok(None);
    };
    check(&theirs);
    framed
        .send(Handshake::new(info_hash, peer_id).with_reserved(reserved))
        .await?;
    Ok(Some((framed, theirs)))
}

/// A TCP stream with the BitTorrent handshake codec.
pub type HandshakeStream = Framed<tokio::net::TcpStream, HandshakeCodec>;

/// Every event of one torrent from the moment it is made on, kept in
/// memory for assertions; the recording task stops when this is dropped.
#[derive(Debug)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Subscribes to `handle`'s events (from now on).
    pub fn new(handle: &TorrentHandle) -> Recorder {
        let mut rx = handle.events();
        let events = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&events);
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => into.lock().unwrap().push(e),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the event recorder lost {n} events")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Recorder { events, task }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Whether an event for which `f` holds has come.
    pub fn any(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.lock().unwrap().iter().any(f)
    }

    /// Waits (polling) up to `limit` for an event for which `f` holds;
    /// returns whether it came.
    pub async fn wait_for(&self, limit: Duration, f: impl Fn(&Event) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.any(&f) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
