//! What a restart finds on disk: files appear only when data does, fast
//! resume trusts unchanged files without reading them, a changed file is
//! rechecked, `force_recheck` hashes everything again.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Fixture, Recorder};
use seedbed_metainfo::Torrent;
use seedbed_session::{
    AddTorrentOptions, Event, FileStamp, ResumeData, Session, SessionConfig, Status, TorrentHandle,
};
use sha1::{Digest, Sha1};

const LIMIT: Duration = Duration::from_secs(60);

/// Every path below `dir` (folders too).
fn everything_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// An address on loopback where nobody listens.
fn dead_peer() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_finds_no_peer_leaves_nothing_behind() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let resume_dir = f.src().join("resume");
        let session = Session::new(with_resume(&resume_dir)).await.unwrap();
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .peers([dead_peer()]),
            )
            .await
            .unwrap();
        let mut status = handle.status();
        for _ in 0..100 {
            status = handle.status();
            if status == Status::Downloading {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, Status::Downloading);
        // Connection attempts fail for a while; pause and resume too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        handle.pause();
        handle.resume();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(handle.stats().pieces_have, 0);
        session.shutdown().await;
        assert_eq!(everything_below(f.dst()), Vec::<String>::new());
        assert_eq!(handle.disk_stats().written, 0);
        // No piece, nothing to resume: no resume data either.
        assert!(!resume_dir.exists());
    })
    .await;
}

/// A session on loopback keeping resume data in `dir`.
fn with_resume(dir: &Path) -> SessionConfig {
    SessionConfig {
        resume_dir: Some(dir.to_path_buf()),
        ..common::config()
    }
}

/// Adds `torrent` (data in `dir`, no trackers) to a new session keeping
/// resume data in `resume`, and waits until its check is done.
async fn start(
    torrent: &Torrent,
    dir: &Path,
    resume: &Path,
    seed: bool,
) -> (Session, TorrentHandle, Recorder, u32) {
    let session = Session::new(with_resume(resume)).await.unwrap();
    let handle = session
        .add_torrent(
            torrent,
            AddTorrentOptions::new(dir).trackers(false).seed(seed),
        )
        .await
        .unwrap();
    let events = Recorder::new(&handle);
    assert!(
        events
            .wait_for(LIMIT, |e| matches!(e, Event::Checked { .. }))
            .await
    );
    let pieces = checked(&events)[0];
    (session, handle, events, pieces)
}

/// The `pieces` of every `Checked` event so far.
fn checked(events: &Recorder) -> Vec<u32> {
    events
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Checked { pieces } => Some(*pieces),
            _ => None,
        })
        .collect()
}

/// A single-file torrent of `len` zero bytes in pieces of `piece` bytes
/// (every piece has the same hash, so it is made without reading 1 GiB).
fn zeros_torrent(name: &str, len: u64, piece: u32) -> Torrent {
    let full: [u8; 20] = Sha1::digest(vec![0u8; piece as usize]).into();
    let n = len.div_ceil(u64::from(piece));
    let tail = len - (n - 1) * u64::from(piece);
    let last: [u8; 20] = Sha1::digest(vec![0u8; tail as usize]).into();
    let mut pieces = Vec::new();
    for i in 0..n {
        pieces.extend_from_slice(if i + 1 == n { &last } else { &full });
    }
    let mut info = format!(
        "d6:lengthi{len}e4:name{}:{name}12:piece lengthi{piece}e6:pieces{}:",
        name.len(),
        pieces.len()
    )
    .into_bytes();
    info.extend_from_slice(&pieces);
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    Torrent::from_bytes(t).unwrap()
}

/// A 1 GiB torrent that was complete restarts into seeding without reading
/// a byte of its data: first from resume data made with the public
/// [`ResumeData`] API (as a program that keeps its own would hand it in),
/// then from the data the session saved itself when it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_gib_restarts_into_seeding_without_reading() {
    common::within(LIMIT, async {
        const GIB: u64 = 1 << 30;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let resume = dir.path().join("resume");
        std::fs::create_dir_all(&data).unwrap();
        let torrent = zeros_torrent("zeros.bin", GIB, 4 << 20);
        let n = torrent.info().geometry().num_pieces();
        // A sparse file: 1 GiB of zeros, no disk blocks.
        let file = data.join("zeros.bin");
        std::fs::File::create(&file).unwrap().set_len(GIB).unwrap();
        let stamp = FileStamp::of_path(&file).unwrap();
        let ours = ResumeData {
            info_hash: torrent.info_hash(),
            save_path: std::path::absolute(&data)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes(),
            pieces: seedbed_peer_wire::Bitfield::full(n),
            files: vec![Some(stamp)],
            part_file: None,
        };
        std::fs::create_dir_all(&resume).unwrap();
        let path = resume.join(format!("{}.resume", torrent.info_hash().to_hex()));
        std::fs::write(&path, ours.encode()).unwrap();

        for round in ["resume data handed in", "resume data the session saved"] {
            let (session, handle, _events, pieces) = start(&torrent, &data, &resume, true).await;
            common::wait_complete(&handle, LIMIT).await;
            assert_eq!(pieces, n, "{round}");
            assert_eq!(handle.status(), Status::Seeding, "{round}");
            assert_eq!(handle.disk_stats().read, 0, "{round}: nothing read");
            assert_eq!(handle.stats().bytes_have, GIB);
            println!("{round}: {n} pieces of 1 GiB trusted, 0 bytes read");
            session.shutdown().await;
            let saved = ResumeData::decode(&std::fs::read(&path).unwrap(), n, 1).unwrap();
            assert!(saved.pieces.is_full() && saved.files == [Some(stamp)]);
        }
    })
    .await;
}

