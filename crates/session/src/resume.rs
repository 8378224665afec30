//! Fast resume: what a torrent knew about its data when it last saved, so a
//! restart trusts unchanged files instead of hashing them again
//! (libtorrent's resume data, rqbit's per-torrent files).
//!
//! [`ResumeData`] holds the verified pieces (a bitfield) and, per file, the
//! size and modification time it had on disk when they were recorded. On
//! start, a piece is trusted without reading it when the resume data claims
//! it and every file it touches still has the recorded size and time;
//! pieces touching a changed file are hashed again, and pieces claimed by
//! nothing in unchanged files are missing.
//!
//! Saving never claims a piece whose bytes are not on disk: pieces are
//! written before the picker counts them, the bitfield is copied before the
//! files are looked at (a piece written after the copy changes its file's
//! time, so that file is checked next time), and the file is replaced
//! atomically (a temporary file, `fsync`, `rename`). A process killed at
//! any moment leaves the previous resume data or the new one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use seedbed_bencode::{decode_with, DecodeOptions, Encode, Entry, OwnedValue};
use seedbed_metainfo::{Info, InfoHash, PieceIndex};
use seedbed_peer_wire::Bitfield;
use tokio::sync::mpsc;

use crate::config::{AddTorrentOptions, SessionConfig};
use crate::error::Error;
use crate::handle::TorrentHandle;
use crate::merkle_verify::Verdict;
use crate::torrent::{DriverCmd, TorrentShared};

/// `file-format` of resume data written by this crate.
pub const RESUME_FORMAT: &str = "seedbed resume data";
/// `file-version` written by this crate; decoding rejects others.
pub const RESUME_VERSION: i64 = 1;
/// Longest save path recorded, bytes.
const MAX_SAVE_PATH: usize = 4096;

/// A file's size and modification time on disk, as resume data records
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since 1970-01-01 UTC (negative
    /// before).
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of a regular file's metadata; `None` for anything else, or
    /// a time that does not fit in 64-bit nanoseconds.
    pub fn of(meta: &std::fs::Metadata) -> Option<FileStamp> {
        if !meta.is_file() {
            return None;
        }
        let t = meta.modified().ok()?;
        let ns = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_nanos()).ok()?,
        };
        Some(FileStamp {
            size: meta.len(),
            mtime_ns: ns,
        })
    }

    /// The stamp of the file at `path`; `None` if there is no regular file.
    pub fn of_path(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path)
            .ok()
            .as_ref()
            .and_then(FileStamp::of)
    }

    /// The modification time as a [`SystemTime`].
    pub fn mtime(&self) -> SystemTime {
        let d = Duration::from_nanos(self.mtime_ns.unsigned_abs());
        if self.mtime_ns >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        }
    }
}

/// One torrent's resume data.
///
/// Encoded as a bencoded dictionary (keys sorted):
///
/// | key | value |
/// |---|---|
/// | `file-format` | `seedbed resume data` |
/// | `file-version` | 1 |
/// | `info-hash` | the 20-byte info hash |
/// | `pieces` | the verified pieces, `ceil(n / 8)` bytes as in a `bitfield` message (BEP 3) |
/// | `files` | one entry per file of [`Info::files`] (pad files included): `[size, mtime]` (bytes, nanoseconds since 1970) as the file was on disk, or `[]` when it did not exist |
/// | `part-file` | the part file's `[size, mtime]`, or `[]` |
/// | `save-path` | the download folder, absolute, as bytes (at most 4096) |
///
/// Unknown keys are ignored when decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    /// The torrent's info hash (v1, or truncated v2).
    pub info_hash: InfoHash,
    /// The download folder the data was recorded for (absolute; bytes of
    /// the OS path on Unix, UTF-8 elsewhere).
    pub save_path: Vec<u8>,
    /// Verified pieces.
    pub pieces: Bitfield,
    /// Per file of [`Info::files`]: its stamp, `None` if it did not exist.
    pub files: Vec<Option<FileStamp>>,
    /// The part file's stamp (bytes of skipped files that share a piece
    /// with wanted ones), `None` if there was none.
    pub part_file: Option<FileStamp>,
}

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::Resume(seedbed_bencode::Error::InvalidValue {
        path: path.to_string(),
        reason: reason.into(),
    })
}

