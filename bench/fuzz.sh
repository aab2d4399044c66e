#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ (see docs/FUZZING.md) for a bounded
# number of executions and time, one after the other, and prints for each:
# executions done, executions per second, and what it found (crashes,
# timeouts, out-of-memory or leaks, each saved under fuzz/artifacts/TARGET/).
# Usage:
#   bench/fuzz.sh [RUNS] [SECONDS] [SANITIZER] [TARGET...]
#
# Defaults: 10,000,000 executions or 2,400 seconds per target, whichever
# comes first; no sanitizer (`none`: libFuzzer with debug assertions and
# overflow checks; `address` adds AddressSanitizer and LeakSanitizer at
# about a quarter of the speed); every target. Each target starts from
# fuzz/corpus/TARGET/, seeded from fixtures/ and a fresh appliance by
# `fuzz/examples/seeds.rs`, and keeps what it finds there for the next run.
# Memory is capped at 2 GiB per process (-rss_limit_mb) and an input at 30 s.
# Installs cargo-fuzz when it is missing; needs the nightly toolchain. Not
# part of the test suite. On a machine shared with others, run it under
# `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10000000}
MAX_SECONDS=${2:-2400}
SANITIZER=${3:-none}
shift $(( $# < 3 ? $# : 3 ))

command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly' ||
    { echo "bench/fuzz.sh: the nightly toolchain is missing (rustup toolchain install nightly)" >&2; exit 1; }
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# A target directory per sanitizer, so that switching does not rebuild.
cargo +nightly fuzz build -s "$SANITIZER" --target-dir "fuzz/target/$SANITIZER" >/dev/null
BIN=$PWD/fuzz/target/$SANITIZER/x86_64-unknown-linux-gnu/release
cargo +nightly run --release --locked --quiet --manifest-path fuzz/Cargo.toml --example seeds >/dev/null
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cargo +nightly fuzz list)

LOGS=$(mktemp -d /tmp/tacctl-fuzz-XXXXXX)
# Only this run's scratch directories: two runs on disjoint targets may
# share the machine, one per core.
cleanup() {
    rm -rf "$LOGS"
    for t in "${TARGETS[@]}"; do rm -rf /dev/shm/tacctl-fuzz-"$t"-* 2>/dev/null; done
}
trap cleanup EXIT
# Without detection of stack use after return: safe Rust cannot return a
# pointer to its stack, and the fake stacks it needs made each thread's start
# cost a millisecond (docs/FUZZING.md).
export ASAN_OPTIONS=detect_stack_use_after_return=0
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp

echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src fuzz || echo ' (modified)'), sanitizer $SANITIZER, $(date -u +%FT%TZ)"
printf '%-16s %12s %9s %8s  %s\n' target executions exec/s seconds findings
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    before=$(ls "fuzz/artifacts/$t" | sort)
    start=$(date +%s)
    set +e
    "$BIN/$t" "fuzz/corpus/$t" -runs="$RUNS" -max_total_time="$MAX_SECONDS" \
        -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$LOGS/$t.log" 2>&1
    rc=$?
    set -e
    seconds=$(( $(date +%s) - start ))
    # The final statistics when libFuzzer ended normally; the last status
    # line when it stopped at a finding.
    execs=$(awk '/^stat::number_of_executed_units:/ {print $NF}' "$LOGS/$t.log")
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]\+' "$LOGS/$t.log" | tail -1 | tr -d '#')
    rate=$(awk '/^stat::average_exec_per_sec:/ {print $NF}' "$LOGS/$t.log")
    [ -n "$rate" ] || rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
    found=$(comm -13 <(echo "$before") <(ls "fuzz/artifacts/$t" | sort) | tr '\n' ' ')
    [ -n "$found" ] || { [ "$rc" = 0 ] && found=none || found="exit $rc, see below"; }
    printf '%-16s %12s %9s %8s  %s\n' "$t" "${execs:-?}" "$rate" "$seconds" "$found"
    if [ "$rc" != 0 ]; then
        grep -m1 -B2 -A25 -E '^==[0-9]+==|panicked|ERROR: libFuzzer' "$LOGS/$t.log" | sed 's/^/    /' >&2 || true
    fi
    rm -rf /dev/shm/tacctl-fuzz-"$t"-* /tmp/tacctl-fuzz-"$t"-* 2>/dev/null || true
done
