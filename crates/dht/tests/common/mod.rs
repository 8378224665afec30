//! Helpers for the real-client tests: tool detection (skip, or fail with
//! `CI=true`), and the python3-libtorrent DHT swarm (`scripts/lt_dht.py`)
//! as a child process killed when its guard drops, also on panic.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // not every test binary uses each
pub use seedbed_testbed::{have_libtorrent, tool_available, PYTHON};

/// A swarm of libtorrent DHT nodes on 127.0.0.1 (`scripts/lt_dht.py`):
/// one process, commands on its stdin, one answer line each.
pub struct LtSwarm {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The save paths of the torrents the nodes join: made here, removed
    /// on drop.
    dir: PathBuf,
    /// The nodes' UDP addresses.
    pub addrs: Vec<SocketAddr>,
}

impl LtSwarm {
    /// Starts `n` nodes and waits (up to 20 s) for their ports.
    pub fn start(n: usize) -> LtSwarm {
        static SWARMS: AtomicUsize = AtomicUsize::new(0);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_dht.py");
        let dir = std::env::temp_dir().join(format!(
            "seedbed-lt-dht-{}-{}",
            std::process::id(),
            SWARMS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the swarm's directory");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .arg(n.to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lt_dht.py");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err = child.stderr.take().unwrap();
        let keep = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            keep.lock().unwrap().extend(s.lines().map(String::from));
        });
        let mut swarm = LtSwarm {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            dir,
            addrs: Vec::new(),
        };
        let ready = swarm.line(Duration::from_secs(20));
        let ports = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("lt_dht.py: {ready}"));
        swarm.addrs = ports
            .split_whitespace()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p.parse().unwrap())))
            .collect();
        assert_eq!(swarm.addrs.len(), n);
        swarm
    }

    fn line(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(l) => l,
            Err(e) => panic!(
                "lt_dht.py: no answer in {limit:?} ({e}); stderr:\n{}",
                self.stderr.lock().unwrap().join("\n")
            ),
        }
    }

    /// Sends one command and returns its answer line (waiting up to
    /// `limit`). Blocks the thread: call from a multi-thread runtime.
    pub fn command(&mut self, cmd: &str, limit: Duration) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
        tokio::task::block_in_place(|| self.line(limit))
    }

    /// The node ids and addresses in node `i`'s routing table.
    pub fn live(&mut self, i: usize) -> Vec<(String, SocketAddr)> {
        let l = self.command(&format!("LIVE {i}"), Duration::from_secs(10));
        l.split_whitespace()
            .skip(2)
            .filter_map(|e| {
                let (id, addr) = e.split_once('@')?;
                Some((id.to_string(), addr.parse().ok()?))
            })
            .collect()
    }

    /// Peers node `i` finds for `info_hash` (hex) within `seconds`.
    pub fn get_peers(&mut self, i: usize, info_hash: &str, seconds: u64) -> Vec<SocketAddr> {
        let l = self.command(
            &format!("GET_PEERS {i} {info_hash} {seconds}"),
            Duration::from_secs(seconds + 10),
        );
        assert!(l.starts_with("PEERS"), "{l}");
        l.split_whitespace()
            .skip(2)
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

impl Drop for LtSwarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- lt_dht.py stderr ---\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
        }
        // Closing stdin asks the script to exit; kill it if it has not
        // within a second.
        self.stdin.take();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
