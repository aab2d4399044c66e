#!/usr/bin/env sh
# Criterion benchmark of tacctl::jwt::issue / verify (HS256, HS384, HS512) and
# the raw HMAC-SHA256 baseline; results are described in docs/BENCHMARKS.md.
# Extra arguments are passed to criterion (e.g. a filter such as `jwt/verify`).
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --bench jwt -- --warm-up-time 1 --measurement-time 3 "$@"
