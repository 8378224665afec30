//! The side of the UI that talks to the session: it owns the
//! [`Session`], carries out the UI's [`Command`]s, and publishes a fresh
//! [`Snapshot`] on every tick. The UI only sends commands (never waiting)
//! and reads the latest snapshot, so a busy session never freezes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use seedbed::metainfo::InfoHash;
use seedbed::session::{AddTorrentOptions, Session, Status, TorrentHandle};
use tokio::sync::{mpsc, watch};

use super::adapter::Observer;
use super::model::{Snapshot, TorrentRow, MAX_MESSAGES};
use crate::input::{self, Source};

/// What the UI asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Add a .torrent path or a magnet link, as typed.
    Add(String),
    /// Pause the torrent, or resume it if paused.
    TogglePause(InfoHash),
    /// Remove the torrent (its trackers are told `stopped`), deleting its
    /// files if asked.
    Remove {
        /// Which torrent.
        info_hash: InfoHash,
        /// Delete the files it wrote too.
        delete_data: bool,
    },
    /// Which torrent's detail the snapshots should carry.
    Select(Option<InfoHash>),
    /// Shut the session down (trackers told `stopped`) and stop.
    Quit,
}

/// How the engine adds torrents.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Where new torrents save their data.
    pub output_dir: PathBuf,
    /// Peers every new torrent connects to, besides its trackers'.
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrents' trackers.
    pub trackers: bool,
    /// How often a snapshot is published.
    pub tick: Duration,
}

struct Entry {
    handle: TorrentHandle,
    observer: Observer,
}

/// A torrent added (or why not), from the task that added it.
type Added = Result<TorrentHandle, String>;

struct Engine {
    session: Session,
    opts: EngineOptions,
    torrents: Vec<Entry>,
    selected: Option<InfoHash>,
    messages: Vec<String>,
    added_tx: mpsc::UnboundedSender<Added>,
}

/// Runs the engine until [`Command::Quit`] (or until every command sender
/// is gone), publishing snapshots into `snapshots`; returns after
/// [`Session::shutdown`].
pub async fn run(
    session: Session,
    opts: EngineOptions,
    mut commands: mpsc::UnboundedReceiver<Command>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) {
    let (added_tx, mut added_rx) = mpsc::unbounded_channel();
    let mut engine = Engine {
        session,
        opts,
        torrents: Vec::new(),
        selected: None,
        messages: Vec::new(),
        added_tx,
    };
    let mut tick = tokio::time::interval(engine.opts.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Quit) | None => break,
                Some(cmd) => {
                    engine.command(cmd);
                    snapshots.send_replace(Arc::new(engine.snapshot()));
                }
            },
            Some(added) = added_rx.recv() => {
                engine.added(added);
                snapshots.send_replace(Arc::new(engine.snapshot()));
            }
            _ = tick.tick() => {
                snapshots.send_replace(Arc::new(engine.snapshot()));
            }
        }
    }
    let mut last = engine.snapshot();
    last.shutting_down = true;
    snapshots.send_replace(Arc::new(last));
    engine.session.shutdown().await;
}

impl Engine {
    fn say(&mut self, msg: String) {
        self.messages.push(msg);
        if self.messages.len() > MAX_MESSAGES {
            self.messages.remove(0);
        }
    }

