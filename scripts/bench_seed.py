#!/usr/bin/python3
"""Whole-upload benchmark: seedbed's seed beside a python3-libtorrent seed.

Two seeders on 127.0.0.1 serve the same torrent of SIZE MiB (default 1024,
one file, v1, 1 MiB pieces) from the same data folder: the `seed` example
(release build) and a python3-libtorrent seeder (`high_performance_seed`
settings). Both check the data first and stay up for the whole run. Then,
RUNS times each, alternating which goes first, a fresh python3-libtorrent
leecher (encryption off, see LEECH_PLAIN) downloads the torrent from one of
them. We report per run the
leecher's wall seconds, the seeder's CPU seconds (user + system, read from
/proc/PID/stat before and after the run), the leecher's CPU seconds, the
time from adding the torrent to the first payload byte and from there to
the last piece (the transfer; see TIMING), and the seedbed / libtorrent
ratios of the medians.

Before each run, dirty pages are flushed (sync) and page-cache memory is
recycled (see bench_download.warm_page_cache); neither is measured. The
seed data is read once before the seeders start, so both read it from the
page cache.

With --utp (issue 12) the transfers run over uTP (BEP 29): the leecher is
uTP-only, our seed runs with --utp-only, libtorrent's seeder accepts uTP.

With --baseline-bin, a second build of the seed example (say main's) seeds
beside them as `baseline`, the three in rotation: a change to the seed is
judged by its ratio to the baseline in the same runs.

Usage: scripts/bench_seed.py [--size MIB] [--runs N] [--keep] [--no-warm]
       [--seed-bin PATH] [--seed-arg ARG]... [--only seedbed|libtorrent]
       [--baseline-bin PATH] [--leecher-encryption] [--utp]
Called by scripts/bench-seed.sh, which builds the example first.
Loopback only; everything it starts is stopped; its temp folder is removed.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_download as bd  # noqa: E402  (make_seed, warm_page_cache, SEED, LEECH_LT, file_sha1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The leecher of bench_download with encryption (MSE/PE) off: libtorrent
# tries an encrypted connection first and, against a peer without MSE,
# reconnects in plaintext about a second later, which would measure the
# handshake fallback, not the seeding. --leecher-encryption keeps it on.
LEECH_PLAIN = bd.LEECH_LT.replace(
    '"alert_mask": 0}',
    '"alert_mask": 0, "out_enc_policy": 2, "in_enc_policy": 2}')
assert LEECH_PLAIN != bd.LEECH_LT

# What the leecher's loop sees, written to the file named by
# SEEDBED_BENCH_TIMES: seconds from adding the torrent to the first payload
# byte (the connection: libtorrent dials on its 500 ms tick, whichever the
# seed) and from the first byte to the last piece (the transfer), polled
# every 20 ms.
TIMING = (
    ("h.connect_peer((\"127.0.0.1\", port))\ndeadline",
     "h.connect_peer((\"127.0.0.1\", port))\nt_added, t_first = time.monotonic(), None\ndeadline"),
    ("    if st.is_seeding:\n        sys.exit(0)",
     "    if t_first is None and st.total_payload_download > 0:\n"
     "        t_first = time.monotonic()\n"
     "    if st.is_seeding:\n"
     "        import os\n"
     "        with open(os.environ[\"SEEDBED_BENCH_TIMES\"], \"w\") as f:\n"
     "            f.write(f\"{t_first - t_added} {time.monotonic() - t_first}\")\n"
     "        sys.exit(0)"),
)


def timed(script):
    for old, new in TIMING:
        assert old in script, old
        script = script.replace(old, new)
    return script


def proc_cpu(pid):
    """CPU seconds (user + system) of process pid so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_ours(args, tpath, data_dir):
    cmd = [args.seed_bin, "--torrent", tpath, "--data", data_dir,
           "--listen", "127.0.0.1:0", "--no-trackers", "--no-dht"] + args.seed_arg
    if args.utp:
        cmd.append("--utp-only")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("the seed example exited early")
        if "listening on " in line:
            port = int(line.rsplit(":", 1)[1])
            return p, port
    raise SystemExit("the seed example did not start")


