#!/usr/bin/env bash
# Publishing a JWT-only configuration through the cluster store on etcd to
# 16, 64 and 200 members, and the same through the peer-to-peer push to 16
# and 64 members (bench/push.sh), in one run. Usage:
#
#   bench/etcd.sh [RUNS] [COUNT...]        (defaults: 3 runs; 16 64 200)
#
# For each count N: a three-member etcd cluster with TLS and client
# certificates on loopback (Debian's etcd-server; ETCD_MEMBERS=1 for one),
# N+1 appliances (release build) each served by `tacctl serve` and
# registered with `tacctl cluster store etcd`; once every member is live,
# the source changes its JWT secret and the timed command is
#
#   tacctl --root SRC cluster export --yes -c jwt --quiet --json --timeout 60
#
# which publishes one revision and returns when every member has reported
# applying it. Two figures per run: the command's wall time, and
# `waited_ms` from its JSON, the time from the publish (the etcd
# transaction) until the last member reported it applied. Every run checks
# that all N members applied it. The peer-to-peer figures come from
# `bench/push.sh RUNS 16 64` run right after, on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
shift || true
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(16 64 200)
ETCD_MEMBERS=${ETCD_MEMBERS:-3}
command -v etcd >/dev/null || { echo "bench/etcd.sh needs etcd (apt-get install etcd-server etcd-client)" >&2; exit 1; }

# TACCTL_BIN=PATH benchmarks that binary instead of this checkout's build
# (to compare two builds in one sitting).
if [ -n "${TACCTL_BIN:-}" ]; then
    TACCTL=$TACCTL_BIN
else
    cargo build --release --locked --quiet
    TACCTL=$PWD/target/release/tacctl
fi

WORK=$(mktemp -d "${TACCTL_BENCH_DIR:-/tmp}/tacctl-etcd-bench-XXXXXX")
PIDS=()
ETCD_PIDS=()
stop_servers() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
stop_etcd() {
    for p in "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${ETCD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ETCD_PIDS=()
}
trap 'stop_servers; stop_etcd; rm -rf "$WORK"' EXIT
umask 077
printf '%s\n' "bench-admin-password-2026" > "$WORK/admin.pw"
unset TACCTL_ADMIN_PASSWORD TACCTL_PASSWORD TACCTL_ADMIN_USER TACCTL_ROOT
export TACCTL_ADMIN_PASSWORD
TACCTL_ADMIN_PASSWORD=$(cat "$WORK/admin.pw")

# A CA, a certificate for 127.0.0.1 (etcd's server and peer ports) and a
# client certificate.
pki=$WORK/pki
mkdir "$pki"
(
    cd "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -subj /CN=bench-ca -days 2 2>/dev/null
    for who in server client; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout $who.key -out $who.csr -subj /CN=$who 2>/dev/null
    done
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    for who in server client; do
        openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out $who.pem -days 2 -extfile $who.ext 2>/dev/null
    done
)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_etcd() { # DIR: starts ETCD_MEMBERS members, sets ENDPOINTS
    local dir=$1 cluster="" i
    # TACCTL_BENCH_ETCD_DIR=/dev/shm puts etcd's data apart from the
    # appliances', to tell the two disks' shares apart.
    local data=${TACCTL_BENCH_ETCD_DIR:+$TACCTL_BENCH_ETCD_DIR/$(basename "$WORK")-$(basename "$dir")}
    data=${data:-$dir}
    local -a cports pports
    for i in $(seq "$ETCD_MEMBERS"); do
        cports[$i]=$(free_port)
        pports[$i]=$(free_port)
        cluster+="${cluster:+,}e$i=https://127.0.0.1:${pports[$i]}"
    done
    ENDPOINTS=""
    for i in $(seq "$ETCD_MEMBERS"); do
        etcd --name "e$i" --data-dir "$data/e$i" \
            --listen-client-urls "https://127.0.0.1:${cports[$i]}" \
            --advertise-client-urls "https://127.0.0.1:${cports[$i]}" \
            --listen-peer-urls "https://127.0.0.1:${pports[$i]}" \
            --initial-advertise-peer-urls "https://127.0.0.1:${pports[$i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --cert-file "$pki/server.pem" --key-file "$pki/server.key" \
            --trusted-ca-file "$pki/ca.pem" --client-cert-auth \
            --peer-cert-file "$pki/server.pem" --peer-key-file "$pki/server.key" \
            --peer-trusted-ca-file "$pki/ca.pem" --peer-client-cert-auth \
            --logger zap --log-outputs stderr --log-level error \
            > "$dir/e$i.log" 2>&1 &
        ETCD_PIDS+=($!)
        ENDPOINTS+="${ENDPOINTS:+,}https://127.0.0.1:${cports[$i]}"
    done
    for _ in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --cacert "$pki/ca.pem" \
            --cert "$pki/client.pem" --key "$pki/client.key" put /bench/ready 1 >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "etcd did not start" >&2
    exit 1
}

etcdctl_() {
    ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --cacert "$pki/ca.pem" \
        --cert "$pki/client.pem" --key "$pki/client.key" "$@"
}