fn stamp_value(s: &Option<FileStamp>) -> OwnedValue {
    OwnedValue::List(match s {
        Some(s) => vec![
            OwnedValue::Int(i64::try_from(s.size).unwrap_or(i64::MAX)),
            OwnedValue::Int(s.mtime_ns),
        ],
        None => Vec::new(),
    })
}

fn decode_stamp(e: &Entry<'_, '_, '_>) -> Result<Option<FileStamp>, Error> {
    let items: Vec<Entry<'_, '_, '_>> = e.items().map_err(Error::Resume)?.take(3).collect();
    match items.as_slice() {
        [] => Ok(None),
        [size, mtime] => Ok(Some(FileStamp {
            size: size.uint().map_err(Error::Resume)?,
            mtime_ns: mtime.int().map_err(Error::Resume)?,
        })),
        _ => Err(Error::Resume(e.invalid("expected [] or [size, mtime]"))),
    }
}

impl ResumeData {
    /// The longest encoding accepted for a torrent of `num_pieces` pieces
    /// and `num_files` files (pad files included), bytes: a fixed 8 KiB,
    /// plus the bitfield, plus 64 bytes per file.
    pub fn max_len(num_pieces: u32, num_files: usize) -> usize {
        8192 + num_pieces.div_ceil(8) as usize + 64usize.saturating_mul(num_files)
    }

    /// The canonical bencoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = OwnedValue::dict();
        d.insert("file-format", RESUME_FORMAT);
        d.insert("file-version", RESUME_VERSION);
        d.insert(
            "info-hash",
            bytes::Bytes::copy_from_slice(self.info_hash.as_bytes()),
        );
        d.insert(
            "pieces",
            bytes::Bytes::copy_from_slice(self.pieces.as_bytes()),
        );
        d.insert(
            "files",
            OwnedValue::List(self.files.iter().map(stamp_value).collect()),
        );
        d.insert("part-file", stamp_value(&self.part_file));
        d.insert("save-path", bytes::Bytes::copy_from_slice(&self.save_path));
        d.to_bencode()
    }

    /// Decodes resume data for a torrent of `num_pieces` pieces and
    /// `num_files` files ([`Info::files`], pad files included). The input is
    /// hostile: its length is checked against [`ResumeData::max_len`]
    /// before decoding, nesting is limited to 3 and the item count to what
    /// the torrent needs; the bitfield must be exactly `ceil(num_pieces /
    /// 8)` bytes with no spare bit set, the file list exactly
    /// `num_files` long, and the save path at most 4096 bytes. Nothing is allocated by a length read from the
    /// input.
    ///
    /// # Errors
    /// [`Error::Resume`] with the byte offset or key path of the problem.
    pub fn decode(input: &[u8], num_pieces: u32, num_files: usize) -> Result<ResumeData, Error> {
        let max = ResumeData::max_len(num_pieces, num_files);
        if input.len() > max {
            return Err(invalid(
                "",
                format!(
                    "{} bytes, more than the {max} this torrent needs",
                    input.len()
                ),
            ));
        }
        let opts = DecodeOptions::new()
            .max_depth(3)
            .max_items(64usize.saturating_add(num_files.saturating_mul(4)));
        let doc = decode_with(input, &opts).map_err(Error::Resume)?;
        let root = Entry::root(doc.root());
        let format = root.key("file-format").map_err(Error::Resume)?;
        if format.bytes().map_err(Error::Resume)? != RESUME_FORMAT.as_bytes() {
            return Err(Error::Resume(format.invalid("not seedbed resume data")));
        }
        let version = root.key("file-version").map_err(Error::Resume)?;
        if version.int().map_err(Error::Resume)? != RESUME_VERSION {
            return Err(Error::Resume(version.invalid(format_args!(
                "version {} (this crate reads {RESUME_VERSION})",
                version.int().unwrap_or(0)
            ))));
        }
        let hash = root.key("info-hash").map_err(Error::Resume)?;
        let info_hash = InfoHash::from_slice(hash.bytes().map_err(Error::Resume)?)
            .map_err(|_| Error::Resume(hash.invalid("not 20 bytes")))?;
        let pieces_entry = root.key("pieces").map_err(Error::Resume)?;
        let pieces =
            Bitfield::from_payload(pieces_entry.bytes().map_err(Error::Resume)?, num_pieces)
                .map_err(|e| Error::Resume(pieces_entry.invalid(e)))?;
        let files_entry = root.key("files").map_err(Error::Resume)?;
        let list = files_entry.list().map_err(Error::Resume)?;
        if list.len() != num_files {
            return Err(Error::Resume(files_entry.invalid(format_args!(
                "{} files, the torrent has {num_files}",
                list.len()
            ))));
        }
        let mut files = Vec::with_capacity(num_files);
        for f in files_entry.items().map_err(Error::Resume)? {
            files.push(decode_stamp(&f)?);
        }
        let part = root.key("part-file").map_err(Error::Resume)?;
        let part_file = decode_stamp(&part)?;
        let save = root.key("save-path").map_err(Error::Resume)?;
        let save_path = save.bytes().map_err(Error::Resume)?;
        if save_path.len() > MAX_SAVE_PATH {
            return Err(Error::Resume(save.invalid("longer than 4096 bytes")));
        }
        Ok(ResumeData {
            info_hash,
            save_path: save_path.to_vec(),
            pieces,
            files,
            part_file,
        })
    }
}