/// The files of `f`'s torrent that the pieces touching `top.bin` cover:
/// (their indices, their bytes).
fn pieces_of(torrent: &Torrent, file_name: &str) -> (Vec<u32>, u64) {
    let info = torrent.info();
    let f = info
        .files()
        .iter()
        .find(|f| f.path().file_name() == file_name)
        .unwrap();
    let g = info.geometry();
    let pieces: Vec<_> = g.pieces_in(f.offset(), f.length()).collect();
    let bytes = pieces.iter().map(|p| u64::from(g.piece_len(*p))).sum();
    (pieces.iter().map(|p| p.get()).collect(), bytes)
}

/// Flips one byte of `path` at `at`, then sets its time back to what it
/// was when `keep_time`.
fn flip_byte(path: &Path, at: u64, keep_time: bool) {
    use std::os::unix::fs::FileExt;
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0xff;
    f.write_all_at(&b, at).unwrap();
    if keep_time {
        f.set_modified(before).unwrap();
    } else {
        // Coarse file system clocks: make sure the time moves.
        f.set_modified(before + Duration::from_secs(1)).unwrap();
    }
}

/// A download, then restarts of the leecher and the seeder: neither reads
/// its data again; a file changed since is rechecked (only the pieces
/// touching it) and its bad piece fetched again; `force_recheck` hashes
/// everything and finds a change that kept the file's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_trust_unchanged_files_and_recheck_changed_ones() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let seed_resume = f.src().join("seed-resume");
        let leech_resume = f.src().join("leech-resume");
        let n = f.torrent.info().geometry().num_pieces();
        let total = f.torrent.info().geometry().total_length();

        // Seeder: a first check reads everything.
        let (seeder, handle, _, pieces) = start(&f.torrent, f.src(), &seed_resume, true).await;
        assert_eq!(pieces, n);
        assert_eq!(handle.disk_stats().read, total);
        let seed_addr = seeder.listen_addr().unwrap();
        // Leecher: downloads, nothing to check first.
        let (leecher, handle, _, pieces) = start(&f.torrent, f.dst(), &leech_resume, false).await;
        assert_eq!(pieces, 0);
        handle.add_peers([seed_addr]);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;

        // Restarts read nothing.
        let (seeder, handle, _, pieces) = start(&f.torrent, f.src(), &seed_resume, true).await;
        assert_eq!((pieces, handle.disk_stats().read), (n, 0), "seeder restart");
        assert_eq!(handle.status(), Status::Seeding);
        let seed_addr = seeder.listen_addr().unwrap();
        let (leecher, handle, _, pieces) = start(&f.torrent, f.dst(), &leech_resume, false).await;
        assert_eq!(
            (pieces, handle.disk_stats().read),
            (n, 0),
            "leecher restart"
        );
        assert_eq!(handle.status(), Status::Finished);
        leecher.shutdown().await;

        // top.bin changed: its pieces (only) are read, the bad one fetched.
        let top = f.dst().join("content/top.bin");
        flip_byte(&top, 1000, false);
        let (top_pieces, top_bytes) = pieces_of(&f.torrent, "top.bin");
        let (leecher, handle, _, pieces) = start(&f.torrent, f.dst(), &leech_resume, false).await;
        assert_eq!(pieces, n - 1);
        assert_eq!(
            handle.disk_stats().read,
            top_bytes,
            "pieces {top_pieces:?} read"
        );
        assert_eq!(handle.status(), Status::Downloading);
        handle.add_peers([seed_addr]);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        leecher.shutdown().await;

        // A change that kept the file's time fools fast resume (as in
        // libtorrent); force_recheck finds it.
        flip_byte(&top, 2000, true);
        let (leecher, handle, events, pieces) =
            start(&f.torrent, f.dst(), &leech_resume, false).await;
        assert_eq!((pieces, handle.disk_stats().read), (n, 0));
        handle.force_recheck();
        while checked(&events).len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(checked(&events)[1], n - 1);
        assert_eq!(handle.disk_stats().read, total);
        assert_eq!(handle.status(), Status::Downloading);
        handle.add_peers([seed_addr]);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        common::shut_down([leecher, seeder]).await;
    })
    .await;
}

