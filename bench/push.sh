#!/usr/bin/env bash
# The Cluster Export Wizard's push, non-interactive and JWT only, from one
# appliance to 1, 4 and 16 members served on loopback; the wall time of
# each `tacctl cluster export`. Usage: bench/push.sh [RUNS] [COUNT...]
#
# The appliances (a source and 16 targets, each with its own JWT key) are
# made once; every run starts from a fresh copy of them, so every target
# really changes, starts N servers (`tacctl serve`, release build), writes
# the source's config/cluster.yaml with their URLs and fingerprints, times
#
#   tacctl --root SRC cluster export --yes -c jwt --quiet --password-file F
#
# checks that every member reports "applied", and stops the servers.
# The counts take turns run by run, and every run's copy is made before
# the first push. TACCTL_BENCH_KDF=test pushes with `--kdf-cost test` to see what the
# key derivation costs. RUNS defaults to 5, the counts to 1 4 16.
#
# TACCTL_BENCH_SCENARIO picks the cluster the push finds:
#   first   (default) members that do not yet accept the source's token, so
#           the push logs in on each with the administrator's password;
#   joined  members that already hold the source's JWT configuration (an
#           untimed push first), after which the source changes its token
#           expiry: the timed push signs in with the source's own token, as
#           in a cluster that is already set up.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
shift || true
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(1 4 16)
KDF=${TACCTL_BENCH_KDF:-default}
SCENARIO=${TACCTL_BENCH_SCENARIO:-first}
case "$SCENARIO" in first|joined) ;; *) echo "TACCTL_BENCH_SCENARIO: first or joined" >&2; exit 2;; esac
MAX=0
for n in "${COUNTS[@]}"; do [ "$n" -gt "$MAX" ] && MAX=$n; done

cargo build --release --locked --quiet
TACCTL=$PWD/target/release/tacctl

WORK=$(mktemp -d "${TACCTL_BENCH_DIR:-/tmp}/tacctl-push-bench-XXXXXX")
PIDS=()
stop_servers() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap 'stop_servers; rm -rf "$WORK"' EXIT
umask 077
printf '%s\n' "bench-admin-password-2026" > "$WORK/admin.pw"
unset TACCTL_ADMIN_PASSWORD TACCTL_PASSWORD TACCTL_ADMIN_USER TACCTL_ROOT

mkdir "$WORK/set"
for i in $(seq 0 "$MAX"); do
    "$TACCTL" --root "$WORK/set/esa$i" init --name "esa$i" --cluster-id bench \
        --admin-password-file "$WORK/admin.pw" >/dev/null
done

# Every run's copy of the appliances is made before the first push and
# deleted only at the end: on a file system like this VM's (ext4 without a
# journal), creating files within about half a minute of mass deletions
# makes ext4 skip every inode freed meanwhile, and 16 targets creating
# their staging files pay for that walk 16 times over.
mkdir "$WORK/runs"
for c in "${!COUNTS[@]}"; do
    for k in $(seq "$RUNS"); do cp -a "$WORK/set" "$WORK/runs/$c-$k"; done
done

one_run() { # N C K: prints the wall seconds of push K to N members (COUNTS[C])
    local n=$1 run=$WORK/runs/$2-$3
    {
        echo "version: 1"
        echo "members:"
    } > "$run/esa0/config/cluster.yaml"
    for i in $(seq 1 "$n"); do
        "$TACCTL" --root "$run/esa$i" serve --listen 127.0.0.1:0 \
            > "$run/esa$i.out" 2> "$run/esa$i.log" &
        PIDS+=($!)
    done
    for i in $(seq 1 "$n"); do
        for _ in $(seq 200); do grep -q '^listening on' "$run/esa$i.out" 2>/dev/null && break; sleep 0.05; done
        read -r _ _ url _ fp < "$run/esa$i.out"
        fp=${fp%)}
        printf '  - name: esa%s\n    url: %s\n    fingerprint: %s\n    added_at: 0\n' "$i" "$url" "$fp" \
            >> "$run/esa0/config/cluster.yaml"
    done
    if [ "$SCENARIO" = joined ]; then
        "$TACCTL" --root "$run/esa0" cluster export --yes -c jwt --quiet --kdf-cost "$KDF" \
            --password-file "$WORK/admin.pw" > /dev/null 2>&1
        "$TACCTL" --root "$run/esa0" jwt set-expiry 45 minutes \
            --admin-password-file "$WORK/admin.pw" > /dev/null
    fi
    logins() { cat "$run"/esa*.log | grep -c 'path=/api/v1/auth/login/token' || true; }
    local logins_before
    logins_before=$(logins)
    # The CPU time the servers spent before the push (clock ticks), not counted.
    local ticks=0
    for p in "${PIDS[@]}"; do ticks=$((ticks - $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    local start end
    start=$(date +%s.%N)
    "$TACCTL" --root "$run/esa0" cluster export --yes -c jwt --quiet --kdf-cost "$KDF" \
        --password-file "$WORK/admin.pw" > "$run/push.out" 2> "$run/push.err" \
        || { cat "$run/push.out" "$run/push.err" >&2; exit 1; }
    end=$(date +%s.%N)
    grep -q "All $n members hold the new configuration." "$run/push.out" \
        || { cat "$run/push.out" >&2; exit 1; }
    if [ "$SCENARIO" = joined ] && [ "$(logins)" != "$logins_before" ]; then
        echo "the joined push logged in on a member: it should have used the source's token" >&2
        exit 1
    fi
    # The CPU time the servers spent on this push (clock ticks).
    for p in "${PIDS[@]}"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
    stop_servers
    echo "$(echo "$end - $start" | bc -l):$(echo "$ticks / $(getconf CLK_TCK)" | bc -l)"
}

echo "tacctl $("$TACCTL" --version | cut -d' ' -f2), scenario $SCENARIO, KDF cost $KDF, $RUNS runs, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# The counts take turns (1, 4, 16, 1, 4, 16, ...), so a machine that gets
# busier or quieter during the run weighs on every count alike.
declare -A TIMES
for k in $(seq "$RUNS"); do
    for c in "${!COUNTS[@]}"; do
        TIMES[$c]+=" $(one_run "${COUNTS[$c]}" "$c" "$k")"
    done
done
for c in "${!COUNTS[@]}"; do
    printf '%s%s\n' "${COUNTS[$c]}" "${TIMES[$c]}" >> "$WORK/times"
done
python3 - "$WORK/times" <<'PY'
import statistics, sys
med = {}
for line in open(sys.argv[1]):
    n, *runs = line.split()
    n = int(n)
    ts = [float(r.split(":")[0]) for r in runs]
    cpu = [float(r.split(":")[1]) for r in runs]
    med[n] = statistics.median(ts)
    print("%3d members: median %.3f s, servers' CPU median %.2f s  (runs: %s)"
          % (n, med[n], statistics.median(cpu), ", ".join("%.3f" % t for t in ts)))
if 1 in med:
    for n in sorted(med):
        if n > 1:
            print("%3d members / 1 member: %.2f x" % (n, med[n] / med[1]))
PY
