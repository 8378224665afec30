//! Timers ([`Dht::handle_timeout`]): query timeouts, token rotation,
//! re-bootstrap, bucket refresh, maintenance (expired peers, questionable
//! nodes), re-announces and starved lookups.

use super::*;

impl Dht {
    /// Handles whatever is due at `now`: query timeouts, token rotation,
    /// bucket refresh, pings of questionable nodes, purging of expired
    /// peers, re-announces.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        while let Some(&(deadline, tid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(p) = self.pending.remove(&tid) {
                self.failed(now, p, None);
            }
        }
        if now >= self.tokens.next_rotation() {
            let secret = self.rng.bytes20();
            self.tokens.rotate(secret, now);
        }
        if self.rebootstrap.is_some_and(|t| t <= now) {
            self.rebootstrap = None;
            if !self
                .lookups
                .values()
                .any(|l| l.kind == LookupKind::Bootstrap)
            {
                let routers = self.routers.clone();
                let _ = self.start_lookup(now, LookupKind::Bootstrap, self.id, &routers, &[]);
            }
        }
        // Bucket refresh; an empty table bootstraps again.
        let interval = self.config.refresh_interval;
        for family in [Family::V4, Family::V6] {
            let refreshing = self.refreshing();
            let Some(table) = self.tables[slot(family)].as_mut() else {
                continue;
            };
            if table.is_empty() {
                continue;
            }
            let rng = &mut self.rng;
            let due = table.refresh_due(
                now,
                interval,
                MAX_REFRESHES.saturating_sub(refreshing),
                || rng.bytes20(),
            );
            for (_, target) in due {
                let _ = self.start_lookup(now, LookupKind::Refresh, target, &[], &[]);
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.storage.purge(now);
            for family in [Family::V4, Family::V6] {
                let Some(table) = self.tables[slot(family)].as_mut() else {
                    continue;
                };
                if table.is_empty()
                    && !self.routers.is_empty()
                    && !self
                        .lookups
                        .values()
                        .any(|l| l.kind == LookupKind::Bootstrap)
                {
                    let routers = self.routers.clone();
                    let _ = self.start_lookup(now, LookupKind::Bootstrap, self.id, &routers, &[]);
                    continue;
                }
                for node in table.take_questionable(now, QUESTIONABLE_PINGS) {
                    self.check(now, node);
                }
            }
        }
        let due: Vec<(InfoHash, ActiveAnnounce)> = self
            .announces
            .iter()
            .filter(|(_, a)| a.next <= now)
            .map(|(h, a)| (*h, *a))
            .collect();
        for (h, a) in due {
            let kind = LookupKind::Announce {
                port: a.port,
                implied_port: a.implied_port,
            };
            if self.start_lookup(now, kind, h.into(), &[], &[]).is_ok() {
                if let Some(e) = self.announces.get_mut(&h) {
                    e.next = now + self.config.reannounce_interval;
                }
            } else if let Some(e) = self.announces.get_mut(&h) {
                // No room for a lookup now: try again shortly.
                e.next = now + ANNOUNCE_RETRY;
            }
        }
        if self.starved {
            self.starved = false;
            let ids: Vec<LookupId> = self.lookups.keys().copied().collect();
            for id in ids {
                self.drive(now, id);
            }
        }
    }
}
