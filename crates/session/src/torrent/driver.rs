//! The torrent's driver task: the resume check, then one loop over the
//! torrent's commands ([`DriverCmd`]: peers to add, pause, resume, stop,
//! completion, forced recheck, file priorities), its periodic resume
//! saves, and a one-second tick that measures rates, connects to more
//! peers and runs the choker every 10 s.

use super::*;

/// The torrent's driver: runs until the torrent is stopped.
pub(crate) async fn run_driver(
    shared: Arc<TorrentShared>,
    mut cmd_rx: mpsc::UnboundedReceiver<DriverCmd>,
) {
    shared.set_status(Status::Checking);
    // Skipped files first (their bytes may be in the part file), then
    // the check, then wanted files take their verified bytes back.
    let prios = shared.file_priorities_now();
    shared.lock().picker.set_sequential(shared.opts.sequential);
    if let Err(e) = file_selection::apply(&shared, prios.clone(), false).await {
        tracing::warn!(%e, "applying file priorities");
    }
    let checked = resume::startup_check(&shared).await;
    report_check(&shared, checked);
    if let Err(e) = file_selection::apply(&shared, prios, true).await {
        tracing::warn!(%e, "applying file priorities");
    }

    let complete = shared.lock().picker.is_finished();
    if complete {
        if let Err(e) = shared.create_wanted_empty_files().await {
            tracing::warn!(%e, "creating empty files");
        }
    }
    let mut paused = shared.opts.paused;
    let working = |complete: bool| {
        if complete {
            if shared.opts.seed {
                Status::Seeding
            } else {
                Status::Finished
            }
        } else {
            Status::Downloading
        }
    };
    let finished_without_seeding =
        |s: &TorrentShared| s.lock().picker.is_finished() && !s.opts.seed;
    // Open to peers before the status says so: a program that sees
    // `Seeding` or `Downloading` may connect at once.
    shared.lock().closed = paused || finished_without_seeding(&shared);
    shared.set_status(if paused {
        Status::Paused
    } else {
        working(complete)
    });

    let announcer = if shared.opts.trackers && !shared.trackers.is_empty() {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(announce::run(Arc::clone(&shared), rx, paused, complete));
        Some(tx)
    } else {
        None
    };
    let tell = |cmd: AnnounceCmd| {
        if let Some(a) = &announcer {
            let _ = a.send(cmd);
        }
    };

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every = shared
        .config
        .resume_save_interval
        .max(Duration::from_millis(1));
    let mut save_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    let mut last = (0u64, 0u64, Instant::now());
    loop {
        tokio::select! {
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { break };
                match cmd {
                    DriverCmd::AddPeers(addrs) => {
                        let mut st = shared.lock();
                        for addr in addrs {
                            if shared.config.is_own_address(addr) {
                                continue;
                            }
                            st.known.entry(addr).or_insert(Known {
                                failures: 0,
                                next_attempt: Instant::now(),
                                connected: false,
                            });
                        }
                        drop(st);
                        if !paused {
                            connect_more(&shared);
                        }
                    }
                    DriverCmd::Pause => {
                        if !paused {
                            paused = true;
                            shared.lock().closed = true;
                            shared.disconnect_all();
                            tell(AnnounceCmd::Pause);
                            shared.set_status(Status::Paused);
                            resume::save_now(&shared).await;
                        }
                    }
                    DriverCmd::Resume => {
                        if paused {
                            paused = false;
                            let complete = shared.lock().picker.is_finished();
                            shared.lock().closed = finished_without_seeding(&shared);
                            let now = Instant::now();
                            for k in shared.lock().known.values_mut() {
                                k.next_attempt = now;
                            }
                            tell(AnnounceCmd::Resume);
                            shared.set_status(working(complete));
                            connect_more(&shared);
                        }
                    }
                    DriverCmd::Completed => {
                        if !shared.lock().picker.is_finished() {
                            // More files were wanted meanwhile.
                            continue;
                        }
                        if let Err(e) = shared.create_wanted_empty_files().await {
                            shared.set_status(Status::Failed(e.to_string()));
                            continue;
                        }
                        if shared.opts.sync_on_completion {
                            let storage = Arc::clone(&shared.storage);
                            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || storage.sync()).await {
                                shared.set_status(Status::Failed(e.to_string()));
                                continue;
                            }
                        }
                        tracing::info!(name = shared.info.name(), "download complete");
                        resume::save_now(&shared).await;
                        shared.emit(Event::Completed);
                        if shared.lock().picker.is_complete() {
                            tell(AnnounceCmd::Completed);
                        }
                        if shared.opts.seed {
                            // Connections to other seeds are kept (new ones
                            // are refused): they carry PeX.
                            shared.set_status(Status::Seeding);
                        } else {
                            shared.lock().closed = true;
                            shared.disconnect_all();
                            shared.set_status(Status::Finished);
                        }
                    }
                    DriverCmd::Recheck => {
                        shared.lock().closed = true;
                        shared.disconnect_all();
                        shared.set_status(Status::Checking);
                        let checked = resume::recheck(&shared).await;
                        report_check(&shared, checked);
                        let complete = shared.lock().picker.is_finished();
                        if complete {
                            if let Err(e) = shared.create_wanted_empty_files().await {
                                tracing::warn!(%e, "creating empty files");
                            }
                        }
                        shared.lock().closed = paused || finished_without_seeding(&shared);
                        shared.set_status(if paused { Status::Paused } else { working(complete) });
                        if !paused {
                            let now = Instant::now();
                            for k in shared.lock().known.values_mut() {
                                k.next_attempt = now;
                            }
                            connect_more(&shared);
                        }
                    }
                    DriverCmd::Priorities(prios) => {
                        let was = shared.lock().picker.is_finished();
                        if let Err(e) = file_selection::apply(&shared, prios, true).await {
                            shared.set_status(Status::Failed(e.to_string()));
                            continue;
                        }
                        let now = shared.lock().picker.is_finished();
                        if was && !now && !paused {
                            // Wants more: download again.
                            shared.lock().closed = false;
                            let at = Instant::now();
                            for k in shared.lock().known.values_mut() {
                                k.next_attempt = at;
                            }
                            shared.set_status(Status::Downloading);
                            connect_more(&shared);
                        } else if !was && now {
                            let _ = shared.cmd_tx.send(DriverCmd::Completed);
                        } else if now {
                            // An empty file wanted again, say.
                            if let Err(e) = shared.create_wanted_empty_files().await {
                                shared.set_status(Status::Failed(e.to_string()));
                            }
                        }
                    }
                    DriverCmd::Stop(ack) => {
                        shared.lock().closed = true;
                        shared.disconnect_all();
                        resume::save_now(&shared).await;
                        if let Some(a) = &announcer {
                            let (tx, rx) = oneshot::channel();
                            let _ = a.send(AnnounceCmd::Stop(tx));
                            let _ = tokio::time::timeout(shared.config.tracker_timeout, rx).await;
                        }
                        if let Some(reg) = shared.registry.upgrade() {
                            shared.leave_registry(&mut reg.lock().unwrap_or_else(|e| e.into_inner()));
                        }
                        shared.set_status(Status::Stopped);
                        let _ = ack.send(());
                        return;
                    }
                }
            }
            _ = save_tick.tick() => resume::save_if_changed(&shared).await,
            _ = tick.tick() => {
                ticks += 1;
                // Rates: exponential average over about 5 s.
                let now = Instant::now();
                let down = shared.counters.downloaded.load(Ordering::Relaxed);
                let up = shared.counters.uploaded.load(Ordering::Relaxed);
                let dt = now.duration_since(last.2).as_secs_f64().max(1e-3);
                {
                    let mut r = shared.rates.lock().unwrap_or_else(|e| e.into_inner());
                    r.0 = 0.8 * r.0 + 0.2 * ((down - last.0) as f64 / dt);
                    r.1 = 0.8 * r.1 + 0.2 * ((up - last.1) as f64 / dt);
                }
                for p in shared.lock().peers.values_mut() {
                    p.live.update_rates(dt);
                }
                last = (down, up, now);
                if paused {
                    continue;
                }
                connect_more(&shared);
                if ticks % 10 == 0 {
                    rechoke(&shared, ticks % 30 == 0);
                }
            }
        }
    }
}

