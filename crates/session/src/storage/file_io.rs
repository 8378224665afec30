//! Positioned file IO for [`Storage`](super::Storage), one version per
//! platform: reads at an offset (`pread`; on Linux also from the page
//! cache only, `preadv2` with `RWF_NOWAIT`), vectored writes at an offset
//! (`pwritev` in chunks of at most 128 KiB), and preallocation
//! (`fallocate`).

use std::fs::File;
use std::io;

#[cfg(unix)]
pub(super) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

/// Reads all of `buf` at `offset` if the page cache holds it: `Ok(false)`
/// if the kernel would have to wait for the disk, or the file ends first.
#[cfg(target_os = "linux")]
pub(super) fn read_at_nowait(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<bool> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    while !buf.is_empty() {
        let mut slices = [io::IoSliceMut::new(buf)];
        match preadv2(f, &mut slices, offset, ReadWriteFlags::NOWAIT) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            // EAGAIN: not cached; EOPNOTSUPP/EINVAL: no RWF_NOWAIT here.
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn read_at_nowait(_f: &File, _buf: &mut [u8], _offset: u64) -> io::Result<bool> {
    Ok(false)
}

/// Reads `bufs`, back to back, at `offset` if the page cache holds them:
/// `preadv2` calls with `RWF_NOWAIT` of at most [`MAX_IOVECS`] buffers.
/// Returns how many of `bufs` were filled whole (the one after them may be
/// partly filled): fewer than all when the kernel would have to wait for
/// the disk, or the file ends first.
#[cfg(target_os = "linux")]
pub(super) fn read_vectored_at_nowait(
    f: &File,
    bufs: &mut [&mut [u8]],
    mut offset: u64,
) -> io::Result<usize> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    // The first buffer not filled whole, and how much of it is.
    let (mut i, mut within) = (0usize, 0usize);
    loop {
        // Empty buffers are filled as they are.
        while i < bufs.len() && bufs[i].len() == within {
            i += 1;
            within = 0;
        }
        if i == bufs.len() {
            return Ok(i);
        }
        let n = {
            let cap = (bufs.len() - i).min(MAX_IOVECS);
            let (first, rest) = bufs[i..].split_at_mut(1);
            let mut slices: Vec<io::IoSliceMut<'_>> = Vec::with_capacity(cap);
            slices.push(io::IoSliceMut::new(&mut first[0][within..]));
            for b in rest.iter_mut().take(MAX_IOVECS - 1) {
                slices.push(io::IoSliceMut::new(b));
            }
            match preadv2(f, &mut slices, offset, ReadWriteFlags::NOWAIT) {
                Ok(0) => return Ok(i),
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                // EAGAIN: not cached; EOPNOTSUPP/EINVAL: no RWF_NOWAIT here.
                Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => return Ok(i),
                Err(e) => return Err(e.into()),
            }
        };
        offset += n as u64;
        let mut n = n;
        while n > 0 {
            let left = bufs[i].len() - within;
            if n >= left {
                n -= left;
                i += 1;
                within = 0;
            } else {
                within += n;
                n = 0;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn read_vectored_at_nowait(
    _f: &File,
    _bufs: &mut [&mut [u8]],
    _offset: u64,
) -> io::Result<usize> {
    Ok(0)
}

/// Most buffers in one `pwritev` call (POSIX guarantees `IOV_MAX` >= 16;
/// Linux allows 1024).
#[cfg(unix)]
const MAX_IOVECS: usize = 512;

/// Most bytes per `pwritev` call; calls also end at multiples of it in the
/// file. Linux 6.x page-caches a write in folios as large as the write, and
/// on a VM whose balloon hands idle free memory back to the host, filling
/// 1 MiB folios in memory that had been idle cost ten times the CPU
/// (1 GiB written in 1 MiB calls: 1.5-1.6 s after 5 s idle, 0.15 s right
/// after other writes; in 128 KiB calls: 0.18-0.27 s either way; in 16 KiB
/// calls 0.4 s). See `scripts/page_cache_probe.py`.
#[cfg(unix)]
const WRITE_CHUNK: u64 = 128 * 1024;

/// Writes all of `bufs`, back to back, at `offset`: `pwritev` calls of at
/// most [`WRITE_CHUNK`] bytes and [`MAX_IOVECS`] buffers, repeated after
/// short writes.
#[cfg(unix)]
pub(super) fn write_all_vectored_at(f: &File, bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
    use std::io::IoSlice;
    let mut group: Vec<IoSlice<'_>> = Vec::with_capacity(16);
    let (mut i, mut within) = (0usize, 0usize);
    while i < bufs.len() {
        // Gather up to the next WRITE_CHUNK boundary of the file.
        let limit = (WRITE_CHUNK - offset % WRITE_CHUNK) as usize;
        let mut total = 0usize;
        group.clear();
        while i < bufs.len() && total < limit && group.len() < MAX_IOVECS {
            let b = &bufs[i][within..];
            let take = b.len().min(limit - total);
            if take > 0 {
                group.push(IoSlice::new(&b[..take]));
            }
            total += take;
            if take == b.len() {
                i += 1;
                within = 0;
            } else {
                within += take;
            }
        }
        let mut rest = &mut group[..];
        while !rest.is_empty() {
            match rustix::io::pwritev(f, rest, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    offset += written as u64;
                    IoSlice::advance_slices(&mut rest, written);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Reserves disk blocks for `len` bytes of `f` and sets its length;
/// `false` when the file system cannot (the caller sizes it sparsely).
#[cfg(target_os = "linux")]
pub(super) fn preallocate(f: &File, len: u64) -> bool {
    len > 0 && rustix::fs::fallocate(f, rustix::fs::FallocateFlags::empty(), 0, len).is_ok()
}

#[cfg(not(target_os = "linux"))]
pub(super) fn preallocate(_f: &File, _len: u64) -> bool {
    false
}

#[cfg(windows)]
pub(super) fn read_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
pub(super) fn write_all_vectored_at(f: &File, bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    for mut buf in bufs.iter().copied() {
        while !buf.is_empty() {
            let n = f.seek_write(buf, offset)?;
            buf = &buf[n..];
            offset += n as u64;
        }
    }
    Ok(())
}

#[cfg(windows)]
pub(super) fn preallocate(_f: &File, _len: u64) -> bool {
    false
}
