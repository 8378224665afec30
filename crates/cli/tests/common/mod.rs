//! Helpers of the `seedbed` binary's tests: running the built binary with a
//! time limit, child processes stopped by a drop guard, test content, and a
//! python3-libtorrent seeder on loopback (the session tests' script,
//! `crates/session/tests/scripts/lt_peer.py`, run from where it is).
//!
//! Everything listens on 127.0.0.1 only, and every child is killed and
//! reaped when its guard drops, also when a test panics.

#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // not every test binary uses each
pub use seedbed_testbed::{data, have_libtorrent, tool_available, PYTHON};

/// The built `seedbed` binary.
pub fn seedbed() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seedbed"));
    cmd.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
    cmd
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit status 0, else panics with the output.
    pub fn ok(self) -> Run {
        assert!(self.status.success(), "expected success: {self:#?}");
        self.no_panic()
    }

    /// Exit status `code` and `needle` in stderr, no panic; else panics
    /// with the output.
    pub fn fails_with(self, code: i32, needle: &str) -> Run {
        assert_eq!(self.status.code(), Some(code), "{self:#?}");
        assert!(
            self.stderr.contains(needle),
            "stderr should say {needle:?}: {self:#?}"
        );
        self.no_panic()
    }

    fn no_panic(self) -> Run {
        assert!(
            !self.stderr.contains("panicked"),
            "the program panicked: {self:#?}"
        );
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `seedbed ARGS...` with no stdin, killing it after `limit`.
pub fn run_within(limit: Duration, args: &[&str]) -> Run {
    let mut cmd = seedbed();
    cmd.args(args);
    run_cmd_within(limit, cmd)
}

/// Runs `seedbed ARGS...` with a limit of 30 s.
pub fn run(args: &[&str]) -> Run {
    run_within(Duration::from_secs(30), args)
}

/// Runs `cmd` with no stdin, killing it after `limit` (then panics).
pub fn run_cmd_within(limit: Duration, mut cmd: Command) -> Run {
    let mut g = ChildGuard::spawn("seedbed", cmd.stdin(Stdio::null()));
    let status = g.wait_exit(limit);
    // Let the reader threads take the last bytes.
    std::thread::sleep(Duration::from_millis(50));
    Run {
        status,
        stdout: g.stdout(),
        stderr: g.stderr(),
    }
}

/// A child process, killed (SIGKILL) and reaped when dropped, with its
/// stdout and stderr collected.
pub struct ChildGuard {
    pub name: String,
    child: Child,
    /// Held open: the python peers exit when it closes.
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut r: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

impl ChildGuard {
    /// Spawns `cmd` with stdout and stderr piped (and stdin piped unless
    /// the command set it).
    pub fn spawn(name: &str, cmd: &mut Command) -> ChildGuard {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&out));
        collect(child.stderr.take().unwrap(), Arc::clone(&err));
        ChildGuard {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// The first stdout line for which `f` returns `Some`, waiting up to
    /// `limit`; panics with the output if the process exits first or the
    /// time runs out.
    pub fn wait_line<T>(&mut self, limit: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.stdout().lines().find_map(&f) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(v) = self.stdout().lines().find_map(&f) {
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
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C: sends SIGINT and checks that the process exits with status
    /// 0 within `limit` (its summary is then the last line of
    /// [`stdout`](Self::stdout), see [`last_json`](Self::last_json)).
    pub fn interrupt(&mut self, limit: Duration) {
        let sent = Command::new("kill")
            .args(["-INT", &self.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -INT {}", self.id());
        let status = self.wait_exit(limit);
        assert!(
            status.success(),
            "{} exited {status}\n{}",
            self.name,
            self.tail()
        );
    }

    /// The last stdout line, parsed as JSON (a `--json` command's summary).
    pub fn last_json(&self) -> serde_json::Value {
        let out = self.stdout();
        let last = out.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "{}: last line is not JSON ({e})\n{}",
                self.name,
                self.tail()
            )
        })
    }

    /// Waits for the process to exit, up to `limit`; kills it and panics
    /// after that.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("{} did not exit in {limit:?}\n{}", self.name, self.tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Both outputs, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            self.stdout(),
            self.name,
            self.stderr()
        )
    }

    /// Writes `line` and a newline to the process's standard input (for
    /// scripts that take commands there).
    pub fn send_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is piped");
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
        self.stdin.take();
        self.kill();
    }
}