impl TorrentShared {
    /// A copy of the file priorities.
    fn file_priorities_now(&self) -> Vec<FilePriority> {
        self.file_priorities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates the empty files that are not skipped.
    async fn create_wanted_empty_files(self: &Arc<Self>) -> Result<(), crate::Error> {
        let prios = self.file_priorities_now();
        let storage = Arc::clone(&self.storage);
        tokio::task::spawn_blocking(move || {
            storage.create_empty_files(|i| prios.get(i) != Some(&FilePriority::Skip))
        })
        .await
        .map_err(|e| crate::Error::io("create empty files", std::io::Error::other(e)))?
    }
}

/// Tells what a check found: [`Event::Checked`] and a log line.
fn report_check(shared: &TorrentShared, checked: resume::Checked) {
    shared.emit(Event::Checked {
        pieces: checked.good,
    });
    tracing::info!(
        name = shared.info.name(),
        pieces = checked.good,
        trusted = checked.trusted,
        hashed = checked.hashed,
        read = shared.storage.disk_stats().read,
        "checked existing data"
    );
}

/// Starts connections to known peers until the torrent's limit.
fn connect_more(shared: &Arc<TorrentShared>) {
    let mut st = shared.lock();
    if st.closed {
        return;
    }
    let now = Instant::now();
    let max = shared.max_peers();
    let mut todo = Vec::new();
    let busy = st.peers.len() + st.connecting;
    if busy >= max {
        return;
    }
    let State { known, banned, .. } = &mut *st;
    for (addr, k) in known.iter_mut() {
        if todo.len() + busy >= max {
            break;
        }
        if k.connected || k.next_attempt > now || banned.contains(addr) {
            continue;
        }
        k.connected = true;
        // Until it fails, no second attempt.
        k.next_attempt = now + Duration::from_secs(3600);
        todo.push(*addr);
    }
    st.connecting += todo.len();
    drop(st);
    for addr in todo {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            peer::connect(shared, addr).await;
        });
    }
}

/// The choker round: unchoke the best interested peers, rotate the
/// optimistic unchoke when `rotate`.
fn rechoke(shared: &Arc<TorrentShared>, rotate: bool) {
    let mut st = shared.lock();
    let seeding = st.picker.is_finished();
    let cands: Vec<Candidate> = st
        .peers
        .iter()
        .map(|(k, p)| Candidate {
            key: *k,
            interested: p.interested,
            rate: if seeding { p.up } else { p.down },
        })
        .collect();
    let slots = shared.config.unchoke_slots;
    let regular = choker::unchoked(&cands, slots, None);
    if rotate || st.optimistic.is_none() {
        let State { rng, .. } = &mut *st;
        let o = choker::next_optimistic(&cands, &regular, rng);
        st.optimistic = o;
    }
    let set = choker::unchoked(&cands, slots, st.optimistic);
    for (k, p) in st.peers.iter_mut() {
        p.down = 0;
        p.up = 0;
        let choke = !set.contains(k);
        if choke != p.am_choking {
            p.am_choking = choke;
            let _ = p.tx.send(if choke {
                PeerCmd::Choke
            } else {
                PeerCmd::Unchoke
            });
        }
    }
}