/// What is on disk now, for comparing with resume data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskState {
    /// Per file of [`Info::files`]: its stamp now (`None`: absent, a pad
    /// file, or a symlink).
    pub(crate) files: Vec<Option<FileStamp>>,
    pub(crate) part_file: Option<FileStamp>,
    /// Per file: its bytes are kept in the part file (a skipped file that
    /// does not exist).
    pub(crate) in_part: Vec<bool>,
}

/// What a start makes of resume data and the disk.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Pieces to count as verified without reading them.
    pub(crate) trusted: Bitfield,
    /// Pieces touching a file that changed since the data was saved (or
    /// every piece, without usable resume data): hash them.
    pub(crate) suspect: Bitfield,
}

impl Plan {
    /// Without resume data: nothing trusted, everything checked.
    pub(crate) fn check_all(num_pieces: u32) -> Plan {
        Plan {
            trusted: Bitfield::new(num_pieces),
            suspect: Bitfield::full(num_pieces),
        }
    }

    /// Compares `resume` (already matched to the torrent and folder) with
    /// `disk`. A file is unchanged when it has its recorded size and time
    /// and that size is its length in the torrent; a file kept in the part
    /// file, when it still does not exist, did not then, and the part file
    /// is unchanged. Claimed pieces whose files are all unchanged are
    /// trusted; pieces touching a changed file are suspect.
    pub(crate) fn new(info: &Info, resume: &ResumeData, disk: &DiskState) -> Plan {
        let g = info.geometry();
        let n = g.num_pieces();
        let mut suspect = Bitfield::new(n);
        for (i, entry) in info.files().iter().enumerate() {
            if entry.is_pad() || entry.length() == 0 || entry.symlink_target().is_some() {
                continue;
            }
            let now = disk.files.get(i).copied().flatten();
            let then = resume.files.get(i).copied().flatten();
            let unchanged = if disk.in_part.get(i).copied().unwrap_or(false) {
                now.is_none()
                    && then.is_none()
                    && disk.part_file.is_some()
                    && disk.part_file == resume.part_file
            } else {
                now.is_some_and(|s| s.size == entry.length()) && now == then
            };
            if !unchanged {
                for p in g.pieces_in(entry.offset(), entry.length()) {
                    suspect.set(p.get(), true);
                }
            }
        }
        let mut trusted = Bitfield::new(n);
        for p in resume.pieces.iter_set() {
            if !suspect.get(p) {
                trusted.set(p, true);
            }
        }
        Plan { trusted, suspect }
    }
}

