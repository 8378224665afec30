#!/usr/bin/env bash
# Torrent creation throughput: seedbed's `create` example against mktorrent
# (v1) and python3-libtorrent (v2, hybrid) on one 1 GiB file of random
# bytes. Whole-process wall time, 3 runs each, page cache warm (the file is
# written just before). Piece length 256 KiB (mktorrent's default, -l 18).
#
#   scripts/bench-create.sh            # build the example, then measure
#   SIZE_MIB=256 RUNS=5 scripts/bench-create.sh
#   CREATE_BIN=/path/to/create scripts/bench-create.sh   # skip the build
#
# Prints one line per run and, per mode, the median wall seconds, MiB/s and
# CPU seconds (user + system), and the ratios ours / theirs (below 1 means
# we are faster). On a shared machine wall time follows the load; CPU time
# is the steadier figure.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
PIECE=262144
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-create}

if [[ -z "${CREATE_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --example create >&2)
    CREATE_BIN="$CARGO_TARGET_DIR/release/examples/create"
fi
command -v mktorrent >/dev/null || { echo "mktorrent not installed" >&2; exit 1; }
"$PYTHON" -c 'import libtorrent' || { echo "python3-libtorrent not installed" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-create.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
DATA="$TMP/data.bin"
echo "making ${SIZE_MIB} MiB of random data in $TMP" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$DATA"
cat "$DATA" > /dev/null   # into the page cache

cat > "$TMP/lt_create.py" <<'PY'
import sys, os, libtorrent as lt
path, out, piece, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
flags = {"v2": lt.create_torrent.v2_only, "hybrid": 0, "v1": lt.create_torrent.v1_only}[mode]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, piece, flags=flags)
ct.add_tracker("http://tracker.example/announce")
lt.set_piece_hashes(ct, os.path.dirname(path))
open(out, "wb").write(lt.bencode(ct.generate()))
PY

# time_run CMD... : prints "wall cpu" seconds of one run (timeout 600 s);
# cpu = user + system time of the process and its threads.
time_run() {
    rm -f "$TMP/out.torrent"
    /usr/bin/time -f "%e %U %S" -o "$TMP/time.txt" timeout 600 "$@" > /dev/null 2>&1
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$TMP/time.txt"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A MED CPU
bench() {
    local key=$1; shift
    local walls=() cpus=()
    for i in $(seq "$RUNS"); do
        local w c
        read -r w c < <(time_run "$@")
        walls+=("$w")
        cpus+=("$c")
        printf '%-18s run %d: %7.3f s wall %7.3f s cpu\n' "$key" "$i" "$w" "$c"
    done
    MED[$key]=$(printf '%s\n' "${walls[@]}" | median)
    CPU[$key]=$(printf '%s\n' "${cpus[@]}" | median)
}

TR=http://tracker.example/announce
bench "seedbed v1"       "$CREATE_BIN" "$DATA" -o "$TMP/out.torrent" --v1 --piece-length $PIECE --tracker $TR --quiet
bench "mktorrent v1"     mktorrent -a $TR -l 18 -o "$TMP/out.torrent" "$DATA"
bench "seedbed v2"       "$CREATE_BIN" "$DATA" -o "$TMP/out.torrent" --v2 --piece-length $PIECE --tracker $TR --quiet
bench "libtorrent v2"    "$PYTHON" "$TMP/lt_create.py" "$DATA" "$TMP/out.torrent" $PIECE v2
bench "seedbed hybrid"   "$CREATE_BIN" "$DATA" -o "$TMP/out.torrent" --hybrid --piece-length $PIECE --tracker $TR --quiet
bench "libtorrent hybrid" "$PYTHON" "$TMP/lt_create.py" "$DATA" "$TMP/out.torrent" $PIECE hybrid

echo
echo "medians, ${SIZE_MIB} MiB, $(nproc) cores, piece length $PIECE, load average $(cut -d' ' -f1 /proc/loadavg):"
for k in "seedbed v1" "mktorrent v1" "seedbed v2" "libtorrent v2" "seedbed hybrid" "libtorrent hybrid"; do
    awk -v k="$k" -v s="${MED[$k]}" -v c="${CPU[$k]}" -v m="$SIZE_MIB" \
        'BEGIN { printf "  %-18s %7.3f s wall %7.0f MiB/s %7.3f s cpu\n", k, s, m / s, c }'
done
ratio() {
    awk -v a="${MED[$1]}" -v b="${MED[$2]}" -v ca="${CPU[$1]}" -v cb="${CPU[$2]}" -v n1="$1" -v n2="$2" \
        'BEGIN { printf "  %-15s / %-18s wall %.2f  cpu %.2f\n", n1, n2, a / b, ca / cb }'
}
echo "ratios (ours / theirs, below 1 = seedbed faster or cheaper):"
ratio "seedbed v1" "mktorrent v1"
ratio "seedbed v2" "libtorrent v2"
ratio "seedbed hybrid" "libtorrent hybrid"
