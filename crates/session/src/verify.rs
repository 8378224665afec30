//! Piece verification off the async threads: a small pool of hashing
//! threads (one per core by default) that check piece hashes (SHA-1, BEP 3;
//! SHA-256 merkle trees, BEP 52, in `merkle_verify.rs`) and write verified
//! pieces.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use bytes::Bytes;
use sha1::{Digest, Sha1};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed pool of threads running blocking jobs in submission order.
/// Dropping the last handle lets the threads finish their queue and exit.
#[derive(Clone, Debug)]
pub(crate) struct HashPool {
    tx: mpsc::Sender<Job>,
    threads: usize,
}

impl HashPool {
    /// Starts `threads` threads (0: one per core).
    pub(crate) fn new(threads: usize) -> HashPool {
        let n = if threads == 0 {
            thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = Arc::clone(&rx);
            thread::Builder::new()
                .name(format!("seedbed-hash-{i}"))
                .spawn(move || loop {
                    let job = {
                        let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
                        guard.recv()
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })
                .expect("spawn a hashing thread");
        }
        HashPool { tx, threads: n }
    }

    /// The number of hashing threads.
    pub(crate) fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job`.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) {
        let _ = self.tx.send(Box::new(job));
    }
}

/// SHA-1 of the concatenation of `blocks`.
pub(crate) fn sha1_blocks(blocks: &[Bytes]) -> [u8; 20] {
    let mut h = Sha1::new();
    for b in blocks {
        h.update(b);
    }
    h.finalize().into()
}

/// SHA-1 of `data`.
#[cfg(test)]
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_runs_jobs_and_hashes_blocks() {
        let pool = HashPool::new(2);
        let (tx, rx) = mpsc::channel();
        for i in 0..8u8 {
            let tx = tx.clone();
            pool.submit(move || {
                let blocks = [Bytes::from(vec![i; 10]), Bytes::from(vec![i; 5])];
                tx.send((i, sha1_blocks(&blocks) == sha1(&[i; 15])))
                    .unwrap();
            });
        }
        drop(tx);
        let mut got: Vec<_> = rx.iter().collect();
        got.sort();
        assert_eq!(got.len(), 8);
        assert!(got.iter().all(|(_, ok)| *ok));
    }
}