/// Writes test content under `root/content` (nested folders, a file
/// smaller than a piece, a file ending mid-piece; `big` bytes in the
/// largest) and returns the content folder.
pub fn make_content(root: &Path, big: usize) -> PathBuf {
    let base = root.join("content");
    std::fs::create_dir_all(base.join("a/b")).unwrap();
    std::fs::write(base.join("a/b/big.bin"), data(1, big)).unwrap();
    std::fs::write(base.join("a/small.txt"), data(2, 1000)).unwrap();
    std::fs::write(base.join("top.bin"), data(3, 77_777)).unwrap();
    base
}

/// `seedbed create CONTENT -o OUT --v1 --piece-length 64k --quiet` (with
/// `--tracker URL` if given); returns the v1 info hash.
pub fn create_torrent(content: &Path, out: &Path, tracker: Option<&str>) -> String {
    let mut args = vec![
        "create",
        content.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--v1",
        "--piece-length",
        "64k",
        "--quiet",
        "--json",
    ];
    if let Some(url) = tracker {
        args.extend(["--tracker", url]);
    }
    let r = run(&args).ok();
    r.json()["info_hash_v1"].as_str().unwrap().to_owned()
}

/// The session tests' python3-libtorrent peer script.
pub fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../session/tests/scripts/lt_peer.py")
}

/// Starts a python3-libtorrent seeder of `torrent` with its data in
/// `dir` (the folder holding `content/`), listening on 127.0.0.1; waits
/// until it has checked the data and seeds. Returns the guard and its
/// port.
pub fn lt_seed(torrent: &Path, dir: &Path) -> (ChildGuard, u16) {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(lt_script())
        .arg("seed")
        .arg(torrent)
        .arg(dir)
        .stdin(Stdio::piped());
    let mut g = ChildGuard::spawn("libtorrent seeder", &mut cmd);
    let port = g.wait_line(Duration::from_secs(60), |l| {
        l.strip_prefix("READY ")?.trim().parse().ok()
    });
    (g, port)
}

/// Starts `seedbed tracker --http 127.0.0.1:0 --json`; returns the guard
/// and its HTTP announce URL.
pub fn our_tracker() -> (ChildGuard, String) {
    let mut cmd = seedbed();
    cmd.args([
        "tracker",
        "--http",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--json",
        "--interval",
        "5",
    ])
    .stdin(Stdio::null());
    let mut g = ChildGuard::spawn("seedbed tracker", &mut cmd);
    let url = g.wait_line(Duration::from_secs(10), |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        Some(v["http"].as_str()?.to_owned())
    });
    (g, url)
}

/// A swarm of python3-libtorrent DHT nodes on 127.0.0.1, run by the DHT
/// crate's script (`crates/dht/tests/scripts/lt_dht.py`, run from where it
/// is): commands on its stdin, one answer line each on its stdout.
pub struct LtDhtSwarm {
    guard: ChildGuard,
    /// The nodes' addresses (UDP for the DHT; TCP too for a node that
    /// seeds).
    pub addrs: Vec<std::net::SocketAddr>,
}

impl LtDhtSwarm {
    /// Starts `n` nodes (torrents they join save below `dir`).
    pub fn start(n: usize, dir: &Path) -> LtDhtSwarm {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dht/tests/scripts/lt_dht.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg(n.to_string())
            .arg(dir)
            .stdin(Stdio::piped());
        let mut guard = ChildGuard::spawn("lt_dht.py", &mut cmd);
        let ports = guard.wait_line(Duration::from_secs(30), |l| {
            l.strip_prefix("READY ").map(str::to_owned)
        });
        let addrs = ports
            .split_whitespace()
            .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p.parse().unwrap())))
            .collect();
        LtDhtSwarm { guard, addrs }
    }

    /// Sends a command; returns its answer line (waiting up to `limit`).
    pub fn command(&mut self, cmd: &str, limit: Duration) -> String {
        // Complete lines only (a line may be half read).
        let n = self.guard.stdout().matches('\n').count();
        self.guard.send_line(cmd);
        let deadline = Instant::now() + limit;
        loop {
            let out = self.guard.stdout();
            if let Some(l) = out
                .split_inclusive('\n')
                .nth(n)
                .filter(|l| l.ends_with('\n'))
            {
                return l.trim_end().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "lt_dht.py: no answer to {cmd}\n{}",
                self.guard.tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