/// A file deleted while the torrent has it open: `force_recheck` looks at
/// the disk by path (not through the open handle, which still reads the
/// unlinked file), so the deleted file's pieces are missing; once a seeder
/// is there they are downloaded again, the file is created again and
/// everything verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_recheck_finds_a_file_deleted_while_open() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let n = f.torrent.info().geometry().num_pieces();
        let (top_pieces, _) = pieces_of(&f.torrent, "top.bin");
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let session = Session::new(common::config()).await.unwrap();
        let handle = session
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .seed(false)
                    .peers([seeder.listen_addr().unwrap()]),
            )
            .await
            .unwrap();
        let events = Recorder::new(&handle);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        // No seeder while the recheck runs: what it found stays to be seen.
        seeder.shutdown().await;

        let top = f.dst().join("content/top.bin");
        std::fs::remove_file(&top).unwrap();
        handle.force_recheck();
        let expected = Event::Checked {
            pieces: n - top_pieces.len() as u32,
        };
        assert!(
            events
                .wait_for(Duration::from_secs(20), |e| *e == expected)
                .await,
            "checked: {:?}",
            checked(&events)
        );
        let deadline = std::time::Instant::now() + LIMIT;
        while handle.status() != Status::Downloading {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                handle.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let map = handle.piece_map();
        for p in 0..n {
            let missing = top_pieces.contains(&p);
            assert_eq!(
                map.states[p as usize] == seedbed_session::PieceState::Have,
                !missing,
                "piece {p}: {:?}",
                map.states[p as usize]
            );
        }
        let progress = handle.file_progress();
        let top_progress = progress
            .iter()
            .find(|p| p.path.ends_with("top.bin"))
            .unwrap();
        assert_eq!(top_progress.verified, 0);
        assert!(!top.exists(), "nothing written yet");

        // A seeder again: top.bin's pieces, and only they, come back.
        let (seeder, _) = common::our_seeder(&f.torrent, f.src()).await;
        let before = events.events().len();
        handle.add_peers([seeder.listen_addr().unwrap()]);
        common::wait_complete(&handle, LIMIT).await;
        f.assert_downloaded();
        let mut again: Vec<u32> = events.events()[before..]
            .iter()
            .filter_map(|e| match e {
                Event::PieceVerified { piece } => Some(*piece),
                _ => None,
            })
            .collect();
        again.sort_unstable();
        assert_eq!(again, top_pieces);
        assert_eq!(handle.stats().pieces_have, n);
        common::shut_down([session, seeder]).await;
    })
    .await;
}

/// Resume data that lies (claims every piece of files whose sizes and
/// times it got right, but whose data is not the torrent's) is what fast
/// resume cannot see through; resume data that lies about anything it can
/// be checked against is not believed: wrong sizes, another torrent,
/// another folder, garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_resume_data_is_not_believed_beyond_what_it_proves() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let info = f.torrent.info();
        let n = info.geometry().num_pieces();
        let resume = f.src().join("resume");
        let path: PathBuf = resume.join(format!("{}.resume", f.torrent.info_hash().to_hex()));
        std::fs::create_dir_all(&resume).unwrap();
        let stamps: Vec<Option<FileStamp>> = info
            .files()
            .iter()
            .map(|e| FileStamp::of_path(&e.path().to_path_buf_under(f.src())))
            .collect();
        let honest = ResumeData {
            info_hash: f.torrent.info_hash(),
            save_path: std::path::absolute(f.src())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes(),
            pieces: seedbed_peer_wire::Bitfield::full(n),
            files: stamps.clone(),
            part_file: None,
        };
        let lies: Vec<(&str, Vec<u8>)> = vec![
            ("wrong sizes", {
                let mut d = honest.clone();
                for s in d.files.iter_mut().flatten() {
                    s.size += 1;
                }
                d.encode()
            }),
            ("another torrent", {
                let mut d = honest.clone();
                d.info_hash = seedbed_metainfo::InfoHash([9; 20]);
                d.encode()
            }),
            ("another folder", {
                let mut d = honest.clone();
                d.save_path = b"/elsewhere".to_vec();
                d.encode()
            }),
            ("garbage", b"d6:piecesi1ee".to_vec()),
        ];
        for (what, bytes) in lies {
            std::fs::write(&path, bytes).unwrap();
            let (session, handle, _, pieces) = start(&f.torrent, f.src(), &resume, true).await;
            assert_eq!(pieces, n, "{what}");
            assert_eq!(
                handle.disk_stats().read,
                info.geometry().total_length(),
                "{what}: everything hashed"
            );
            session.shutdown().await;
        }
    })
    .await;
}