/// Where a torrent's resume data lives:
/// [`AddTorrentOptions::resume_file`], else `<info hash in hex>.resume` in
/// [`SessionConfig::resume_dir`], else nowhere.
pub(crate) fn resume_path(
    config: &SessionConfig,
    opts: &AddTorrentOptions,
    info_hash: &InfoHash,
) -> Option<PathBuf> {
    opts.resume_file.clone().or_else(|| {
        config
            .resume_dir
            .as_ref()
            .map(|d| d.join(format!("{}.resume", info_hash.to_hex())))
    })
}

/// The download folder as resume data records it.
fn save_path_bytes(dir: &Path) -> Vec<u8> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        abs.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        abs.to_string_lossy().into_owned().into_bytes()
    }
}

/// A torrent's resume bookkeeping.
#[derive(Debug)]
pub(crate) struct ResumeState {
    /// Where the data is kept; `None`: no resume data.
    pub(crate) path: Option<PathBuf>,
    /// One save at a time.
    lock: Mutex<()>,
    /// Verified pieces in the last save (saves are skipped while it does
    /// not change).
    saved_pieces: AtomicU32,
}

impl ResumeState {
    pub(crate) fn new(path: Option<PathBuf>) -> ResumeState {
        ResumeState {
            path,
            lock: Mutex::new(()),
            saved_pieces: AtomicU32::new(0),
        }
    }
}

/// Reads at most `max + 1` bytes of `path`.
fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Replaces `path` with `bytes` atomically: a temporary file beside it,
/// `fsync`, `rename`, then `fsync` of the folder (Unix).
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        std::fs::create_dir_all(d)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    if let Some(d) = dir {
        if let Ok(d) = File::open(d) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The torrent's resume data from disk, if there is usable data for this
/// torrent and download folder. Unusable data is logged and ignored.
pub(crate) fn load(shared: &TorrentShared) -> Option<ResumeData> {
    let path = shared.resume.path.as_ref()?;
    let n = shared.info.geometry().num_pieces();
    let files = shared.info.files().len();
    let max = ResumeData::max_len(n, files);
    let bytes = match read_bounded(path, max) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), %e, "resume data unreadable");
            return None;
        }
    };
    let data = match ResumeData::decode(&bytes, n, files) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(path = %path.display(), %e, "resume data ignored");
            return None;
        }
    };
    if data.info_hash != shared.info_hash {
        tracing::warn!(path = %path.display(), "resume data of another torrent ignored");
        return None;
    }
    if data.save_path != save_path_bytes(&shared.opts.output_dir) {
        tracing::info!(path = %path.display(), "resume data of another download folder ignored");
        return None;
    }
    Some(data)
}

/// Saves the torrent's resume data now (blocking): the verified pieces,
/// then the files' stamps. With no verified piece there is nothing to
/// trust, and any old data is removed instead.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn save(shared: &TorrentShared) -> Result<(), Error> {
    let Some(path) = &shared.resume.path else {
        return Ok(());
    };
    let _one = shared.resume.lock.lock().unwrap_or_else(|e| e.into_inner());
    // Pieces first: each was written before it was counted. A piece
    // written after this copy changes its file's time below or later.
    let pieces = shared.lock().picker.have().clone();
    let count = pieces.count_ones();
    if count == 0 {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("remove {}", path.display()), e))
            }
            _ => {
                shared.resume.saved_pieces.store(0, Ordering::Relaxed);
                Ok(())
            }
        };
    }
    let disk = shared.storage.disk_state();
    let data = ResumeData {
        info_hash: shared.info_hash,
        save_path: save_path_bytes(&shared.opts.output_dir),
        pieces,
        files: disk.files,
        part_file: disk.part_file,
    };
    write_atomically(path, &data.encode())
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    shared.resume.saved_pieces.store(count, Ordering::Relaxed);
    Ok(())
}

/// Saves on a blocking thread; failures are logged (the data is checked
/// at the next start instead).
pub(crate) async fn save_now(shared: &Arc<TorrentShared>) {
    if shared.resume.path.is_none() {
        return;
    }
    let s = Arc::clone(shared);
    match tokio::task::spawn_blocking(move || save(&s)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(%e, "saving resume data"),
        Err(e) => tracing::warn!(%e, "saving resume data"),
    }
}

