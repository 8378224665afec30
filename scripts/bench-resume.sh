#!/usr/bin/env bash
# Fast-resume figure (issue 15): the same `seedbed download` command run
# again on a finished folder of SIZE_MIB (default 1024) MiB, with the resume
# data the first run saved (files unchanged: trusted, nothing read) and with
# --no-resume (every piece hashed), RUNS times each (default 3),
# alternating. Prints wall and CPU seconds and the bytes the check read
# (the engine's "checked existing data" log line), then the ratios of the
# medians. The data is in the page cache for both (just written), so
# --no-resume measures hashing, not the disk: on a cold cache it is slower
# still, and the resume run is not.
#
# Usage: scripts/bench-resume.sh [SIZE_MIB [RUNS]]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
runs=${2:-3}
cargo build --release -p seedbed-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release/seedbed"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data/content"
head -c "$((size * 1048576))" /dev/urandom >"$work/data/content/big.bin"
head -c 123457 /dev/urandom >"$work/data/content/small.bin"
"$bin" create "$work/data/content" -o "$work/t.torrent" --v1 --quiet >/dev/null

# One run: label, then extra flags. Appends "label wall cpu read" to $work/results.
run() {
    local label=$1
    shift
    local TIMEFORMAT='%R %U %S'
    {
        time RUST_LOG=info NO_COLOR=1 "$bin" download --torrent "$work/t.torrent" \
            --output-directory "$work/data" --peer 127.0.0.1:1 --peer-timeout 5 \
            --no-trackers --no-dht --listen 127.0.0.1:0 "$@" >"$work/out" 2>"$work/err"
    } 2>"$work/time"
    local wall user sys read
    read -r wall user sys <"$work/time"
    read=$(grep -o 'read=[0-9]*' "$work/err" | head -n 1 | cut -d= -f2)
    if ! grep -q '^complete:' "$work/out"; then
        echo "$label: the download did not complete" >&2
        cat "$work/err" >&2
        exit 1
    fi
    local cpu
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
    printf '%-12s wall %7.3f s  cpu %7.3f s  read %12s bytes\n' "$label" "$wall" "$cpu" "$read"
    echo "$label $wall $cpu $read" >>"$work/results"
}

echo "== ${size} MiB, first run (no resume data yet: every piece hashed, resume data saved)"
run first
: >"$work/results"
for i in $(seq "$runs"); do
    run resume
    run no-resume --no-resume
done
/usr/bin/python3 - "$work/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for label in ("resume", "no-resume"):
    r = [x for x in rows if x[0] == label]
    med[label] = [statistics.median(float(x[i]) for x in r) for i in (1, 2, 3)]
    print(f"median {label:10} wall {med[label][0]:.3f} s  cpu {med[label][1]:.3f} s  read {med[label][2]:.0f} bytes")
w = med["resume"][0] / med["no-resume"][0]
c = med["resume"][1] / max(med["no-resume"][1], 1e-9)
print(f"resume / no-resume: wall {w:.3f}x, cpu {c:.3f}x")
EOF
