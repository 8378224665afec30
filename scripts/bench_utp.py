#!/usr/bin/python3
"""uTP download benchmark on loopback: a python3-libtorrent seeder (uTP
only) serves SIZE MiB (one file, 1 MiB pieces); RUNS times each,
alternating, seedbed-utp's `libtorrent_download` example (a bare uTP
stream with a hand-rolled BitTorrent exchange, no disk) and a
python3-libtorrent leecher (uTP only, writes to disk) download it.

Each leecher is a child process: we report its wall seconds (from spawn
to exit, so process start and, for libtorrent, session start and the
disk writes are in it) and CPU seconds (user + system), the medians, and
the seedbed / libtorrent ratios. The seeder's CPU seconds and the UDP
receive-buffer drops of the host (/proc/net/snmp RcvbufErrors, at either
end) during each run are printed too.

With --upload, the other direction: RUNS times each, a python3-libtorrent
leecher (uTP only) downloads the torrent from seedbed-utp's
`libtorrent_upload` example (serving the file from memory) and from the
python3-libtorrent seeder; we report the leecher's wall seconds and the
seeder's CPU seconds.

Usage: scripts/bench_utp.py [--size MIB] [--runs N] [--socket-buffer BYTES] [--upload]
Build first: cargo build --release -p seedbed-utp --examples
Loopback only; everything it starts is stopped; its temp folder is removed.
"""
import argparse
import os
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
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "libtorrent_download")
UPLOAD_EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "libtorrent_upload")

UTP_ONLY = {
    "listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
    "enable_upnp": False, "enable_natpmp": False,
    "enable_incoming_tcp": False, "enable_outgoing_tcp": False,
    "enable_incoming_utp": True, "enable_outgoing_utp": True,
    "allow_multiple_connections_per_ip": True, "min_reconnect_time": 1,
    "out_enc_policy": 2, "in_enc_policy": 1, "alert_mask": 0,
}

SEED = r'''
import json, libtorrent as lt, sys, time
torrent, save, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = lt.high_performance_seed()
s.update(settings)
ses = lt.session(s)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save
p.flags = (p.flags & ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed) | lt.torrent_flags.seed_mode
h = ses.add_torrent(p)
while ses.listen_port() == 0 or h.status().state != lt.torrent_status.seeding:
    time.sleep(0.05)
print(ses.listen_port(), flush=True)
sys.stdin.read()
'''

LEECH = r'''
import json, libtorrent as lt, sys, time
torrent, out, port, settings = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
ses = lt.session(settings)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = out
p.flags = p.flags & ~lt.torrent_flags.paused & ~lt.torrent_flags.auto_managed
h = ses.add_torrent(p)
h.connect_peer(("127.0.0.1", port))
deadline = time.time() + 600
while not h.status().is_seeding:
    if time.time() > deadline:
        sys.exit("timed out")
    time.sleep(0.01)
'''


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        udp = [l.split() for l in f if l.startswith("Udp:")]
    return int(dict(zip(udp[0], udp[1]))["RcvbufErrors"])


