#!/usr/bin/env bash
# What one password check costs a server that sat idle: logins on a fresh
# `tacctl serve` (release build), each after a pause, with the server's CPU
# time for each one read from /proc/PID/stat. Usage:
#   bench/login.sh [ROUNDS] [PAUSE_S] [OTHER_TACCTL]
# Defaults: 5 logins, 1.5 s apart. With OTHER_TACCTL (another build's
# binary), the two servers take turns, in one run. The password goes to curl
# through a private file, never an argument.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
PAUSE=${2:-1.5}
OTHER=${3:-}
command -v curl >/dev/null || { echo "bench/login.sh: curl is missing (apt-get install curl)" >&2; exit 1; }
cargo build --release --locked --quiet
BINS=("$PWD/target/release/tacctl")
[ -n "$OTHER" ] && BINS+=("$(realpath "$OTHER")")

WORK=$(mktemp -d /tmp/tacctl-bench-login-XXXXXX)
umask 077
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
printf '%s' "bench-admin-password-2026" >"$WORK/password"
URLS=()
for i in "${!BINS[@]}"; do
    "${BINS[$i]}" --root "$WORK/a$i" init --name "a$i" --cluster-id bench \
        --admin-password-file "$WORK/password" >/dev/null
    "${BINS[$i]}" --root "$WORK/a$i" serve --listen 127.0.0.1:0 >"$WORK/out$i" 2>"$WORK/log$i" &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q '^listening on' "$WORK/out$i" 2>/dev/null && break; sleep 0.05; done
    URLS+=("$(grep -o 'https://[0-9.:]*' "$WORK/out$i")")
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
for _ in $(seq "$ROUNDS"); do
    for i in "${!BINS[@]}"; do
        sleep "$PAUSE"
        before=$(ticks "${PIDS[$i]}")
        start=$(date +%s%N)
        code=$(curl -sk -o /dev/null -w '%{http_code}' "${URLS[$i]}/api/v1/auth/login/token" \
            --data-urlencode loginname=admin --data-urlencode "password@$WORK/password")
        end=$(date +%s%N)
        [ "$code" = 200 ] || { echo "login on server $i answered $code" >&2; exit 1; }
        echo "$i $(( (end - start) / 1000000 )) $(( ($(ticks "${PIDS[$i]}") - before) * 1000 / TCK ))" >>"$WORK/times"
    done
done
echo "$ROUNDS logins each, ${PAUSE} s apart; CPU in ${TCK} Hz clock ticks, so in steps of $((1000 / TCK)) ms"
python3 - "$WORK/times" "${BINS[@]}" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for i, b in enumerate(sys.argv[2:]):
    mine = [(int(w), int(c)) for j, w, c in rows if int(j) == i]
    print(f"{b}: wall ms {[w for w, _ in mine]} (median {statistics.median(w for w, _ in mine)}), "
          f"server CPU ms {[c for _, c in mine]} (median {statistics.median(c for _, c in mine)})")
PY
