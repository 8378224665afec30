#!/usr/bin/env bash
# Whole-upload benchmark against python3-libtorrent on loopback (issue 15):
# builds the seed example in release mode, then runs scripts/bench_seed.py
# (1 GiB, a python3-libtorrent leecher fetching it from our seed and from a
# python3-libtorrent seed, three runs each, alternating).
# Extra arguments go to the Python script (e.g. --size 256 --runs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import libtorrent' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-libtorrent time >/dev/null
    else
        echo "python3-libtorrent is required" >&2
        exit 1
    fi
fi
cargo build --release --example seed
target_dir=$(cargo metadata --format-version 1 --no-deps | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec /usr/bin/python3 scripts/bench_seed.py --seed-bin "$target_dir/release/examples/seed" "$@"