def proc_cpu(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(cmd, seeder):
    s0 = proc_cpu(seeder)
    e0 = rcvbuf_errors()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        if proc.returncode is None and proc.poll() is None:
            proc.kill()
    wall = time.monotonic() - t0
    out = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {out}")
    drops = rcvbuf_errors() - e0
    return wall, ru.ru_utime + ru.ru_stime, proc_cpu(seeder) - s0, drops, out.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256, help="MiB")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--upload", action="store_true",
                    help="seedbed seeds to a libtorrent leecher (beside libtorrent seeding)")
    ap.add_argument("--socket-buffer", type=int, default=0,
                    help="libtorrent's recv/send_socket_buffer_size in bytes, seeder and "
                         "leecher (default 0: the system's)")
    args = ap.parse_args()
    if not os.path.exists(EXAMPLE):
        sys.exit(f"build it first: {EXAMPLE}")
    if args.socket_buffer:
        UTP_ONLY["recv_socket_buffer_size"] = args.socket_buffer
        UTP_ONLY["send_socket_buffer_size"] = args.socket_buffer
    tmp = tempfile.mkdtemp(prefix="seedbed-bench-utp-")
    seeder = None
    try:
        data = os.path.join(tmp, "seed", "data.bin")
        os.makedirs(os.path.dirname(data))
        with open(data, "wb") as f:
            for _ in range(args.size):
                f.write(os.urandom(1 << 20))
        fs = lt.file_storage()
        lt.add_files(fs, data)
        ct = lt.create_torrent(fs, 1 << 20, flags=lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, os.path.dirname(data))
        tpath = os.path.join(tmp, "t.torrent")
        with open(tpath, "wb") as f:
            f.write(lt.bencode(ct.generate()))
        ti = lt.torrent_info(tpath)
        info_hash = str(ti.info_hashes().v1)
        import json
        seeder = subprocess.Popen([sys.executable, "-c", SEED, tpath, os.path.dirname(data),
                                   json.dumps(UTP_ONLY)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port = int(seeder.stdout.readline())
        if args.upload:
            upload(args, tmp, tpath, data, info_hash, ti, port, seeder)
            return
        results = {"seedbed": [], "libtorrent": []}
        for run in range(args.runs):
            w, c, sc, drops, out = timed([EXAMPLE, str(port), info_hash, str(ti.total_size()),
                                          str(ti.piece_length())], seeder.pid)
            results["seedbed"].append((w, c))
            print(f"run {run + 1} seedbed    wall {w:6.2f} s  cpu {c:6.2f} s  "
                  f"seeder cpu {sc:5.2f} s  rcvbuf drops {drops}\n    {out}", flush=True)
            out_dir = os.path.join(tmp, f"lt{run}")
            w, c, sc, drops, _ = timed([sys.executable, "-c", LEECH, tpath, out_dir, str(port),
                                        json.dumps(UTP_ONLY)], seeder.pid)
            shutil.rmtree(out_dir, ignore_errors=True)
            results["libtorrent"].append((w, c))
            print(f"run {run + 1} libtorrent wall {w:6.2f} s  cpu {c:6.2f} s  "
                  f"seeder cpu {sc:5.2f} s  rcvbuf drops {drops}", flush=True)
        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
               for k, v in results.items()}
        for k, (w, c) in med.items():
            print(f"median {k:10} wall {w:6.2f} s ({args.size / w:7.1f} MiB/s)  cpu {c:6.2f} s")
        print(f"seedbed/libtorrent wall {med['seedbed'][0] / med['libtorrent'][0]:.2f}"
              f"  cpu {med['seedbed'][1] / med['libtorrent'][1]:.2f}")
    finally:
        if seeder is not None:
            seeder.kill()
            seeder.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def upload(args, tmp, tpath, data, info_hash, ti, port, seeder):
    """Leecher wall and seeder CPU, seedbed seeding beside libtorrent."""
    import json
    results = {"seedbed": [], "libtorrent": []}
    for run in range(args.runs):
        ours = subprocess.Popen([UPLOAD_EXAMPLE, data, info_hash, str(ti.piece_length())],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = ours.stdout.readline()
            if not line.startswith("PORT "):
                sys.exit(f"libtorrent_upload: {line!r}")
            out_dir = os.path.join(tmp, f"up{run}")
            w, c, _, drops, _ = timed([sys.executable, "-c", LEECH, tpath, out_dir,
                                       line.split()[1], json.dumps(UTP_ONLY)], seeder.pid)
            shutil.rmtree(out_dir, ignore_errors=True)
            time.sleep(0.2)
            # Not Popen.kill(): it reaps an exited child, and wait4 needs it.
            os.kill(ours.pid, signal.SIGKILL)
            _, _, ru = os.wait4(ours.pid, 0)
            ours.returncode = -9
            sc = ru.ru_utime + ru.ru_stime
        finally:
            if ours.poll() is None:
                ours.kill()
                ours.wait()
        results["seedbed"].append((w, sc))
        print(f"run {run + 1} seedbed seeds    leecher wall {w:6.2f} s  seeder cpu {sc:5.2f} s  "
              f"rcvbuf drops {drops}", flush=True)
        out_dir = os.path.join(tmp, f"lt{run}")
        w, c, sc, drops, _ = timed([sys.executable, "-c", LEECH, tpath, out_dir, str(port),
                                    json.dumps(UTP_ONLY)], seeder.pid)
        shutil.rmtree(out_dir, ignore_errors=True)
        results["libtorrent"].append((w, sc))
        print(f"run {run + 1} libtorrent seeds leecher wall {w:6.2f} s  seeder cpu {sc:5.2f} s  "
              f"rcvbuf drops {drops}", flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for k, v in results.items()}
    for k, (w, c) in med.items():
        print(f"median {k:10} seeds: leecher wall {w:6.2f} s ({args.size / w:7.1f} MiB/s)  "
              f"seeder cpu {c:6.2f} s")
    print(f"seedbed/libtorrent seeding: wall {med['seedbed'][0] / med['libtorrent'][0]:.2f}"
          f"  seeder cpu {med['seedbed'][1] / med['libtorrent'][1]:.2f}")


if __name__ == "__main__":
    main()
