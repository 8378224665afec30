#!/usr/bin/python3
"""Whole-download benchmark: seedbed beside a python3-libtorrent leecher.

A python3-libtorrent seeder on 127.0.0.1 serves a torrent of SIZE MiB
(default 1024, one file, 1 MiB pieces; v1, or v2-only with --v2, made by
libtorrent). Then, RUNS times each, alternating, a seedbed leecher (the
`download` example, release build) and a python3-libtorrent leecher
download it from the seeder. Each leecher is a child process; we report its
wall seconds, CPU seconds (user + system) and peak resident memory, and the
seedbed / libtorrent ratios of the medians. For seedbed we also report the
hashing share of its CPU: the time its hashing threads spent checking
pieces (SHA-1, or SHA-256 merkle trees with --v2), as it prints at the end,
over its CPU seconds; and, as a yardstick, what one thread of Python's
hashlib (OpenSSL) takes to hash the same data the same way.

Before each run, dirty pages are flushed (sync) and page-cache memory is
recycled (see warm_page_cache); neither is measured.

With --rc4, Message Stream Encryption with an RC4 payload is forced on all
three: the libtorrent seeder and leecher (out_enc_policy and in_enc_policy
forced, allowed_enc_level RC4) and seedbed (--encryption forced).

With --utp (issue 12) the transfers run over uTP (BEP 29): the seeder
accepts uTP and TCP, the libtorrent leecher and seedbed (--utp-only) use
uTP only, and a third leecher, seedbed over TCP (--no-utp), gives our uTP
against our TCP in the same run. Without it everything is TCP only
(seedbed with --no-utp).

Usage: scripts/bench_download.py [--size MIB] [--runs N] [--keep] [--no-warm] [--fsync] [--rc4] [--v2] [--utp]
Called by scripts/bench-download.sh, which builds the example first.
Loopback only; everything it starts is stopped; its temp folder is removed.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# MSE forced both ways with an RC4 payload (libtorrent's pe_forced = 0,
# pe_rc4 = 2), for --rc4.
RC4_SETTINGS = {"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2, "prefer_rc4": True}
# uTP on, for --utp: the seeder also keeps TCP (for seedbed-tcp), the
# libtorrent leecher turns TCP off.
UTP_SEED_SETTINGS = {"enable_outgoing_utp": True, "enable_incoming_utp": True}
UTP_LEECH_SETTINGS = dict(UTP_SEED_SETTINGS, enable_outgoing_tcp=False, enable_incoming_tcp=False)

LEECH_LT = r'''
import json, libtorrent as lt, sys, time
torrent, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
s = lt.session(dict({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                "enable_upnp": False, "enable_natpmp": False,
                "allow_multiple_connections_per_ip": True, "min_reconnect_time": 1,
                "enable_outgoing_utp": False, "enable_incoming_utp": False,
                "alert_mask": 0}, **extra))
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = out
p.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
h = s.add_torrent(p)
h.connect_peer(("127.0.0.1", port))
deadline = time.time() + 600
while time.time() < deadline:
    st = h.status()
    if st.is_seeding:
        sys.exit(0)
    if st.num_peers == 0 and st.state == lt.torrent_status.downloading:
        h.connect_peer(("127.0.0.1", port))
    time.sleep(0.02)
sys.exit(1)
'''


def make_seed(tmp, size_mib, v2=False):
    data_dir = os.path.join(tmp, "seed")
    os.makedirs(data_dir)
    path = os.path.join(data_dir, "bench.bin")
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size_mib):
            # Vary each MiB so no two pieces are equal.
            f.write(i.to_bytes(8, "little") + chunk[8:])
    fs = lt.file_storage()
    lt.add_files(fs, path)
    flags = lt.create_torrent.v2_only if v2 else lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, 1 << 20, flags=flags)
    lt.set_piece_hashes(ct, data_dir)
    tpath = os.path.join(tmp, "bench.torrent")
    with open(tpath, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    return data_dir, tpath


SEED = r'''
import json, libtorrent as lt, sys, time
torrent, data = sys.argv[1], sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
settings = lt.high_performance_seed()
settings.update({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                 "enable_upnp": False, "enable_natpmp": False,
                 "allow_multiple_connections_per_ip": True, "min_reconnect_time": 1,
                 "enable_outgoing_utp": False, "enable_incoming_utp": False})
settings.update(extra)
s = lt.session(settings)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = data
p.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
h = s.add_torrent(p)
# Not seed_mode: the seeder checks its data first, so no leecher's run
# waits for the seeder hashing pieces on first request.
while not h.status().is_seeding:
    time.sleep(0.05)
print(s.listen_port(), flush=True)
while True:
    time.sleep(1)
'''


def file_sha1(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def reference_hash_seconds(path, v2):
    """One thread of hashlib hashing the file as a client checks it: SHA-1
    per 1 MiB piece (v1), or SHA-256 per 16 KiB block plus the merkle
    nodes above (v2). Read time is not counted (the file is in the page
    cache after the first read; each piece is read before the clock runs)."""
    total = 0.0
    with open(path, "rb") as f:
        while True:
            piece = f.read(1 << 20)
            if not piece:
                return total
            t0 = time.perf_counter()
            if v2:
                level = [hashlib.sha256(piece[i:i + 16384]).digest()
                         for i in range(0, len(piece), 16384)]
                while len(level) > 1:
                    level = [hashlib.sha256(level[i] + level[i + 1]).digest()
                             for i in range(0, len(level), 2)]
            else:
                hashlib.sha1(piece).digest()
            total += time.perf_counter() - t0


def warm_page_cache(tmp, size_mib):
    """Writes and deletes a scratch file a little larger than the download.

    This machine is a VM whose balloon device reports free memory to the
    host once it has been idle for a few seconds; writing 1 GiB into such
    memory cost 1.0-1.6 s of system time here, against 0.15-0.2 s right
    after other writes (scripts/page_cache_probe.py shows it). Which kind a leecher gets varied from run
    to run and dominated the comparison. Recycling page-cache memory just
    before each run gives every leecher the same start. Not measured;
    --no-warm turns it off.
    """
    path = os.path.join(tmp, "warm.tmp")
    zeros = bytes(1 << 20)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    try:
        for i in range(size_mib + size_mib // 4):
            os.pwrite(fd, zeros, i << 20)
    finally:
        os.close(fd)
        os.unlink(path)


def peak_rss_wrapper(cmd):
    """Prefix cmd with GNU time to get this child's own peak RSS."""
    return ["/usr/bin/time", "-f", "PEAK_KIB %M"] + cmd


