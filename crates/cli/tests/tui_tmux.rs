//! `seedbed tui` driven as a person would: tmux runs it in a shell,
//! `send-keys` types, `capture-pane` reads the screen.
//!
//! A python3-libtorrent seeder on loopback serves a torrent whose tracker
//! is `seedbed tracker`; the UI adds the .torrent through its `a` prompt,
//! downloads it to 100 %, pauses and resumes it, and quits with `q`: exit
//! status 0, the shell back on the normal screen, the files identical,
//! and the tracker told `stopped` (it no longer counts us).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_torrent, make_content, our_tracker, run, tool_available};

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether the shell has printed the `EXITED=<status>` line (the typed
/// command line holds `EXITED=$?` too, after the `$ ` prompt).
fn exited(screen: &str) -> bool {
    screen.lines().any(|l| l.starts_with("EXITED="))
}

/// A tmux server on a socket of its own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server with one `width`×`height` window running `sh`.
    fn start(width: u16, height: u16) -> Tmux {
        let t = Tmux {
            socket: format!(
                "seedbed-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-s", "t", "-x", &width.to_string()])
            .args(["-y", &height.to_string(), "PS1='$ ' exec sh"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-f", "/dev/null", "-L", &self.socket])
            .stdin(Stdio::null());
        c
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        assert!(self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap()
            .success());
    }

    /// Presses keys by tmux name (`Enter`, `Tab`, `q`).
    fn press(&self, key: &str) {
        assert!(self
            .cmd()
            .args(["send-keys", "-t", "t", key])
            .status()
            .unwrap()
            .success());
    }

    /// The screen's text now.
    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the pane is on the alternate screen.
    fn alternate_on(&self) -> bool {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "t", "#{alternate_on}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits up to `limit` for the screen to satisfy `f`; panics with the
    /// screen otherwise.
    fn wait_for(&self, what: &str, limit: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not seen in {limit:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    tool_available("tmux", ok)
}

/// The list row of the torrent named `content`.
fn content_row(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains("│content "))
        .unwrap_or_default()
        .to_owned()
}

fn same_file(a: &Path, b: &Path) {
    assert!(
        std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
        "{} differs from {}",
        b.display(),
        a.display()
    );
}

#[test]
fn add_download_pause_resume_quit() {
    if !have_tmux() || !common::have_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let content = make_content(&src, 3_000_000);
    let (_tracker, url) = our_tracker();
    let file = dir.path().join("t.torrent");
    let hash = create_torrent(&content, &file, Some(&url));
    let (_seeder, port) = common::lt_seed(&file, &src);

    let tmux = Tmux::start(140, 40);
    tmux.wait_for("the shell", Duration::from_secs(10), |s| s.contains('$'));
    let line = format!(
        "{} tui --output-directory {} --listen 127.0.0.1:0 --no-dht --peer 127.0.0.1:{port}; echo EXITED=$?",
        env!("CARGO_BIN_EXE_seedbed"),
        dst.display()
    );
    tmux.type_text(&line);
    tmux.press("Enter");
    tmux.wait_for("the empty list", Duration::from_secs(20), |s| {
        s.contains("No torrents yet")
    });
    assert!(tmux.alternate_on(), "the UI runs on the alternate screen");

    // a, the path, Enter.
    tmux.press("a");
    tmux.wait_for("the prompt", Duration::from_secs(5), |s| {
        s.contains("Add: a .torrent path")
    });
    tmux.type_text(file.to_str().unwrap());
    tmux.press("Enter");
    let done = tmux.wait_for("100 %", Duration::from_secs(60), |s| {
        content_row(s).contains("100.0 %")
    });
    let row = content_row(&done);
    assert!(row.contains("seeding"), "{row}");
    assert!(row.contains("2.94 MiB"), "the size: {row}");

    // The trackers tab: our tracker answered.
    tmux.press("3");
    tmux.wait_for("the tracker working", Duration::from_secs(10), |s| {
        s.lines().any(|l| l.contains(&url) && l.contains("working"))
    });
    // The files tab: every file at 100 %.
    tmux.press("2");
    let files = tmux.wait_for("the files", Duration::from_secs(5), |s| {
        s.contains("content/a/b/big.bin")
    });
    let big = files
        .lines()
        .find(|l| l.contains("content/a/b/big.bin"))
        .unwrap();
    assert!(big.contains("100.0 %"), "{big}");

    tmux.press("p");
    tmux.wait_for("paused", Duration::from_secs(10), |s| {
        content_row(s).contains("paused")
    });
    tmux.press("p");
    tmux.wait_for("resumed", Duration::from_secs(10), |s| {
        content_row(s).contains("seeding")
    });

    tmux.press("q");
    let after = tmux.wait_for("the exit", Duration::from_secs(30), exited);
    assert!(
        after.lines().any(|l| l == "EXITED=0"),
        "exit status 0:\n{after}"
    );
    assert!(!tmux.alternate_on(), "the alternate screen is left");
    assert!(
        !after.contains("Torrents ("),
        "the UI is gone from the screen:\n{after}"
    );
    tmux.wait_for("the prompt back", Duration::from_secs(5), |s| {
        s.lines().filter(|l| l.trim() == "$").count() >= 1
    });

    for rel in ["a/b/big.bin", "a/small.txt", "top.bin"] {
        same_file(&content.join(rel), &dst.join("content").join(rel));
    }
    // `stopped` reached the tracker: only the libtorrent seeder is left.
    let j = run(&["scrape", "--tracker", &url, "--info-hash", &hash, "--json"])
        .ok()
        .json();
    assert_eq!(j["files"][&hash]["complete"], 1, "{j}");
    assert_eq!(j["files"][&hash]["incomplete"], 0, "{j}");
}

#[test]
fn sigterm_quits_cleanly() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let tmux = Tmux::start(100, 30);
    tmux.wait_for("the shell", Duration::from_secs(10), |s| s.contains('$'));
    let line = format!(
        "sh -c 'echo $$ > {}; exec {} tui --output-directory {} --listen 127.0.0.1:0 --no-dht'; echo EXITED=$?",
        pidfile.display(),
        env!("CARGO_BIN_EXE_seedbed"),
        dir.path().display()
    );
    tmux.type_text(&line);
    tmux.press("Enter");
    tmux.wait_for("the UI", Duration::from_secs(20), |s| {
        s.contains("No torrents yet")
    });
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let ok = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let after = tmux.wait_for("the exit", Duration::from_secs(30), exited);
    assert!(after.lines().any(|l| l == "EXITED=0"), "{after}");
    assert!(!tmux.alternate_on(), "the alternate screen is left");
}

/// Run by [`a_panic_restores_the_terminal`] inside tmux: takes the
/// terminal over as the UI does, draws, and panics. Does nothing unless
/// `SEEDBED_PANIC_CHILD` is set.
#[test]
fn panic_child() {
    if std::env::var_os("SEEDBED_PANIC_CHILD").is_none() {
        return;
    }
    let mut guard = seedbed_cli::tui::terminal::TerminalGuard::enter().unwrap();
    guard
        .terminal
        .draw(|f| {
            f.render_widget(
                ratatui::widgets::Paragraph::new("PANIC CHILD DRAWN"),
                f.area(),
            );
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    panic!("deliberate panic with the terminal taken over");
}

#[test]
fn a_panic_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let tmux = Tmux::start(100, 30);
    tmux.wait_for("the shell", Duration::from_secs(10), |s| s.contains('$'));
    let exe = std::env::current_exe().unwrap();
    let line = format!(
        "SEEDBED_PANIC_CHILD=1 {} --exact panic_child --nocapture --test-threads 1; echo EXITED=$?",
        exe.display(),
    );
    tmux.type_text(&line);
    tmux.press("Enter");
    let after = tmux.wait_for("the exit", Duration::from_secs(30), exited);
    assert!(
        after.lines().any(|l| l == "EXITED=101"),
        "the test harness's status for a panic:\n{after}"
    );
    // The hook restored the terminal before the message was printed, so
    // it is on the normal screen (the harness's own lines may overwrite
    // its start: leaving the alternate screen puts the cursor back).
    assert!(
        after.contains("with the terminal taken over"),
        "the panic message is on the normal screen:\n{after}"
    );
    assert!(
        !after.contains("PANIC CHILD DRAWN"),
        "the alternate screen is gone:\n{after}"
    );
    assert!(!tmux.alternate_on());
    // Raw mode is off: the shell echoes and runs what is typed.
    tmux.type_text("echo COOKED");
    tmux.press("Enter");
    tmux.wait_for("the echo", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.trim() == "COOKED")
    });
}
