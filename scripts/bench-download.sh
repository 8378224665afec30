#!/usr/bin/env bash
# Whole-download benchmark against python3-libtorrent on loopback (issue 6):
# builds the download example in release mode, then runs
# scripts/bench_download.py (1 GiB, three runs each, alternating).
# Extra arguments go to the Python script (e.g. --size 256 --runs 1; --v2
# for a v2-only torrent, BEP 52; --utp runs the transfers over uTP, with
# seedbed over TCP beside).
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
cargo build --release --example download
target_dir=$(cargo metadata --format-version 1 --no-deps | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec /usr/bin/python3 scripts/bench_download.py --download-bin "$target_dir/release/examples/download" "$@"
