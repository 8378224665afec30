//! The detail pane's data (peers, files, trackers, piece map) from one
//! torrent of the session: the only place that knows how the session
//! tells it.
//!
//! Today's `seedbed-session` has no per-peer, per-file, tracker or piece
//! map snapshots (issue 15, "What a program needs to show"), so an
//! `Observer` follows the torrent's [`Event`]s: peers from
//! `PeerConnected`/`PeerDisconnected` (address only: client, flags and
//! rates show `-`), trackers from `TrackerAnswered`/`TrackerFailed`, the
//! piece map from `Checked`/`PieceVerified`, and file progress from the
//! piece map and the torrent's file list. When the session gains
//! `TorrentHandle::peers()`, `file_progress()`, `piece_map()` and
//! `trackers()`, `Observer::detail` reads those instead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seedbed::metainfo::Info;
use seedbed::session::{Event, Stats, TorrentHandle};
use tokio::sync::broadcast::error::RecvError;

use super::model::{Detail, FileRow, PeerRow, PieceMap, PieceState, TrackerRow};

/// What the events said so far.
#[derive(Debug, Default)]
struct Observed {
    peers: BTreeMap<SocketAddr, Instant>,
    trackers: Vec<TrackerState>,
    /// Verified pieces, sized once the piece count is known.
    have: Vec<bool>,
    /// Events were lost (the receiver fell behind): the piece map may
    /// miss pieces until the torrent completes.
    lagged: bool,
}

#[derive(Debug)]
struct TrackerState {
    url: String,
    tier: usize,
    status: String,
    next: Option<Instant>,
    peers: Option<usize>,
}

/// Follows one torrent's events (in a task, stopped when this is dropped)
/// and turns them and its file list into a [`Detail`].
#[derive(Debug)]
pub(crate) struct Observer {
    observed: Arc<Mutex<Observed>>,
    /// The torrent's files, when it was added from a .torrent file.
    info: Option<Arc<Info>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Starts following `handle`, whose trackers are `tiers` and whose info
    /// dictionary is `info` (`None` for a magnet link). Must be called
    /// inside a tokio runtime.
    pub(crate) fn new(
        handle: &TorrentHandle,
        tiers: &[Vec<String>],
        info: Option<Arc<Info>>,
    ) -> Observer {
        let observed = Arc::new(Mutex::new(Observed {
            trackers: tiers
                .iter()
                .enumerate()
                .flat_map(|(tier, urls)| {
                    urls.iter().map(move |url| TrackerState {
                        url: url.clone(),
                        tier,
                        status: "not contacted".into(),
                        next: None,
                        peers: None,
                    })
                })
                .collect(),
            ..Observed::default()
        }));
        let mut events = handle.events();
        let into = Arc::clone(&observed);
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => apply(&mut into.lock().unwrap_or_else(|e| e.into_inner()), e),
                    Err(RecvError::Lagged(_)) => {
                        into.lock().unwrap_or_else(|e| e.into_inner()).lagged = true;
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        Observer {
            observed,
            info,
            task,
        }
    }

    /// The detail pane's data now, given the torrent's `stats`.
    pub(crate) fn detail(&self, stats: &Stats) -> Detail {
        let now = Instant::now();
        let mut o = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        let n = stats.num_pieces as usize;
        if o.have.len() != n {
            o.have.resize(n, false);
        }
        if stats.pieces_have == stats.num_pieces {
            // Complete: whatever was missed, every piece is here.
            o.have.iter_mut().for_each(|h| *h = true);
        }
        let peers = o
            .peers
            .keys()
            .map(|&addr| PeerRow {
                addr,
                client: None,
                flags: String::new(),
                down_rate: None,
                up_rate: None,
                progress: None,
            })
            .collect();
        let trackers = o
            .trackers
            .iter()
            .map(|t| TrackerRow {
                url: t.url.clone(),
                tier: t.tier,
                status: t.status.clone(),
                next_announce: t.next.map(|at| at.saturating_duration_since(now)),
                peers: t.peers,
            })
            .collect();
        let pieces = PieceMap {
            pieces: o
                .have
                .iter()
                .map(|&h| {
                    if h {
                        PieceState::Have
                    } else {
                        PieceState::Missing
                    }
                })
                .collect(),
            availability: Vec::new(),
        };
        let files = self
            .info
            .as_deref()
            .map_or_else(Vec::new, |info| file_rows(info, &o.have));
        Detail {
            info_hash: None,
            peers,
            files,
            trackers,
            pieces,
        }
    }

    /// The files the torrent wrote below `output_dir` (pad files left out);
    /// empty when its file list is not known (a magnet link).
    pub(crate) fn files_under(&self, output_dir: &Path) -> Vec<PathBuf> {
        let Some(info) = &self.info else {
            return Vec::new();
        };
        info.real_files()
            .map(|(_, f)| f.path().to_path_buf_under(output_dir))
            .collect()
    }

    /// Whether the file list is known (so data can be deleted).
    pub(crate) fn knows_files(&self) -> bool {
        self.info.is_some()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn apply(o: &mut Observed, event: Event) {
    match event {
        Event::PeerConnected { addr } => {
            o.peers.insert(addr, Instant::now());
        }
        Event::PeerDisconnected { addr } | Event::PeerBanned { addr } => {
            o.peers.remove(&addr);
        }
        Event::PieceVerified { piece } => {
            let i = piece as usize;
            if i >= o.have.len() {
                o.have.resize(i + 1, false);
            }
            o.have[i] = true;
        }
        Event::TrackerAnswered {
            url,
            peers,
            interval,
        } => {
            let t = tracker(o, url);
            t.status = "working".into();
            t.peers = Some(peers);
            t.next = Some(Instant::now() + Duration::from_secs(u64::from(interval)));
        }
        Event::TrackerFailed { url, reason } => {
            let t = tracker(o, url);
            t.status = format!("error: {reason}");
            t.next = None;
        }
        _ => {}
    }
}

fn tracker(o: &mut Observed, url: String) -> &mut TrackerState {
    let i = match o.trackers.iter().position(|t| t.url == url) {
        Some(i) => i,
        None => {
            let tier = o.trackers.last().map_or(0, |t| t.tier + 1);
            o.trackers.push(TrackerState {
                url,
                tier,
                status: String::new(),
                next: None,
                peers: None,
            });
            o.trackers.len() - 1
        }
    };
    &mut o.trackers[i]
}

/// Each real file's bytes in verified pieces.
fn file_rows(info: &Info, have: &[bool]) -> Vec<FileRow> {
    let mut bytes = vec![0u64; info.files().len()];
    let g = info.geometry();
    for (i, _) in have.iter().enumerate().filter(|(_, h)| **h) {
        if let Some(p) = g.piece(i as u32) {
            for span in info.piece_spans(p) {
                if let Some(b) = bytes.get_mut(span.file) {
                    *b += span.len;
                }
            }
        }
    }
    info.real_files()
        .map(|(index, f)| FileRow {
            index,
            path: f.path().to_string(),
            length: f.length(),
            have: bytes[index].min(f.length()),
            priority: "normal".into(),
        })
        .collect()
}
