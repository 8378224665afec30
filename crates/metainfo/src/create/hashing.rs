//! Hashing: the calling thread reads, worker threads hash batches of
//! pieces (v1 SHA-1 and v2 merkle leaves at once).

use std::io::{self, Read};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use sha1::Sha1;
use sha2::Digest;

use super::builder::TorrentVersion;
use super::content::{io_error, join, Content};
use super::merkle::{self, Hash256};
use super::plan::Plan;
use crate::error::Error;

pub(super) struct Hashes {
    pub(super) v1: Vec<[u8; 20]>,
    /// Indexed like `Content::files`.
    pub(super) v2_files: Vec<merkle::FileHashes>,
}

pub(super) struct Job {
    pub(super) first: usize,
    pub(super) count: usize,
    pub(super) buf: Vec<u8>,
}

pub(super) struct Done {
    pub(super) first: usize,
    pub(super) v1: Vec<[u8; 20]>,
    pub(super) v2: Vec<Hash256>,
    pub(super) bytes: u64,
    pub(super) buf: Vec<u8>,
}

/// Pieces per job: about 1 MiB of data, so that small pieces do not cost a
/// channel message each.
pub(super) fn batch_size(piece_length: u32) -> usize {
    ((1 << 20) / piece_length as usize).max(1)
}

/// Puts the hashes of a batch whose first piece is `first` in place (one
/// of the two is empty when the torrent has only one version).
pub(super) fn store_batch(
    v1: &mut [[u8; 20]],
    v2: &mut [Hash256],
    first: usize,
    batch_v1: &[[u8; 20]],
    batch_v2: &[Hash256],
) {
    if !batch_v1.is_empty() {
        v1[first..first + batch_v1.len()].copy_from_slice(batch_v1);
    }
    if !batch_v2.is_empty() {
        v2[first..first + batch_v2.len()].copy_from_slice(batch_v2);
    }
}

pub(super) fn hash_job(
    plan: &Plan,
    first: usize,
    count: usize,
    buf: &[u8],
) -> (Vec<[u8; 20]>, Vec<Hash256>) {
    const ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];
    let want_v1 = plan.version != TorrentVersion::V2;
    let want_v2 = plan.version != TorrentVersion::V1;
    let bpp = plan.piece_length as usize / merkle::BLOCK_SIZE;
    let mut v1 = Vec::with_capacity(if want_v1 { count } else { 0 });
    let mut v2 = Vec::with_capacity(if want_v2 { count } else { 0 });
    let mut off = 0;
    for spec in &plan.pieces[first..first + count] {
        let data = &buf[off..off + spec.len as usize];
        off += spec.len as usize;
        if want_v1 {
            let mut h = Sha1::new();
            h.update(data);
            let mut pad = spec.v1_pad as usize;
            while pad > 0 {
                let n = pad.min(ZEROS.len());
                h.update(&ZEROS[..n]);
                pad -= n;
            }
            v1.push(h.finalize().into());
        }
        if want_v2 {
            let leaves = merkle::block_hashes(data);
            let width = if spec.v2_single { 1 } else { bpp };
            v2.push(merkle::merkle_root(&leaves, width, &[0; 32]));
        }
    }
    (v1, v2)
}

