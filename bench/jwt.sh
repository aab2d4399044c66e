#!/usr/bin/env sh
# Criterion benchmark of tacctl::jwt::issue / verify for every algorithm, the
# raw HMAC-SHA256 baseline, then `openssl speed` for the key-pair sizes the
# benchmark uses (rsa3072, ecdsap256, ecdsap384, ed25519), in the same run, on
# one core each: results are described in docs/BENCHMARKS.md. Extra
# arguments are passed to criterion (e.g. a filter such as `jwt/verify`).
# TACCTL_BENCH_CPU chooses the core both are pinned to (default 1).
set -eu
cd "$(dirname "$0")/.."
CPU=${TACCTL_BENCH_CPU:-1}
cargo bench --no-run --bench jwt >/dev/null 2>&1
taskset -c "$CPU" cargo bench --bench jwt -- --warm-up-time 1 --measurement-time 3 "$@"
echo "== openssl speed (pinned to CPU $CPU), for comparison =="
taskset -c "$CPU" openssl speed -seconds 3 rsa3072 ecdsap256 ecdsap384 ed25519 2>/dev/null \
    | grep -E '^(rsa|ecdsa|eddsa)|^ *(sign|  )|^ +[0-9]+ bits|^version|^built|options' || true
