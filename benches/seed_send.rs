//! How a seed puts blocks on a loopback TCP connection (issue 15,
//! `crates/session/DESIGN.md` "Seeding"): the CPU time of the sending
//! thread for 64 MiB of 16 KiB blocks from a file in the page cache, each
//! block behind its 13-byte `piece` header (BEP 3), while another thread
//! reads and drops everything.
//!
//! - `preadv2_writev`: what the session does, 16 blocks per `preadv2` into
//!   ready frames (header and block in one buffer), 64 frames per
//!   `writev`: two copies (page cache to frame, frame to socket).
//! - `sendfile_per_block`: no copy in our process, the header with
//!   `send(MSG_MORE)` and the block with `sendfile`, two system calls per
//!   block.
//! - `sendfile_no_headers`: the file alone in 1 MiB `sendfile` calls, not a
//!   valid upload: the least any zero-copy sender could cost.
//!
//! The measured time is the sending thread's CPU time (user and system,
//! `CLOCK_THREAD_CPUTIME_ID`), not wall time: on loopback the receive path
//! runs partly on the sender's CPU, and CPU time is what a seed takes from
//! the leecher on a shared machine. `cargo bench --bench seed_send`; quote
//! ratios of one run. Linux only (prints a note elsewhere).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io::{IoSlice, IoSliceMut, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use criterion::{Criterion, Throughput};
    use rustix::io::{preadv2, ReadWriteFlags};
    use rustix::net::{send, SendFlags};

    const BLOCK: usize = 16 * 1024;
    const HEADER: usize = 13;
    /// Bytes of block data per iteration.
    const SIZE: usize = 64 << 20;
    const READ_BATCH: usize = 16;
    const WRITE_BATCH: usize = 64;

    fn thread_cpu() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    /// A connected pair: the sending end, and a thread reading the other
    /// end until it closes (it returns the bytes read).
    fn connection() -> (TcpStream, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0;
            loop {
                match s.read(&mut buf).unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        (TcpStream::connect(addr).unwrap(), reader)
    }

    /// The `piece` header of block `block` (1 MiB pieces).
    fn header(block: usize) -> [u8; HEADER] {
        let offset = block * BLOCK;
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(&(9 + BLOCK as u32).to_be_bytes());
        h[4] = 7;
        h[5..9].copy_from_slice(&((offset >> 20) as u32).to_be_bytes());
        h[9..].copy_from_slice(&((offset & ((1 << 20) - 1)) as u32).to_be_bytes());
        h
    }

    /// Sends the file's 64 MiB as `piece` frames on the connection.
    type Sender = fn(&File, &mut TcpStream);

    fn preadv2_writev(file: &File, s: &mut TcpStream) {
        let mut frames: Vec<Vec<u8>> = (0..WRITE_BATCH)
            .map(|_| vec![0u8; HEADER + BLOCK])
            .collect();
        let blocks = SIZE / BLOCK;
        let mut b = 0;
        while b < blocks {
            let n = WRITE_BATCH.min(blocks - b);
            for (k, f) in frames[..n].iter_mut().enumerate() {
                f[..HEADER].copy_from_slice(&header(b + k));
            }
            for k in (0..n).step_by(READ_BATCH) {
                let m = READ_BATCH.min(n - k);
                let mut bufs: Vec<IoSliceMut<'_>> = frames[k..k + m]
                    .iter_mut()
                    .map(|f| IoSliceMut::new(&mut f[HEADER..]))
                    .collect();
                let got = preadv2(
                    file,
                    &mut bufs,
                    ((b + k) * BLOCK) as u64,
                    ReadWriteFlags::empty(),
                )
                .unwrap();
                assert_eq!(got, m * BLOCK);
            }
            let mut slices: Vec<IoSlice<'_>> =
                frames[..n].iter().map(|f| IoSlice::new(f)).collect();
            let mut left = &mut slices[..];
            while !left.is_empty() {
                let w = s.write_vectored(left).unwrap();
                IoSlice::advance_slices(&mut left, w);
            }
            b += n;
        }
    }

    fn sendfile_per_block(file: &File, s: &mut TcpStream) {
        for b in 0..SIZE / BLOCK {
            let h = header(b);
            let mut head = &h[..];
            while !head.is_empty() {
                let w = send(&*s, head, SendFlags::MORE).unwrap();
                head = &head[w..];
            }
            let mut at = (b * BLOCK) as u64;
            let end = at + BLOCK as u64;
            while at < end {
                let len = (end - at) as usize;
                rustix::fs::sendfile(s.as_fd(), file, Some(&mut at), len).unwrap();
            }
        }
    }

    fn sendfile_no_headers(file: &File, s: &mut TcpStream) {
        let mut at = 0u64;
        while at < SIZE as u64 {
            let len = (SIZE as u64 - at).min(1 << 20) as usize;
            rustix::fs::sendfile(s.as_fd(), file, Some(&mut at), len).unwrap();
        }
    }

    pub(super) fn seed_send(c: &mut Criterion) {
        let dir =
            std::env::temp_dir().join(format!("seedbed-bench-seed-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data");
        let data: Vec<u8> = (0..SIZE)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        // In the page cache before the first measurement.
        std::io::copy(&mut File::open(&path).unwrap(), &mut std::io::sink()).unwrap();

        let mut g = c.benchmark_group("seed_send_64MiB_sender_cpu");
        g.throughput(Throughput::Bytes(SIZE as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(4));
        let ways: [(&str, Sender); 3] = [
            ("preadv2_writev", preadv2_writev),
            ("sendfile_per_block", sendfile_per_block),
            ("sendfile_no_headers", sendfile_no_headers),
        ];
        for (name, send_all) in ways {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut cpu = Duration::ZERO;
                    for _ in 0..iters {
                        let (mut s, reader) = connection();
                        let start = thread_cpu();
                        send_all(&file, &mut s);
                        cpu += thread_cpu() - start;
                        s.flush().unwrap();
                        drop(s);
                        let got = reader.join().unwrap();
                        assert!(got >= SIZE);
                    }
                    cpu
                })
            });
        }
        g.finish();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(target_os = "linux")]
fn seed_send(c: &mut Criterion) {
    linux::seed_send(c);
}

#[cfg(not(target_os = "linux"))]
fn seed_send(_c: &mut Criterion) {
    eprintln!("seed_send measures Linux system calls (preadv2, sendfile): skipped");
}

criterion_group!(benches, seed_send);
criterion_main!(benches);