/// The pieces the resume data at `path` claims, or `None` while there is
/// no such file.
fn claimed(path: &Path, n: u32, files: usize) -> Option<Vec<u32>> {
    let bytes = std::fs::read(path).ok()?;
    let data = ResumeData::decode(&bytes, n, files).expect("resume data is whole");
    Some(data.pieces.iter_set().collect())
}

/// Polls `f` every 20 ms until it returns `Some`, up to `LIMIT`.
async fn until_some<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited too long: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resume data is saved while pieces arrive (every
/// `resume_save_interval`), on pause and on completion, each time
/// claiming exactly the verified pieces. The seeder lacks top.bin at
/// first, so a leecher gets every other piece and then waits, neither
/// paused, stopped nor finished: only the interval saves. With the default
/// interval (120 s) nothing is saved until the pause; once the seeder has
/// top.bin (found by `force_recheck`), the resumed leecher finishes, and
/// the data saved at completion claims every piece before it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_data_is_saved_while_downloading_on_pause_and_on_completion() {
    common::within(LIMIT, async {
        let f = Fixture::v1();
        let info = f.torrent.info();
        let n = info.geometry().num_pieces();
        let files = info.files().len();
        let (top_pieces, _) = pieces_of(&f.torrent, "top.bin");
        let expected: Vec<u32> = (0..n).filter(|p| !top_pieces.contains(p)).collect();
        assert!(!expected.is_empty() && !top_pieces.is_empty());

        // The seeder's folder: the content without top.bin.
        let partial = f.src().join("partial");
        for (rel, abs) in common::files_below(&f.src().join("content")) {
            if rel.file_name() == Some(std::ffi::OsStr::new("top.bin")) {
                continue;
            }
            let to = partial.join("content").join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&abs, &to).unwrap();
        }
        let seeder = Session::new(common::config()).await.unwrap();
        let seed = seeder
            .add_torrent(&f.torrent, AddTorrentOptions::new(&partial).trackers(false))
            .await
            .unwrap();
        let seed_events = Recorder::new(&seed);
        assert!(
            seed_events
                .wait_for(LIMIT, |e| matches!(e, Event::Checked { .. }))
                .await
        );
        assert_eq!(checked(&seed_events), [expected.len() as u32]);
        let seed_addr = seeder.listen_addr().unwrap();
        let name = format!("{}.resume", f.torrent.info_hash().to_hex());

        // Saves every 100 ms while pieces arrive.
        let resume = f.src().join("resume-interval");
        let config = SessionConfig {
            resume_save_interval: Duration::from_millis(100),
            ..with_resume(&resume)
        };
        let leech = Session::new(config).await.unwrap();
        let out = tempfile::tempdir().unwrap();
        let handle = leech
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(out.path())
                    .trackers(false)
                    .seed(false)
                    .peers([seed_addr]),
            )
            .await
            .unwrap();
        let path = resume.join(&name);
        let saved = until_some("an interval save of every piece the seeder has", || {
            claimed(&path, n, files).filter(|c| c.len() == expected.len())
        })
        .await;
        assert_eq!(saved, expected);
        assert_eq!(handle.status(), Status::Downloading);
        leech.shutdown().await;

        // The default interval: nothing saved until the pause.
        let resume = f.src().join("resume-pause");
        let leech = Session::new(with_resume(&resume)).await.unwrap();
        let handle = leech
            .add_torrent(
                &f.torrent,
                AddTorrentOptions::new(f.dst())
                    .trackers(false)
                    .seed(false)
                    .peers([seed_addr]),
            )
            .await
            .unwrap();
        let path = resume.join(&name);
        until_some("every piece the seeder has", || {
            (handle.stats().pieces_have == expected.len() as u32).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(claimed(&path, n, files), None, "no save before the pause");
        handle.pause();
        let saved = until_some("the save on pause", || claimed(&path, n, files)).await;
        assert_eq!(saved, expected);
        assert_eq!(handle.status(), Status::Paused);

        // The seeder finds top.bin; the leecher, resumed, finishes.
        std::fs::copy(
            f.src().join("content/top.bin"),
            partial.join("content/top.bin"),
        )
        .unwrap();
        seed.force_recheck();
        assert!(
            seed_events
                .wait_for(
                    LIMIT,
                    |e| matches!(e, Event::Checked { pieces } if *pieces == n)
                )
                .await
        );
        handle.resume();
        common::wait_complete(&handle, LIMIT).await;
        assert_eq!(
            claimed(&path, n, files),
            Some((0..n).collect()),
            "saved at completion"
        );
        f.assert_downloaded();
        common::shut_down([leech, seeder]).await;
    })
    .await;
}