/// Saves if pieces were verified since the last save.
pub(crate) async fn save_if_changed(shared: &Arc<TorrentShared>) {
    let have = shared.lock().picker.have().count_ones();
    if have != shared.resume.saved_pieces.load(Ordering::Relaxed) {
        save_now(shared).await;
    }
}

/// Removes the torrent's resume data (before a recheck, so that a crash
/// during it trusts nothing old).
fn remove(shared: &TorrentShared) {
    if let Some(path) = &shared.resume.path {
        let _one = shared.resume.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), %e, "removing resume data");
            }
        }
        shared.resume.saved_pieces.store(0, Ordering::Relaxed);
    }
}

/// What a check found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Pieces verified in all: trusted plus hashed and good.
    pub(crate) good: u32,
    /// Pieces trusted from resume data without reading.
    pub(crate) trusted: u32,
    /// Pieces read and hashed.
    pub(crate) hashed: u32,
}

/// Hashes `pieces` with every hashing thread; marks those that pass.
/// Returns how many passed.
async fn hash_pieces(shared: &Arc<TorrentShared>, pieces: Vec<PieceIndex>) -> u32 {
    let g = *shared.info.geometry();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let queued = pieces.len();
    for piece in pieces {
        let shared = Arc::clone(shared);
        let tx = tx.clone();
        shared.hasher.clone().submit(move || {
            let mut buf = vec![0u8; g.piece_len(piece) as usize];
            // Every hash the torrent has, as downloads (SHA-1, the BEP 52
            // merkle hash, both on hybrids); a v2 piece whose hash is not
            // known yet fails and is downloaded.
            let ok = shared.storage.read(piece, 0, &mut buf).is_ok() && {
                let blocks = [bytes::Bytes::from(buf)];
                shared.verifier.verify(&shared.info, piece, &blocks) == Verdict::Pass
            };
            let _ = tx.send((piece, ok));
        });
    }
    drop(tx);
    let mut good = 0;
    for _ in 0..queued {
        let Some((piece, ok)) = rx.recv().await else {
            break;
        };
        if ok {
            shared.lock().picker.mark_have(piece);
            good += 1;
        }
    }
    good
}

/// The start of a torrent: loads its resume data, trusts the pieces it
/// can, and hashes the pieces touching changed files (all pieces without
/// resume data), except pieces whose files do not exist. Saves new resume
/// data when anything was hashed.
pub(crate) async fn startup_check(shared: &Arc<TorrentShared>) -> Checked {
    let s = Arc::clone(shared);
    let loaded = tokio::task::spawn_blocking(move || {
        let resume = load(&s);
        let disk = s.storage.disk_state();
        resume.map(|r| Plan::new(&s.info, &r, &disk))
    })
    .await
    .ok()
    .flatten();
    let n = shared.info.geometry().num_pieces();
    let had_resume = loaded.is_some();
    let plan = loaded.unwrap_or_else(|| Plan::check_all(n));
    let g = *shared.info.geometry();
    let mut trusted = 0;
    {
        let mut st = shared.lock();
        for p in plan.trusted.iter_set().filter_map(|i| g.piece(i)) {
            st.picker.mark_have(p);
            trusted += 1;
        }
    }
    let todo: Vec<PieceIndex> = plan
        .suspect
        .iter_set()
        .filter_map(|i| g.piece(i))
        .filter(|p| !plan.trusted.get(p.get()) && !shared.storage.piece_is_fresh(*p))
        .collect();
    let hashed = todo.len() as u32;
    let good = trusted + hash_pieces(shared, todo).await;
    if hashed > 0 || !had_resume {
        save_now(shared).await;
    } else {
        shared.resume.saved_pieces.store(good, Ordering::Relaxed);
    }
    Checked {
        good,
        trusted,
        hashed,
    }
}

