#!/usr/bin/python3
"""How much CPU writing into the page cache costs right after other writes
and after the freed memory sat idle (see warm_page_cache in
bench_download.py).

Writes SIZE MiB (default 1024) into a preallocated scratch file in 1 MiB
calls, deletes it, and repeats after 0 s and after IDLE s (default 5) of
idleness, printing the CPU seconds (user + system) of each write. On a VM
whose balloon reports free memory to the host, the writes after an idle
pause cost several times more.

Usage: scripts/page_cache_probe.py [--size MIB] [--idle SECONDS] [--dir DIR]
"""
import argparse
import os
import tempfile
import time


def write_once(directory, size_mib, chunk):
    path = os.path.join(directory, "probe.tmp")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    try:
        os.posix_fallocate(fd, 0, size_mib << 20)
        c0 = os.times()
        for i in range(size_mib):
            os.pwrite(fd, chunk, i << 20)
        c1 = os.times()
    finally:
        os.close(fd)
        os.unlink(path)
    return (c1.user - c0.user) + (c1.system - c0.system)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="MiB")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    chunk = os.urandom(1 << 20)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for rep in range(3):
            time.sleep(args.idle)
            idle = write_once(d, args.size, chunk)
            hot = write_once(d, args.size, chunk)
            print(f"{args.size} MiB written: after {args.idle:g} s idle {idle:.2f} s CPU, "
                  f"right after {hot:.2f} s CPU", flush=True)


if __name__ == "__main__":
    main()
