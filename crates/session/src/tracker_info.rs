//! What a program can show about a torrent's trackers: [`TrackerInfo`] per
//! URL, kept up to date by the announcer (BEP 3, BEP 15, tiers of BEP 12).

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where a tracker stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerStatus {
    /// Not asked yet (BEP 12: later tiers are asked only when the earlier
    /// ones fail).
    NotContacted,
    /// An announce is in flight.
    Updating,
    /// The last announce was answered.
    Working,
    /// The last announce failed; why (a timeout, a refused connection, or
    /// the tracker's `failure reason`).
    Error(String),
}

/// A snapshot of one tracker URL of the torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerInfo {
    /// The announce URL (`http://`, `https://` or `udp://`).
    pub url: String,
    /// Its tier in the torrent's `announce-list` (BEP 12), 0 first.
    pub tier: usize,
    /// Where it stands.
    pub status: TrackerStatus,
    /// When the last announce to it ended (answered or failed).
    pub last_announce: Option<Instant>,
    /// When it will be asked again, if it was asked before: trackers are
    /// asked in tier order at each round, so one past a working tracker
    /// may not be asked then.
    pub next_announce: Option<Instant>,
    /// Seeders (`complete`) in its last answer, if it said.
    pub seeders: Option<u32>,
    /// Leechers (`incomplete`) in its last answer, if it said.
    pub leechers: Option<u32>,
    /// Peers in its last answer.
    pub peers: usize,
}

/// The torrent's trackers, shared by the handle and the announcers (the
/// torrent's, and the metadata fetcher's for a magnet link).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackerList(Arc<Mutex<Vec<TrackerInfo>>>);

impl TrackerList {
    /// Starts over with `tiers`, every tracker not contacted; keeps what
    /// is known of a URL that was already listed.
    pub(crate) fn set(&self, tiers: &[Vec<String>]) {
        let mut list = self.lock();
        let old = std::mem::take(&mut *list);
        for (tier, urls) in tiers.iter().enumerate() {
            for url in urls {
                if list.iter().any(|t| t.url == *url) {
                    continue;
                }
                let known = old.iter().find(|t| t.url == *url).cloned();
                list.push(TrackerInfo {
                    tier,
                    ..known.unwrap_or(TrackerInfo {
                        url: url.clone(),
                        tier,
                        status: TrackerStatus::NotContacted,
                        last_announce: None,
                        next_announce: None,
                        seeders: None,
                        leechers: None,
                        peers: 0,
                    })
                });
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TrackerInfo>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Vec<TrackerInfo> {
        self.lock().clone()
    }

    fn update(&self, url: &str, f: impl FnOnce(&mut TrackerInfo)) {
        if let Some(t) = self.lock().iter_mut().find(|t| t.url == url) {
            f(t);
        }
    }

    /// An announce to `url` starts.
    pub(crate) fn updating(&self, url: &str) {
        self.update(url, |t| t.status = TrackerStatus::Updating);
    }

    /// `url` answered with these counts.
    pub(crate) fn answered(
        &self,
        url: &str,
        seeders: Option<u32>,
        leechers: Option<u32>,
        peers: usize,
    ) {
        self.update(url, |t| {
            t.status = TrackerStatus::Working;
            t.last_announce = Some(Instant::now());
            t.seeders = seeders;
            t.leechers = leechers;
            t.peers = peers;
        });
    }

    /// The announce to `url` failed.
    pub(crate) fn failed(&self, url: &str, reason: String) {
        self.update(url, |t| {
            t.status = TrackerStatus::Error(reason);
            t.last_announce = Some(Instant::now());
        });
    }

    /// The next round starts at `at`: every tracker asked before will be
    /// asked again then, if its turn comes.
    pub(crate) fn next_round(&self, at: Instant) {
        for t in self.lock().iter_mut() {
            if t.status != TrackerStatus::NotContacted {
                t.next_announce = Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_announces() {
        let list = TrackerList::default();
        let tiers = vec![
            vec!["http://a/announce".to_string(), "udp://b:1".to_string()],
            vec!["http://c/announce".to_string(), "udp://b:1".to_string()],
        ];
        list.set(&tiers);
        let s = list.snapshot();
        assert_eq!(s.len(), 3, "a URL listed twice appears once");
        assert_eq!(s.iter().map(|t| t.tier).collect::<Vec<_>>(), vec![0, 0, 1]);
        assert!(s.iter().all(|t| t.status == TrackerStatus::NotContacted));
        list.updating("udp://b:1");
        assert_eq!(list.snapshot()[1].status, TrackerStatus::Updating);
        list.failed("udp://b:1", "timed out".into());
        list.answered("http://a/announce", Some(3), Some(7), 10);
        let at = Instant::now();
        list.next_round(at);
        let s = list.snapshot();
        assert_eq!(s[0].status, TrackerStatus::Working);
        assert_eq!(
            (s[0].seeders, s[0].leechers, s[0].peers),
            (Some(3), Some(7), 10)
        );
        assert_eq!(s[1].status, TrackerStatus::Error("timed out".into()));
        assert!(s[0].last_announce.is_some() && s[1].last_announce.is_some());
        assert_eq!(
            (s[0].next_announce, s[1].next_announce),
            (Some(at), Some(at))
        );
        assert_eq!(s[2].status, TrackerStatus::NotContacted);
        assert_eq!(s[2].next_announce, None);
        // Setting the same list again keeps what is known.
        list.set(&tiers);
        assert_eq!(list.snapshot()[0].status, TrackerStatus::Working);
    }
}
