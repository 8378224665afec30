#!/usr/bin/env bash
# The project's test command (README.md "Quick start"); .ci/run calls it.
#
# 1. Installs what the tests need and a fresh machine lacks, when it can
#    (root with apt-get): opentracker, python3-libtorrent, transmission,
#    mktorrent, tmux (the `seedbed tui` tests drive it in tmux); and
#    cargo-fuzz.
# 2. Runs fmt check, clippy -D warnings, rustdoc -D warnings, every test of
#    every crate with all features, and a short fuzz run of every target.
#
# Environment: FUZZ_SECONDS (default 20) per fuzz target; SKIP_FUZZ=1 skips
# fuzzing; CI=true makes tests that need ../shared/corpus or a real client
# fail instead of skip when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
step() { printf '\n==== %s\n' "$*"; }

install_system_packages() {
    local missing=()
    command -v opentracker >/dev/null 2>&1 || [ -x /usr/bin/opentracker ] || missing+=(opentracker)
    command -v mktorrent >/dev/null 2>&1 || missing+=(mktorrent)
    command -v transmission-cli >/dev/null 2>&1 || missing+=(transmission-cli)
    command -v transmission-daemon >/dev/null 2>&1 || missing+=(transmission-daemon)
    command -v transmission-create >/dev/null 2>&1 || missing+=(transmission-cli)
    /usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || missing+=(python3-libtorrent)
    command -v tmux >/dev/null 2>&1 || missing+=(tmux)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "system packages: all present"
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "system packages missing (${missing[*]}) and cannot install them here; tests that need them will skip (or fail with CI=true)"
        return
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz: $(cargo fuzz --version)"
        return
    fi
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
}

step "install test dependencies"
install_system_packages
install_cargo_fuzz

step "cargo fmt --check"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

step "cargo test (all crates, all features)"
cargo test --workspace --all-features

if [ "${SKIP_FUZZ:-0}" = 1 ]; then
    step "fuzzing skipped (SKIP_FUZZ=1)"
    exit 0
fi

step "fuzz: ${FUZZ_SECONDS}s per target"
(
    cd fuzz
    export RUSTC_BOOTSTRAP=1
    cargo fuzz build -O
    for target in $(cargo fuzz list); do
        echo "-- $target"
        mkdir -p "corpus/$target"
        seeds=()
        [ -d "seeds/$target" ] && seeds+=("seeds/$target")
        # Real torrents seed the parsers' fuzzers (read in place, never copied).
        case "$target" in
            bencode_decode | metainfo_parse) [ -d ../../shared/corpus ] && seeds+=(../../shared/corpus) ;;
        esac
        log="target/fuzz-$target.log"
        mkdir -p target
        if ! cargo fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
            -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 >"$log" 2>&1; then
            tail -n 60 "$log"
            echo "fuzz target $target FAILED"
            exit 1
        fi
        grep -E '^#[0-9]+ +DONE|^Done [0-9]+ runs' "$log" | tail -n 1 || true
    done
)
step "all checks passed"