/// [`TorrentHandle::force_recheck`]: forgets every verified piece and
/// the resume data, opens the files again by path, then hashes every
/// piece whose files exist. The caller (the driver) has disconnected the
/// peers.
pub(crate) async fn recheck(shared: &Arc<TorrentShared>) -> Checked {
    // Pieces being hashed and written finish first.
    while shared.unverified.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = Arc::clone(shared);
    let _ = tokio::task::spawn_blocking(move || {
        remove(&s);
        // What is on disk now, by path: files deleted since are missing,
        // files put in place since are checked too.
        if let Err(e) = s.storage.reopen_files() {
            tracing::warn!(%e, "recheck: a file cannot be opened");
        }
    })
    .await;
    {
        let mut st = shared.lock();
        st.picker.forget_pieces();
        st.buffers.clear();
    }
    let g = *shared.info.geometry();
    let todo: Vec<PieceIndex> = g
        .pieces()
        .filter(|p| !shared.storage.piece_is_fresh(*p))
        .collect();
    let hashed = todo.len() as u32;
    let good = hash_pieces(shared, todo).await;
    save_now(shared).await;
    Checked {
        good,
        trusted: 0,
        hashed,
    }
}

impl TorrentHandle {
    /// Checks the data on disk again as if nothing were known: forgets
    /// every verified piece and the resume data, disconnects the peers,
    /// opens every file again by its path (so a file deleted or replaced
    /// while the torrent had it open is seen as it is now: a deleted
    /// file's pieces are missing and downloaded again), hashes every piece
    /// whose files exist (also files put in place since the torrent
    /// started; status
    /// [`Checking`](crate::Status::Checking), then
    /// [`Event::Checked`](crate::Event::Checked)), saves new resume data,
    /// and carries on downloading what is missing (or stays paused).
    /// Does nothing while a magnet link's metadata is being fetched.
    pub fn force_recheck(&self) {
        if let Some(s) = self.slot.shared.get() {
            let _ = s.cmd_tx.send(DriverCmd::Recheck);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(num_pieces: u32, num_files: usize) -> ResumeData {
        let mut pieces = Bitfield::new(num_pieces);
        for i in (0..num_pieces).step_by(3) {
            pieces.set(i, true);
        }
        ResumeData {
            info_hash: InfoHash([7; 20]),
            save_path: b"/downloads/x".to_vec(),
            pieces,
            files: (0..num_files)
                .map(|i| {
                    (i % 2 == 0).then_some(FileStamp {
                        size: i as u64 * 1000,
                        mtime_ns: 1_700_000_000_123_456_789 + i as i64,
                    })
                })
                .collect(),
            part_file: None,
        }
    }

    #[test]
    fn round_trip_and_canonical() {
        let d = sample(21, 4);
        let bytes = d.encode();
        assert_eq!(ResumeData::decode(&bytes, 21, 4).unwrap(), d);
        let doc = seedbed_bencode::decode_with(&bytes, &DecodeOptions::new().canonical(true));
        assert!(doc.is_ok(), "canonical bencode");
        assert!(bytes.starts_with(b"d11:file-format19:seedbed resume data"));
    }

    #[test]
    fn hostile_resume_data_is_rejected_without_panicking() {
        let good = sample(21, 4);
        let enc = |f: &dyn Fn(&mut OwnedValue)| {
            let mut v = seedbed_bencode::decode(&good.encode())
                .unwrap()
                .root()
                .to_owned_value();
            f(&mut v);
            v.to_bencode()
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("not bencode", b"d4:spam".to_vec()),
            ("a list", b"le".to_vec()),
            (
                "other format",
                enc(&|v| {
                    v.insert("file-format", "libtorrent resume file");
                }),
            ),
            (
                "version 2",
                enc(&|v| {
                    v.insert("file-version", 2);
                }),
            ),
            (
                "short hash",
                enc(&|v| {
                    v.insert("info-hash", "abc");
                }),
            ),
            // A bitfield for 1,000,000 pieces: its length is compared
            // with the torrent's, never used to allocate.
            (
                "huge bitfield",
                enc(&|v| {
                    v.insert("pieces", bytes::Bytes::from(vec![0xffu8; 125_000]));
                }),
            ),
            (
                "short bitfield",
                enc(&|v| {
                    v.insert("pieces", bytes::Bytes::from(vec![0xffu8; 2]));
                }),
            ),
            // Piece 23 of 21: a spare bit.
            (
                "piece out of range",
                enc(&|v| {
                    v.insert("pieces", bytes::Bytes::from(vec![0, 0, 0x01]));
                }),
            ),
            (
                "one file too many",
                enc(&|v| {
                    v.insert("files", OwnedValue::List(vec![OwnedValue::List(vec![]); 5]));
                }),
            ),
            (
                "negative size",
                enc(&|v| {
                    let bad = OwnedValue::List(vec![OwnedValue::Int(-1), OwnedValue::Int(5)]);
                    v.insert("files", OwnedValue::List(vec![bad; 4]));
                }),
            ),
            (
                "stamp of three",
                enc(&|v| {
                    let bad = OwnedValue::List(vec![OwnedValue::Int(1); 3]);
                    v.insert("part-file", bad);
                }),
            ),
            (
                "save path a number",
                enc(&|v| {
                    v.insert("save-path", 5);
                }),
            ),
            ("deep nesting", b"d5:filesllllleeeeee".to_vec()),
        ];
        for (what, bytes) in cases {
            let r = ResumeData::decode(&bytes, 21, 4);
            assert!(matches!(r, Err(Error::Resume(_))), "{what}: {r:?}");
        }
        // Past the length limit: refused before decoding.
        let max = ResumeData::max_len(21, 4);
        let mut long = good.encode();
        long.resize(max + 1, b' ');
        assert!(ResumeData::decode(&long, 21, 4).is_err());
        // At the length limit (an unknown key as padding) it decodes.
        let padded = |len: usize| {
            enc(&|v| {
                v.insert("zz-pad", bytes::Bytes::from(vec![b'z'; len]));
            })
        };
        let at = (0..max)
            .map(padded)
            .find(|b| b.len() == max)
            .expect("a padding that makes the encoding max_len bytes");
        assert_eq!(ResumeData::decode(&at, 21, 4).unwrap(), good);
        // The download folder: 4096 bytes decode, 4097 do not.
        for (len, ok) in [(MAX_SAVE_PATH, true), (MAX_SAVE_PATH + 1, false)] {
            let mut d = good.clone();
            d.save_path = vec![b'p'; len];
            let r = ResumeData::decode(&d.encode(), 21, 4);
            assert_eq!(r.is_ok(), ok, "save path of {len} bytes: {r:?}");
        }
        // Unknown keys are fine.
        let extra = enc(&|v| {
            v.insert("zz-future", 1);
        });
        assert_eq!(ResumeData::decode(&extra, 21, 4).unwrap(), good);
    }

    /// Files a (40,000 bytes), b (30,000), c (20,000) in pieces of 16 KiB:
    /// pieces 0-2 hold a, 2-4 b, 4-5 c.
    fn three_files() -> (tempfile::TempDir, Info) {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("t");
        std::fs::create_dir_all(&base).unwrap();
        for (name, len) in [("a.bin", 40_000), ("b.bin", 30_000), ("c.bin", 20_000)] {
            std::fs::write(base.join(name), vec![name.as_bytes()[0]; len]).unwrap();
        }
        let created = seedbed_metainfo::TorrentBuilder::new(seedbed_metainfo::TorrentVersion::V1)
            .piece_length(16_384)
            .build_from_path(&base, |_, _| {})
            .unwrap();
        let t = seedbed_metainfo::Torrent::from_bytes(created.into_bytes()).unwrap();
        (dir, t.info().clone())
    }

    fn bits(n: u32, set: &[u32]) -> Bitfield {
        let mut b = Bitfield::new(n);
        for &i in set {
            b.set(i, true);
        }
        b
    }

    #[test]
    fn plan_trusts_claimed_pieces_of_unchanged_files_only() {
        let (_dir, info) = three_files();
        assert_eq!(info.geometry().num_pieces(), 6);
        let stamp = |i: usize, t: i64| {
            Some(FileStamp {
                size: info.files()[i].length(),
                mtime_ns: t,
            })
        };
        let resume = ResumeData {
            info_hash: info.info_hash(),
            save_path: Vec::new(),
            pieces: bits(6, &[0, 1, 2, 4, 5]),
            files: vec![stamp(0, 10), stamp(1, 11), stamp(2, 12)],
            part_file: None,
        };
        let mut disk = DiskState {
            files: resume.files.clone(),
            part_file: None,
            in_part: vec![false; 3],
        };
        // Unchanged: the claimed pieces, nothing suspect (piece 3 is
        // missing without a check).
        let plan = Plan::new(&info, &resume, &disk);
        assert_eq!(plan.trusted, bits(6, &[0, 1, 2, 4, 5]));
        assert_eq!(plan.suspect, bits(6, &[]));
        // b was written since: its pieces are checked, a's and c's others
        // trusted.
        disk.files[1] = stamp(1, 99);
        let plan = Plan::new(&info, &resume, &disk);
        assert_eq!(plan.trusted, bits(6, &[0, 1, 5]));
        assert_eq!(plan.suspect, bits(6, &[2, 3, 4]));
        // a has the recorded time but another size; a resume file that
        // lies about a's size is not believed either.
        disk.files[1] = stamp(1, 11);
        disk.files[0] = Some(FileStamp {
            size: 1,
            mtime_ns: 10,
        });
        let plan = Plan::new(&info, &resume, &disk);
        assert_eq!(plan.trusted, bits(6, &[4, 5]));
        let mut liar = resume.clone();
        liar.files[0] = disk.files[0];
        assert_eq!(Plan::new(&info, &liar, &disk).trusted, bits(6, &[4, 5]));
        // c is gone.
        disk.files[0] = stamp(0, 10);
        disk.files[2] = None;
        let plan = Plan::new(&info, &resume, &disk);
        assert_eq!(plan.trusted, bits(6, &[0, 1, 2]));
        assert_eq!(plan.suspect, bits(6, &[4, 5]));
        // b kept in the part file: trusted while the part file and b's
        // absence are as recorded.
        let part = Some(FileStamp {
            size: 5,
            mtime_ns: 7,
        });
        let mut resume = resume;
        resume.files[1] = None;
        resume.part_file = part;
        let disk = DiskState {
            files: vec![stamp(0, 10), None, stamp(2, 12)],
            part_file: part,
            in_part: vec![false, true, false],
        };
        assert_eq!(
            Plan::new(&info, &resume, &disk).trusted,
            bits(6, &[0, 1, 2, 4, 5])
        );
        let mut changed = disk.clone();
        changed.part_file = Some(FileStamp {
            size: 5,
            mtime_ns: 8,
        });
        assert_eq!(
            Plan::new(&info, &resume, &changed).trusted,
            bits(6, &[0, 1, 5])
        );
        // Without resume data every piece is checked.
        assert_eq!(Plan::check_all(6).suspect, Bitfield::full(6));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            n in 1u32..200,
            bits in proptest::collection::vec(any::<bool>(), 200),
            stamps in proptest::collection::vec(proptest::option::of((0u64..i64::MAX as u64, any::<i64>())), 0..20),
            part in proptest::option::of((0u64..1 << 40, any::<i64>())),
            path in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut pieces = Bitfield::new(n);
            for i in 0..n {
                pieces.set(i, bits[i as usize]);
            }
            let stamp = |(size, mtime_ns): (u64, i64)| FileStamp { size, mtime_ns };
            let d = ResumeData {
                info_hash: InfoHash([n as u8; 20]),
                save_path: path,
                pieces,
                files: stamps.iter().map(|s| s.map(stamp)).collect(),
                part_file: part.map(stamp),
            };
            let bytes = d.encode();
            prop_assert!(bytes.len() <= ResumeData::max_len(n, d.files.len()));
            prop_assert_eq!(ResumeData::decode(&bytes, n, d.files.len()).unwrap(), d.clone());
            // Another torrent's shape is refused.
            prop_assert!(ResumeData::decode(&bytes, n + 8, d.files.len()).is_err());
            prop_assert!(ResumeData::decode(&bytes, n, d.files.len() + 1).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                       n in 1u32..100, files in 0usize..10) {
            let _ = ResumeData::decode(&bytes, n, files);
        }
    }
}
