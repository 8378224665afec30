//! Announcing one torrent to its trackers (BEP 3, BEP 15), tier by tier
//! (BEP 12): `started` first, again at the tracker's interval, `completed`
//! once, `stopped` on pause and stop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seedbed_tracker_proto::client::{ClientOptions, TrackerClient};
use seedbed_tracker_proto::tier::Tiers;
use seedbed_tracker_proto::{AnnounceRequest, AnnounceResponse, Event as TrackerEvent, PeerKey};
use tokio::sync::{mpsc, oneshot};

use crate::handle::Event;
use crate::torrent::{DriverCmd, TorrentShared};

/// Commands from the driver to the announcer.
#[derive(Debug)]
pub(crate) enum AnnounceCmd {
    Completed,
    Pause,
    Resume,
    Stop(oneshot::Sender<()>),
}

/// The shortest re-announce interval we accept from a tracker.
const MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Retry after a round where no tracker answered: doubles up to 5 minutes.
const FIRST_RETRY: Duration = Duration::from_secs(15);
const MAX_RETRY: Duration = Duration::from_secs(300);

struct Announcer {
    shared: Arc<TorrentShared>,
    client: TrackerClient,
    tiers: Tiers<String>,
    key: PeerKey,
}

impl Announcer {
    fn request(&self, event: TrackerEvent) -> AnnounceRequest {
        let s = &self.shared;
        let g = s.info.geometry();
        let have: u64 = {
            let st = s.lock();
            st.picker
                .have()
                .iter_set()
                .filter_map(|i| g.piece(i))
                .map(|p| u64::from(g.piece_len(p)))
                .sum()
        };
        let mut req =
            AnnounceRequest::new(s.announce_hash(), s.peer_id, s.listen_port.unwrap_or(0));
        req.uploaded = s.counters.uploaded.load(Ordering::Relaxed);
        req.downloaded = s.counters.downloaded.load(Ordering::Relaxed);
        req.left = g.total_length().saturating_sub(have);
        req.event = event;
        req.numwant = Some(50);
        req.key = Some(self.key);
        req
    }

    /// Tries the trackers in tier order until one answers.
    async fn announce(&mut self, event: TrackerEvent) -> Option<AnnounceResponse> {
        let req = self.request(event);
        let order: Vec<_> = self
            .tiers
            .iter()
            .map(|(pos, url)| (pos, url.clone()))
            .collect();
        let list = &self.shared.tracker_list;
        for (pos, url) in order {
            list.updating(&url);
            match self.client.announce(&url, &req).await {
                Ok(resp) => {
                    list.answered(&url, resp.complete, resp.incomplete, resp.peers.len());
                    self.tiers.succeeded(pos);
                    tracing::info!(%url, peers = resp.peers.len(), interval = resp.interval, "tracker answered");
                    self.shared.emit(Event::TrackerAnswered {
                        url,
                        peers: resp.peers.len(),
                        interval: resp.interval,
                    });
                    let addrs = resp.peers.iter().map(|p| p.addr).collect();
                    let _ = self.shared.cmd_tx.send(DriverCmd::AddPeers(addrs));
                    return Some(resp);
                }
                Err(e) => {
                    list.failed(&url, e.to_string());
                    tracing::warn!(%url, %e, "announce failed");
                    self.shared.emit(Event::TrackerFailed {
                        url,
                        reason: e.to_string(),
                    });
                }
            }
        }
        None
    }
}

/// Runs until stopped. `paused`: start without announcing; `complete`:
/// the data was complete from the start (no `completed` event then).
pub(crate) async fn run(
    shared: Arc<TorrentShared>,
    mut rx: mpsc::UnboundedReceiver<AnnounceCmd>,
    mut paused: bool,
    _complete: bool,
) {
    let opts = ClientOptions {
        timeout: shared.config.tracker_timeout,
        user_agent: shared.config.user_agent.clone(),
        local_address: shared.config.bind_ip(),
        ..ClientOptions::default()
    };
    let client = match TrackerClient::new(opts) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%e, "tracker client");
            return;
        }
    };
    let mut rng = StdRng::from_os_rng();
    let tiers = Tiers::new(shared.trackers.clone(), &mut |n| {
        rng.random_range(0..n.max(1))
    });
    let key = PeerKey(rng.random());
    let mut a = Announcer {
        shared,
        client,
        tiers,
        key,
    };
    let mut event = TrackerEvent::Started;
    let mut next = Instant::now();
    let mut retry = FIRST_RETRY;
    loop {
        let sleep = tokio::time::sleep_until(next.into());
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(AnnounceCmd::Completed) => {
                    event = TrackerEvent::Completed;
                    next = Instant::now();
                }
                Some(AnnounceCmd::Pause) => {
                    if !paused {
                        paused = true;
                        a.announce(TrackerEvent::Stopped).await;
                    }
                }
                Some(AnnounceCmd::Resume) => {
                    if paused {
                        paused = false;
                        event = TrackerEvent::Started;
                        next = Instant::now();
                    }
                }
                Some(AnnounceCmd::Stop(ack)) => {
                    if !paused {
                        a.announce(TrackerEvent::Stopped).await;
                    }
                    let _ = ack.send(());
                    return;
                }
            },
            _ = sleep, if !paused => {
                match a.announce(event).await {
                    Some(resp) => {
                        event = TrackerEvent::None;
                        retry = FIRST_RETRY;
                        let secs = resp.interval.max(resp.min_interval.unwrap_or(0));
                        next = Instant::now() + Duration::from_secs(u64::from(secs)).max(MIN_INTERVAL);
                    }
                    None => {
                        next = Instant::now() + retry;
                        retry = (retry * 2).min(MAX_RETRY);
                    }
                }
                a.shared.tracker_list.next_round(next);
            }
        }
    }
}