pub(super) fn hash_content<R: Read>(
    plan: &Plan,
    content: &Content,
    threads: usize,
    mut open: impl FnMut(usize) -> Result<R, Error>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Hashes, Error> {
    let total = content.total_length();
    let batch = batch_size(plan.piece_length);
    let n_pieces = plan.pieces.len();
    let mut v1 = vec![
        [0u8; 20];
        if plan.version == TorrentVersion::V2 {
            0
        } else {
            n_pieces
        }
    ];
    let mut v2 = vec![
        [0u8; 32];
        if plan.version == TorrentVersion::V1 {
            0
        } else {
            n_pieces
        }
    ];
    let mut hashed = 0u64;
    progress(0, total);

    let mut reader = FileReader {
        content,
        order: &plan.read_order,
        next: 0,
        current: None,
    };
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|scope| -> Result<(), Error> {
        for _ in 0..threads {
            let job_rx = &job_rx;
            let done_tx = done_tx.clone();
            scope.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let (h1, h2) = hash_job(plan, job.first, job.count, &job.buf);
                let bytes = job.buf.len() as u64;
                let done = Done {
                    first: job.first,
                    v1: h1,
                    v2: h2,
                    bytes,
                    buf: job.buf,
                };
                if done_tx.send(done).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        let mut free: Vec<Vec<u8>> = Vec::new();
        let mut buffers = 0;
        let max_buffers = threads * 2 + 1;
        let mut in_flight = 0;
        let mut collect = |d: Done, free: &mut Vec<Vec<u8>>| {
            store_batch(&mut v1, &mut v2, d.first, &d.v1, &d.v2);
            hashed += d.bytes;
            progress(hashed, total);
            free.push(d.buf);
        };
        let mut first = 0;
        let result = (|| {
            while first < n_pieces {
                let count = batch.min(n_pieces - first);
                let len: usize = plan.pieces[first..first + count]
                    .iter()
                    .map(|p| p.len as usize)
                    .sum();
                let mut buf = match free.pop() {
                    Some(b) => b,
                    None if buffers < max_buffers => {
                        buffers += 1;
                        Vec::new()
                    }
                    None => {
                        let d = done_rx.recv().expect("workers are alive");
                        in_flight -= 1;
                        collect(d, &mut free);
                        free.pop().expect("a buffer came back")
                    }
                };
                buf.resize(len, 0);
                reader.fill(&mut buf, &mut open)?;
                job_tx
                    .send(Job { first, count, buf })
                    .expect("workers are alive");
                in_flight += 1;
                first += count;
                while let Ok(d) = done_rx.try_recv() {
                    in_flight -= 1;
                    collect(d, &mut free);
                }
            }
            reader.finish()
        })();
        drop(job_tx);
        while in_flight > 0 {
            let Ok(d) = done_rx.recv() else { break };
            in_flight -= 1;
            collect(d, &mut free);
        }
        result
    })?;

    Ok(finish_hashes(plan, content, v1, &v2))
}

/// Groups the per-piece v2 hashes by file into roots and piece layers.
pub(super) fn finish_hashes(
    plan: &Plan,
    content: &Content,
    v1: Vec<[u8; 20]>,
    v2: &[Hash256],
) -> Hashes {
    let v2_files = if plan.version == TorrentVersion::V1 {
        Vec::new()
    } else {
        let mut layers: Vec<Vec<Hash256>> = vec![Vec::new(); content.files.len()];
        for (spec, h) in plan.pieces.iter().zip(v2) {
            if let Some(f) = spec.v2_file {
                layers[f].push(*h);
            }
        }
        content
            .files
            .iter()
            .zip(layers)
            .map(|(f, layer)| file_hashes(f.length, layer, plan.piece_length))
            .collect()
    };
    Hashes { v1, v2_files }
}

pub(super) fn file_hashes(
    length: u64,
    layer: Vec<Hash256>,
    piece_length: u32,
) -> merkle::FileHashes {
    match layer.len() {
        0 => merkle::FileHashes {
            length,
            root: None,
            piece_layer: Vec::new(),
        },
        // A single piece's hash is already the file's root.
        1 => merkle::FileHashes {
            length,
            root: Some(layer[0]),
            piece_layer: Vec::new(),
        },
        _ => merkle::FileHashes {
            length,
            root: Some(
                merkle::root_from_piece_layer(&layer, piece_length).expect("piece length checked"),
            ),
            piece_layer: layer,
        },
    }
}

/// Reads the files' bytes in plan order, checking each file has exactly
/// its declared length.
pub(super) struct FileReader<'c, R> {
    pub(super) content: &'c Content,
    pub(super) order: &'c [usize],
    pub(super) next: usize,
    /// (file index, reader, bytes left)
    pub(super) current: Option<(usize, R, u64)>,
}

impl<R: Read> FileReader<'_, R> {
    fn fill(
        &mut self,
        mut buf: &mut [u8],
        open: &mut impl FnMut(usize) -> Result<R, Error>,
    ) -> Result<(), Error> {
        while !buf.is_empty() {
            let (i, r, left) = match &mut self.current {
                Some(c) if c.2 > 0 => c,
                _ => {
                    self.finish_current()?;
                    let Some(&i) = self.order.get(self.next) else {
                        unreachable!("the plan reads no more than the content holds")
                    };
                    self.next += 1;
                    let len = self.content.files[i].length;
                    self.current = Some((i, open(i)?, len));
                    continue;
                }
            };
            let want = (*left).min(buf.len() as u64) as usize;
            let n = match r.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::InvalidCreateInput {
                        reason: format!(
                            "{} is shorter than its length {} (changed while hashing?)",
                            join(&self.content.files[*i].path),
                            self.content.files[*i].length
                        ),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(Path::new(&join(&self.content.files[*i].path)), &e)),
            };
            *left -= n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Checks the current file has no bytes beyond its length.
    fn finish_current(&mut self) -> Result<(), Error> {
        if let Some((i, mut r, 0)) = self.current.take() {
            let mut byte = [0u8; 1];
            loop {
                match r.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => {
                        return Err(Error::InvalidCreateInput {
                            reason: format!(
                                "{} is longer than its length {} (changed while hashing?)",
                                join(&self.content.files[i].path),
                                self.content.files[i].length
                            ),
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(io_error(Path::new(&join(&self.content.files[i].path)), &e))
                    }
                }
            }
        }
        Ok(())
    }

    /// After the last piece: every file must have been read to its end.
    fn finish(&mut self) -> Result<(), Error> {
        self.finish_current()?;
        // Trailing empty files are never opened; that is fine.
        Ok(())
    }
}
