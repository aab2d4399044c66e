#!/usr/bin/env bash
# The cost of the token check on the REST API: wrk drives, in one run,
# `GET /api/v1/appliance` with a valid token against `GET /healthz` (no
# authentication) on the same server, first over plain HTTP (loopback) and
# then over HTTPS. Usage: bench/api.sh [SECONDS] [CONNECTIONS]
#
# Defaults: 30 seconds per route and 64 connections, wrk with 2 threads on
# the same machine as the server. TACCTL_BENCH_ALGORITHMS (default "HS256
# RS256 EdDSA") lists the JWT algorithms to measure, each in turn: the
# appliance is switched to it (`jwt set-algorithm`, a new key pair for
# RS256, RSA 3072, and EdDSA) before its runs. `healthz-same-headers` sends /healthz the
# same Authorization header as the authenticated route, so the two requests
# differ only in the token check and the response. Needs Debian's wrk. The token reaches wrk
# through a private Lua script, never a command-line argument.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
CONNECTIONS=${2:-64}

for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "bench/api.sh: $tool is missing (apt-get install wrk curl)" >&2; exit 1; }
done
cargo build --release --locked --quiet
TACCTL=$PWD/target/release/tacctl

WORK=$(mktemp -d /tmp/tacctl-bench-api-XXXXXX)
umask 077
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
export TACCTL_ADMIN_PASSWORD="bench-admin-password"
"$TACCTL" --root "$WORK/esa1" init --name esa1 --cluster-id bench >/dev/null
printf '%s' "$TACCTL_ADMIN_PASSWORD" >"$WORK/password"
unset TACCTL_ADMIN_PASSWORD

start() { # start MODE: prints the base URL
    "$TACCTL" --root "$WORK/esa1" serve --listen 127.0.0.1:0 "$@" \
        >"$WORK/stdout" 2>"$WORK/server.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q listening "$WORK/stdout" 2>/dev/null && break
        sleep 0.05
    done
    BASE=$(grep -o 'https\?://[0-9.:]*' "$WORK/stdout")
}
stop() {
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

# run NAME URL [LUA]: one wrk run, summarised as "name rps p99 errors".
run() {
    local name=$1 url=$2 script=${3:-}
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency ${script:+-s "$script"} "$url")
    local rps p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
    printf '%-28s %12s req/s   p99 %-9s %s\n' "$name" "$rps" "$p99" "${errors:-no errors}"
    echo "$rps" >"$WORK/rps-$name"
}

summary() { # summary SCHEME
    local auth health same
    auth=$(cat "$WORK/rps-$1-appliance") health=$(cat "$WORK/rps-$1-healthz")
    same=$(cat "$WORK/rps-$1-healthz-same-headers")
    python3 -c "print(f'$1: appliance/healthz = {$auth/$health:.3f}; appliance/healthz-same-headers = {$auth/$same:.3f}')"
}

ALGORITHMS=${TACCTL_BENCH_ALGORITHMS:-HS256 RS256 EdDSA}
for alg in $ALGORITHMS; do
"$TACCTL" --root "$WORK/esa1" jwt set-algorithm "$alg" --admin-password-file "$WORK/password" >/dev/null
for scheme in http https; do
    if [ "$scheme" = http ]; then start --insecure-http; else start; fi
    token=$(curl -sk --fail -D - -o /dev/null "$BASE/api/v1/auth/login/token" \
        --data-urlencode loginname=admin --data-urlencode "password@$WORK/password" |
        awk -F': ' 'tolower($1)=="pty_access_jwt_token" {print $2}' | tr -d '\r')
    [ -n "$token" ] || { echo "bench/api.sh: login failed" >&2; exit 1; }
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$WORK/auth.lua"
    echo "== $alg, $scheme ($BASE), $CONNECTIONS connections, ${SECONDS_EACH}s each"
    run "$scheme-healthz" "$BASE/healthz"
    run "$scheme-healthz-same-headers" "$BASE/healthz" "$WORK/auth.lua"
    run "$scheme-appliance" "$BASE/api/v1/appliance" "$WORK/auth.lua"
    summary "$scheme"
    stop
done
done