    fn find(&self, info_hash: &InfoHash) -> Option<usize> {
        self.torrents
            .iter()
            .position(|e| e.handle.info_hash() == *info_hash)
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Add(text) => self.add(&text),
            Command::TogglePause(h) => {
                if let Some(i) = self.find(&h) {
                    let handle = &self.torrents[i].handle;
                    let name = handle.name();
                    if handle.status() == Status::Paused {
                        handle.resume();
                        self.say(format!("resumed {name}"));
                    } else {
                        handle.pause();
                        self.say(format!("paused {name}"));
                    }
                }
            }
            Command::Remove {
                info_hash,
                delete_data,
            } => {
                let Some(i) = self.find(&info_hash) else {
                    return;
                };
                let entry = self.torrents.remove(i);
                let name = entry.handle.name();
                let files = if delete_data {
                    entry.observer.files_under(&self.opts.output_dir)
                } else {
                    Vec::new()
                };
                if delete_data && !entry.observer.knows_files() {
                    self.say(format!(
                        "removed {name}; its files are kept (the file list of a magnet link is not known here)"
                    ));
                } else if delete_data {
                    self.say(format!("removed {name} and deleted its files"));
                } else {
                    self.say(format!("removed {name}; its files are kept"));
                }
                let output_dir = self.opts.output_dir.clone();
                tokio::spawn(async move {
                    entry.handle.remove().await;
                    drop(entry.observer);
                    if !files.is_empty() {
                        let _ =
                            tokio::task::spawn_blocking(move || delete_files(&output_dir, &files))
                                .await;
                    }
                });
            }
            Command::Select(h) => self.selected = h,
            Command::Quit => {}
        }
    }

    /// Adds in a task of its own (opening and checking files takes time);
    /// the result comes back through `added_tx`.
    fn add(&mut self, text: &str) {
        let source = Source::parse(text);
        if matches!(&source, Source::Torrent(p) if p.as_os_str().is_empty()) {
            return;
        }
        let session = self.session.clone();
        let opts = AddTorrentOptions::new(&self.opts.output_dir)
            .peers(self.opts.peers.iter().copied())
            .trackers(self.opts.trackers);
        let tx = self.added_tx.clone();
        tokio::spawn(async move {
            let added = async {
                match source {
                    Source::Torrent(path) => {
                        let t = input::read_torrent(&path).map_err(|e| e.to_string())?;
                        session
                            .add_torrent(&t, opts)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Source::Magnet(uri) => {
                        let m = input::parse_magnet(&uri).map_err(|e| e.to_string())?;
                        session
                            .add_magnet(&m, opts)
                            .await
                            .map_err(|e| e.to_string())
                    }
                }
            };
            let _ = tx.send(added.await);
        });
    }

    fn added(&mut self, added: Added) {
        match added {
            Ok(handle) => {
                self.say(format!("added {}", handle.name()));
                let observer = Observer::new(&handle);
                self.torrents.push(Entry { handle, observer });
            }
            Err(e) => self.say(format!("error: {e}")),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut detail = None;
        let torrents = self
            .torrents
            .iter()
            .map(|e| {
                let s = e.handle.stats();
                let info_hash = e.handle.info_hash();
                if self.selected == Some(info_hash) {
                    let mut d = e.observer.detail(&s);
                    d.info_hash = Some(info_hash);
                    detail = Some(d);
                }
                TorrentRow {
                    info_hash,
                    name: e.handle.name(),
                    size: s.wanted_bytes,
                    have: s.wanted_bytes_have,
                    paused: s.status == Status::Paused,
                    state: state_word(&s.status),
                    down_rate: s.download_rate,
                    up_rate: s.upload_rate,
                    peers: s.peers,
                }
            })
            .collect();
        Snapshot {
            torrents,
            detail,
            messages: self.messages.clone(),
            shutting_down: false,
            listen: self.session.listen_addr(),
            output_dir: self.opts.output_dir.clone(),
        }
    }
}

/// A torrent's status as the list shows it.
pub fn state_word(status: &Status) -> String {
    match status {
        Status::FetchingMetadata => "metadata".into(),
        Status::Checking => "checking".into(),
        Status::Downloading => "downloading".into(),
        Status::Seeding => "seeding".into(),
        Status::Finished => "finished".into(),
        Status::Paused => "paused".into(),
        Status::Stopped => "stopped".into(),
        Status::Failed(msg) => format!("failed: {msg}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Deletes `files` (all below `output_dir`), then the folders they were in
/// that are left empty, up to but not including `output_dir`. Nothing else
/// is touched: files the torrent does not name stay.
pub fn delete_files(output_dir: &Path, files: &[PathBuf]) {
    let mut dirs = Vec::new();
    for f in files {
        if !f.starts_with(output_dir) {
            continue;
        }
        let _ = std::fs::remove_file(f);
        let mut d = f.parent();
        while let Some(dir) = d {
            if dir == output_dir || !dir.starts_with(output_dir) {
                break;
            }
            dirs.push(dir.to_path_buf());
            d = dir.parent();
        }
    }
    // Deepest first; `remove_dir` fails (and so keeps) a non-empty folder.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_files_keeps_what_the_torrent_does_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        std::fs::create_dir_all(out.join("t/a/b")).unwrap();
        std::fs::create_dir_all(out.join("t/keep")).unwrap();
        std::fs::write(out.join("t/a/b/x"), b"x").unwrap();
        std::fs::write(out.join("t/y"), b"y").unwrap();
        std::fs::write(out.join("t/keep/mine"), b"m").unwrap();
        std::fs::write(out.join("single"), b"s").unwrap();
        delete_files(out, &[out.join("t/a/b/x"), out.join("t/y")]);
        assert!(!out.join("t/a").exists(), "emptied folders go");
        assert!(out.join("t/keep/mine").exists(), "other files stay");
        delete_files(out, &[out.join("single"), PathBuf::from("/etc/passwd")]);
        assert!(!out.join("single").exists());
        assert!(out.exists() && Path::new("/etc/passwd").exists());
    }
}
