//! Hashing files from disk: each worker reads its own batches with
//! positional reads (`pread`), so no thread waits on a single reader.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::content::{io_error, join};
use super::hashing::{batch_size, finish_hashes, hash_job, store_batch, Hashes};
use super::plan::Plan;
use crate::create::{Content, TorrentVersion};
use crate::error::Error;

struct Done {
    first: usize,
    v1: Vec<[u8; 20]>,
    v2: Vec<super::merkle::Hash256>,
    bytes: u64,
}

/// Reads `buf.len()` bytes of the content stream (files in plan order,
/// no pads) starting at `offset`.
fn read_range(
    content: &Content,
    plan: &Plan,
    disk: &[PathBuf],
    file_starts: &[u64],
    mut offset: u64,
    mut buf: &mut [u8],
) -> Result<(), Error> {
    // The last file (in plan order) starting at or before `offset`
    // with data at `offset`.
    let mut k = file_starts.partition_point(|&s| s <= offset) - 1;
    while !buf.is_empty() {
        let i = plan.read_order[k];
        let f = &content.files[i];
        let in_file = offset - file_starts[k];
        if in_file >= f.length {
            k += 1;
            continue;
        }
        let path = &disk[i];
        let file = File::open(path).map_err(|e| io_error(path, &e))?;
        let len = file.metadata().map_err(|e| io_error(path, &e))?.len();
        if len != f.length {
            return Err(Error::InvalidCreateInput {
                reason: format!(
                    "{} is {len} bytes, not {} (changed while hashing?)",
                    join(&f.path),
                    f.length
                ),
            });
        }
        let n = (f.length - in_file).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], in_file)
            .map_err(|e| io_error(path, &e))?;
        buf = &mut buf[n..];
        offset += n as u64;
        k += 1;
    }
    Ok(())
}

pub(super) fn hash_files(
    plan: &Plan,
    content: &Content,
    disk: &[PathBuf],
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<Hashes, Error> {
    let total = content.total_length();
    let n = plan.pieces.len();
    // Where each file starts in the stream, in plan order.
    let mut file_starts = Vec::with_capacity(plan.read_order.len());
    let mut at = 0;
    for &i in &plan.read_order {
        file_starts.push(at);
        at += content.files[i].length;
    }
    // Jobs: (first piece, piece count, stream offset, bytes).
    let batch = batch_size(plan.piece_length);
    let mut jobs = Vec::with_capacity(n.div_ceil(batch));
    let mut offset = 0u64;
    let mut first = 0;
    while first < n {
        let count = batch.min(n - first);
        let len: u64 = plan.pieces[first..first + count]
            .iter()
            .map(|p| u64::from(p.len))
            .sum();
        jobs.push((first, count, offset, len as usize));
        offset += len;
        first += count;
    }

    let mut v1 = vec![
        [0u8; 20];
        if plan.version == TorrentVersion::V2 {
            0
        } else {
            n
        }
    ];
    let mut v2 = vec![
        [0u8; 32];
        if plan.version == TorrentVersion::V1 {
            0
        } else {
            n
        }
    ];
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<Done, Error>>();
    let mut error = None;
    progress(0, total);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (jobs, next, stop, file_starts) = (&jobs, &next, &stop, &file_starts);
            scope.spawn(move || {
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(first, count, offset, len)) = jobs.get(j) else {
                        return;
                    };
                    buf.resize(len, 0);
                    let read = read_range(content, plan, disk, file_starts, offset, &mut buf);
                    let msg = read.map(|()| {
                        let (v1, v2) = hash_job(plan, first, count, &buf);
                        Done {
                            first,
                            v1,
                            v2,
                            bytes: len as u64,
                        }
                    });
                    let failed = msg.is_err();
                    if tx.send(msg).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut hashed = 0;
        for msg in rx {
            match msg {
                Ok(d) => {
                    store_batch(&mut v1, &mut v2, d.first, &d.v1, &d.v2);
                    hashed += d.bytes;
                    progress(hashed, total);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    error.get_or_insert(e);
                }
            }
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(finish_hashes(plan, content, v1, &v2)),
    }
}