def start_lt(args, tpath, data_dir):
    extra = json.dumps(bd.UTP_SEED_SETTINGS if args.utp else {})
    p = subprocess.Popen(["/usr/bin/python3", "-c", bd.SEED, tpath, data_dir, extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = int(p.stdout.readline())
    return p, port


def leech(script, tpath, out, port, seeder_pid, timeout, extra):
    times = out + ".times"
    os.environ["SEEDBED_BENCH_TIMES"] = times
    seeder_before = proc_cpu(seeder_pid)
    wall, cpu, _peak, _hashing = bd.measured(["/usr/bin/python3", "-c", timed(script), tpath, out, str(port), extra],
                                             timeout)
    seeder_cpu = proc_cpu(seeder_pid) - seeder_before
    with open(times) as f:
        first, transfer = (float(x) for x in f.read().split())
    os.unlink(times)
    return wall, seeder_cpu, cpu, first, transfer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="MiB")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-warm", action="store_true", help="do not recycle page-cache memory before each run")
    ap.add_argument("--seed-bin", default=os.path.join(ROOT, "target/release/examples/seed"))
    ap.add_argument("--seed-arg", action="append", default=[], help="extra argument for the seed example")
    ap.add_argument("--only", choices=["seedbed", "libtorrent"], help="run one seeder only (profiling)")
    ap.add_argument("--baseline-bin", help="another build of the seed example (e.g. main's), run as a third "
                    "seeder named baseline, in rotation with the other two")
    ap.add_argument("--leecher-encryption", action="store_true",
                    help="leave the leecher's MSE/PE on (it tries encryption first)")
    ap.add_argument("--utp", action="store_true", help="transfers over uTP (the leecher is uTP-only)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="seedbed-bench-seed-")
    seeders = {}
    try:
        print(f"making {args.size} MiB and its torrent in {tmp}", flush=True)
        data_dir, tpath = bd.make_seed(tmp, args.size)
        want = bd.file_sha1(os.path.join(data_dir, "bench.bin"))
        who_all = [args.only] if args.only else ["seedbed", "libtorrent"]
        if args.baseline_bin:
            who_all.insert(1, "baseline")
        for who in who_all:
            if who == "seedbed":
                seeders[who] = start_ours(args, tpath, data_dir)
            elif who == "baseline":
                seeders[who] = start_ours(argparse.Namespace(**{**vars(args), "seed_bin": args.baseline_bin}),
                                          tpath, data_dir)
            else:
                seeders[who] = start_lt(args, tpath, data_dir)
            print(f"{who} seeding on 127.0.0.1:{seeders[who][1]} (pid {seeders[who][0].pid})", flush=True)
        print(f"python3-libtorrent {lt.__version__} leechers; load {os.getloadavg()}", flush=True)
        time.sleep(1)
        results = {w: [] for w in who_all}
        for run in range(args.runs):
            # Alternating for two seeders, rotating for three.
            if len(who_all) == 3:
                order = who_all[run % 3:] + who_all[:run % 3]
            else:
                order = who_all if run % 2 == 0 else list(reversed(who_all))
            for who in order:
                proc, port = seeders[who]
                out = os.path.join(tmp, f"out-{who}-{run}")
                os.makedirs(out)
                os.sync()
                if not args.no_warm:
                    bd.warm_page_cache(tmp, args.size)
                script = bd.LEECH_LT if args.leecher_encryption else LEECH_PLAIN
                extra = json.dumps(bd.UTP_LEECH_SETTINGS if args.utp else {})
                wall, seeder_cpu, leecher_cpu, first, transfer = leech(script, tpath, out, port, proc.pid, 900,
                                                                       extra)
                got = bd.file_sha1(os.path.join(out, "bench.bin"))
                if got != want:
                    raise SystemExit(f"{who}: downloaded data differs from the seed's")
                results[who].append((wall, seeder_cpu, leecher_cpu, first, transfer))
                print(f"run {run + 1} from {who:10s} wall {wall:6.2f} s  seeder cpu {seeder_cpu:6.2f} s  "
                      f"leecher cpu {leecher_cpu:6.2f} s  first byte {first:5.2f} s  "
                      f"transfer {transfer:5.2f} s ({args.size / transfer:4.0f} MiB/s)", flush=True)
                shutil.rmtree(out)
        med = {w: tuple(statistics.median(r[i] for r in rs) for i in range(5)) for w, rs in results.items()}
        print()
        for w in who_all:
            m = med[w]
            print(f"median from {w:10s} wall {m[0]:.2f} s  seeder cpu {m[1]:.2f} s  leecher cpu {m[2]:.2f} s  "
                  f"first byte {m[3]:.2f} s  transfer {m[4]:.2f} s")
        pairs = [("seedbed", "libtorrent"), ("baseline", "libtorrent"), ("seedbed", "baseline")]
        for a, b in pairs:
            if a in med and b in med:
                s, l = med[a], med[b]
                print(f"ratio {a}/{b}: wall {s[0] / l[0]:.2f}  seeder cpu {s[1] / l[1]:.2f}  "
                      f"leecher cpu {s[2] / l[2]:.2f}  first byte {s[3] / l[3]:.2f}  transfer {s[4] / l[4]:.2f}")
        print(f"load after: {os.getloadavg()}")
    finally:
        for proc, _ in seeders.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