def measured(cmd, timeout):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(peak_rss_wrapper(cmd), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(err[-3000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    peak = 0.0
    for line in err.splitlines():
        if line.startswith("PEAK_KIB "):
            peak = int(line.split()[1]) / 1024.0
    # seedbed's download example ends with "..., hashing <seconds> s".
    hashing = None
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("complete:") and "hashing " in line:
            hashing = float(line.rsplit("hashing ", 1)[1].split()[0])
    return wall, cpu, peak, hashing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="MiB")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--v2", action="store_true", help="a v2-only torrent (BEP 52: SHA-256 merkle trees)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-warm", action="store_true", help="do not recycle page-cache memory before each run")
    ap.add_argument("--fsync", action="store_true", help="seedbed flushes its files before exiting (--fsync)")
    ap.add_argument("--rc4", action="store_true",
                    help="force MSE with an RC4 payload on the seeder and both leechers")
    ap.add_argument("--utp", action="store_true",
                    help="transfers over uTP (and seedbed over TCP beside)")
    ap.add_argument("--download-bin", default=os.path.join(ROOT, "target/release/examples/download"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="seedbed-bench-")
    seeder = None
    try:
        kind = "v2-only" if args.v2 else "v1"
        print(f"making {args.size} MiB and its {kind} torrent in {tmp}", flush=True)
        data_dir, tpath = make_seed(tmp, args.size, args.v2)
        want = file_sha1(os.path.join(data_dir, "bench.bin"))
        base = RC4_SETTINGS if args.rc4 else {}
        extra = json.dumps(dict(base, **UTP_LEECH_SETTINGS) if args.utp else base)
        seed_extra = json.dumps(dict(base, **UTP_SEED_SETTINGS) if args.utp else base)
        seeder = subprocess.Popen(["/usr/bin/python3", "-c", SEED, tpath, data_dir, seed_extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        port = int(seeder.stdout.readline())
        mode = ", MSE forced with RC4 on all three" if args.rc4 else ""
        mode += ", over uTP" if args.utp else ""
        print(f"python3-libtorrent {lt.__version__} seeding on 127.0.0.1:{port}{mode}", flush=True)
        time.sleep(1)
        ref = reference_hash_seconds(os.path.join(data_dir, "bench.bin"), args.v2)
        print(f"yardstick: one hashlib thread hashes the data ({kind}) in {ref:.2f} s", flush=True)
        who_all = ["seedbed", "libtorrent"] + (["seedbed-tcp"] if args.utp else [])
        results = {w: [] for w in who_all}
        shares = []
        for run in range(args.runs):
            order = who_all if run % 2 == 0 else who_all[::-1]
            for who in order:
                out = os.path.join(tmp, f"out-{who}-{run}")
                os.makedirs(out)
                if who.startswith("seedbed"):
                    cmd = [args.download_bin, "--torrent", tpath, "--output-directory", out,
                           "--peer", f"127.0.0.1:{port}", "--no-trackers", "--no-dht",
                           "--listen", "127.0.0.1:0",
                           "--utp-only" if who == "seedbed" and args.utp else "--no-utp"]
                    if args.fsync:
                        cmd.append("--fsync")
                    if args.rc4:
                        cmd += ["--encryption", "forced", "--encryption-level", "rc4"]
                else:
                    cmd = ["/usr/bin/python3", "-c", LEECH_LT, tpath, out, str(port), extra]
                # Earlier runs' writes are flushed first, so no run pays
                # for another's writeback.
                os.sync()
                if not args.no_warm:
                    warm_page_cache(tmp, args.size)
                wall, cpu, peak, hashing = measured(cmd, timeout=900)
                got = file_sha1(os.path.join(out, "bench.bin"))
                if got != want:
                    raise SystemExit(f"{who}: downloaded data differs from the seed's")
                results[who].append((wall, cpu, peak))
                note = ""
                if hashing is not None:
                    shares.append(hashing / cpu)
                    note = f"  hashing {hashing:5.2f} s ({100 * hashing / cpu:.0f}% of cpu)"
                print(f"run {run + 1} {who:11s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak {peak:7.1f} MiB{note}",
                      flush=True)
                shutil.rmtree(out)
        med = {w: tuple(statistics.median(r[i] for r in rs) for i in range(3)) for w, rs in results.items()}
        s, l = med["seedbed"], med["libtorrent"]
        print()
        print(f"median seedbed    wall {s[0]:.2f} s  cpu {s[1]:.2f} s  peak {s[2]:.1f} MiB")
        print(f"median libtorrent wall {l[0]:.2f} s  cpu {l[1]:.2f} s  peak {l[2]:.1f} MiB")
        print(f"ratio seedbed/libtorrent: wall {s[0] / l[0]:.2f}  cpu {s[1] / l[1]:.2f}  peak memory {s[2] / l[2]:.2f}")
        if args.utp:
            t = med["seedbed-tcp"]
            print(f"median seedbed over TCP wall {t[0]:.2f} s  cpu {t[1]:.2f} s  peak {t[2]:.1f} MiB")
            print(f"ratio seedbed uTP/TCP: wall {s[0] / t[0]:.2f}  cpu {s[1] / t[1]:.2f}  peak memory {s[2] / t[2]:.2f}")
        if shares:
            print(f"seedbed hashing share of its cpu: median {100 * statistics.median(shares):.0f}% "
                  f"(yardstick {ref:.2f} s of one hashlib thread)")
    finally:
        if seeder is not None:
            seeder.send_signal(signal.SIGKILL)
            seeder.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