mkdir "$WORK/set"
MAX=0
for n in "${COUNTS[@]}"; do [ "$n" -gt "$MAX" ] && MAX=$n; done
for i in $(seq 0 "$MAX"); do
    "$TACCTL" --root "$WORK/set/esa$i" init --name "esa$i" --cluster-id bench \
        --admin-password-file "$WORK/admin.pw" >/dev/null
done

one_run() { # N K: prints "wall:waited" of publish K to N members
    local n=$1 run=$WORK/run-$1-$2 i
    mkdir "$run"
    for i in $(seq 0 "$n"); do cp -a "$WORK/set/esa$i" "$run/esa$i"; done
    start_etcd "$run"
    for i in $(seq 0 "$n"); do
        "$TACCTL" --root "$run/esa$i" serve --listen 127.0.0.1:0 \
            > "$run/esa$i.out" 2> "$run/esa$i.log" &
        PIDS+=($!)
    done
    for i in $(seq 0 "$n"); do
        for _ in $(seq 600); do grep -q '^listening on' "$run/esa$i.out" 2>/dev/null && break; sleep 0.05; done
        read -r _ _ url _ < "$run/esa$i.out"
        "$TACCTL" --root "$run/esa$i" cluster store etcd --endpoints "$ENDPOINTS" \
            --cacert "$pki/ca.pem" --cert "$pki/client.pem" --key "$pki/client.key" \
            --url "$url" > /dev/null
    done
    # Every member live (its serve has taken the store up) and reporting.
    for _ in $(seq 600); do
        live=$(etcdctl_ get --prefix /tacctl/bench/live/ --keys-only | grep -c . || true)
        applied=$(etcdctl_ get --prefix /tacctl/bench/applied/ --keys-only | grep -c . || true)
        [ "${live:-0}" -eq $((n + 1)) ] && [ "${applied:-0}" -eq $((n + 1)) ] && break
        sleep 0.1
    done
    [ "${live:-0}" -eq $((n + 1)) ] || { echo "only $live of $((n + 1)) members went live" >&2; exit 1; }
    head -c 48 /dev/urandom | base64 > "$run/secret"
    "$TACCTL" --root "$run/esa0" jwt set-secret --secret-file "$run/secret" > /dev/null
    # CPU time (clock ticks) of the servers and of etcd during the publish.
    cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
    local serve0 etcd0 start end
    serve0=$(cpu "${PIDS[@]}")
    etcd0=$(cpu "${ETCD_PIDS[@]}")
    [ -z "${TACCTL_BENCH_PERF:-}" ] || { perf record -a -g -F 999 -o "${TMPDIR:-/tmp}/tacctl-perf-$n.data" >/dev/null 2>&1 & PERF=$!; sleep 0.5; }
    start=$(date +%s.%N)
    "$TACCTL" --root "$run/esa0" cluster export --yes -c jwt --quiet --json --timeout 60 \
        > "$run/publish.json" 2> "$run/publish.err" \
        || { cat "$run/publish.err" >&2; exit 1; }
    end=$(date +%s.%N)
    [ -z "${TACCTL_BENCH_PERF:-}" ] || { kill -INT "$PERF"; wait "$PERF" || true; }
    echo "$n members: servers' CPU $(echo "($(cpu "${PIDS[@]}") - $serve0) / $(getconf CLK_TCK)" | bc -l | cut -c1-5) s, etcd's $(echo "($(cpu "${ETCD_PIDS[@]}") - $etcd0) / $(getconf CLK_TCK)" | bc -l | cut -c1-5) s" >&2
    python3 - "$run/publish.json" "$((n + 1))" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
applied = [m for m in r["members"] if m["state"] == "applied"]
if len(applied) != int(sys.argv[2]):
    sys.exit("only %d of %s members applied" % (len(applied), sys.argv[2]))
PY
    waited=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["waited_ms"] / 1000)' "$run/publish.json")
    stop_servers
    stop_etcd
    rm -rf "$run" "${TACCTL_BENCH_ETCD_DIR:-$run}/$(basename "$WORK")-$(basename "$run")"
    echo "$(echo "$end - $start" | bc -l):$waited"
}

echo "tacctl $("$TACCTL" --version | cut -d' ' -f2), etcd $(etcd --version | head -1 | cut -d' ' -f3) x $ETCD_MEMBERS, $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for k in $(seq "$RUNS"); do
    for n in "${COUNTS[@]}"; do
        echo "$n $(one_run "$n" "$k")" >> "$WORK/times"
    done
done
python3 - "$WORK/times" <<'PY'
import collections, statistics, sys
wall, waited = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, r = line.split()
    w, p = r.split(":")
    wall[int(n)].append(float(w)); waited[int(n)].append(float(p))
for n in sorted(wall):
    print("etcd %3d members: command median %.3f s, publish-to-all-applied median %.3f s  (runs: %s)"
          % (n, statistics.median(wall[n]), statistics.median(waited[n]),
             ", ".join("%.3f/%.3f" % wp for wp in zip(wall[n], waited[n]))))
PY
echo "peer to peer, same machine, right after:"
bench/push.sh "$RUNS" 16 64 | sed 's/^/  /'
