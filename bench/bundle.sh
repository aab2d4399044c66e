#!/usr/bin/env bash
# Export and import of custom files against tar | gzip -6 | age, on the same
# tree, in one run. Usage: bench/bundle.sh [SIZE_MIB] [RUNS]
#
# Fills an appliance's files/ with SIZE_MIB (default 256) of configuration-like
# files (half text, half random binary, thousands of files), then times, RUNS
# times each (default 3), `tacctl export -c files` against
# `tar -cf - | gzip -6 | age -r KEY` and `tacctl import` onto a new copy of
# a second appliance against `age -d | gzip -d | tar -xf -` into a new
# directory, recording wall time and peak memory with GNU time, each command
# after a `sync`; the two imports of a run take turns going first. Needs
# Debian's age and time packages. Use an even RUNS, so that each import goes
# first as often as the other. TACCTL_BENCH_AFTER_DELETE=1 imports right
# after deleting the previous run's trees instead (see below). Both imports
# read a copy of their bundle made just before them.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-256}
RUNS=${2:-3}

for tool in age age-keygen /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "bench/bundle.sh: $tool is missing (apt-get install age time)" >&2; exit 1; }
done
cargo build --release --locked --quiet
TACCTL=$PWD/target/release/tacctl

WORK=$(mktemp -d /tmp/tacctl-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export TACCTL_ADMIN_PASSWORD="bench-admin-password"
export TACCTL_PASSPHRASE="bench passphrase that is long enough 2026"
"$TACCTL" --root "$WORK/e1" init --name esa1 --cluster-id bench >/dev/null
"$TACCTL" --root "$WORK/e2.clean" init --name esa2 --cluster-id bench >/dev/null

python3 - "$WORK/e1/files" "$SIZE_MIB" <<'PY'
import os, random, sys
base, total = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(2026)
words = [w.encode() for w in "policy key cluster appliance token secret rotate audit member role access dns ntp syslog ca cert chain".split()]
written, i = 0, 0
while written < total:
    d = os.path.join(base, f"dir{i % 40:02}", f"sub{(i // 40) % 10}")
    os.makedirs(d, exist_ok=True)
    size = min(rng.choice([2_000, 8_000, 32_000, 64_000, 200_000]), total - written)
    if i % 2:
        data = rng.randbytes(size)
        name = f"blob{i}.bin"
    else:
        out = bytearray()
        while len(out) < size:
            out += b" ".join(rng.choice(words) for _ in range(12)) + b": %d\n" % rng.randrange(10**6)
        data = bytes(out[:size])
        name = f"conf{i}.yaml"
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    written += size
    i += 1
print(f"{i} files, {written >> 20} MiB", file=sys.stderr)
PY

age-keygen -o "$WORK/age.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/age.key")

measure() { # label, command...
    local label=$1; shift
    # Start each command with nothing left to write: tacctl's import ends
    # with a syncfs, which would otherwise also write out what the command
    # before it left in the page cache (the pipelines never sync). Then let
    # the disk settle: right after a sync of the pipeline's 256 MiB, an
    # import that syncs its own (tacctl's) took about 0.2 s longer than one
    # that followed tacctl's (see docs/BENCHMARKS.md).
    sync
    sleep "${TACCTL_BENCH_SETTLE:-3}"
    /usr/bin/time -f "$label %e %M %U %S" -a -o "$WORK/times" "$@" >/dev/null
}

for run in $(seq "$RUNS"); do
    rm -f "$WORK/out.tb" "$WORK/out.age"
    measure tacctl-export "$TACCTL" --root "$WORK/e1" export -c files -o "$WORK/out.tb"
    measure pipeline-export sh -c "tar -C '$WORK/e1/files' -cf - . | gzip -6 | age -r '$RECIPIENT' > '$WORK/out.age'"
    # Each run imports into a new copy of the second appliance and a new
    # directory, and the trees are deleted only at the end. On ext4 without
    # a journal (as on this machine) every file created within a minute of
    # a mass deletion first walks past each recently freed inode of its
    # block group: deleting the last run's 9,000 files here would add about
    # the same half second or more to both imports, measuring the file
    # system's cleanup rather than the tools. TACCTL_BENCH_AFTER_DELETE=1
    # measures that case instead.
    if [[ ${TACCTL_BENCH_AFTER_DELETE:-0} == 1 ]]; then
        E2=$WORK/e2 DEST=$WORK/dest
        rm -rf "$E2" "$DEST"
    else
        E2=$WORK/e2.$run DEST=$WORK/dest.$run
    fi
    cp -a "$WORK/e2.clean" "$E2" && mkdir -p "$DEST"
    # Each import reads a copy of its bundle written just before the pair,
    # so that both inputs are equally fresh in the page cache. Without it
    # tacctl's bundle had sat for the pipeline's whole export (9 s) when
    # the pipeline's file was seconds old; on this virtual machine, page
    # cache left alone for seconds is slow to read again (see
    # docs/BENCHMARKS.md, "Bundle files that sat idle").
    cp "$WORK/out.tb" "$WORK/in.tb" && cp "$WORK/out.age" "$WORK/in.age"
    # The two imports take turns going first, so that neither always meets
    # what the other left to the file system.
    if (( run % 2 == 1 )); then
        measure tacctl-import "$TACCTL" --root "$E2" import "$WORK/in.tb" --yes
        measure pipeline-import sh -c "age -d -i '$WORK/age.key' '$WORK/in.age' | gzip -d | tar -xf - -C '$DEST'"
    else
        measure pipeline-import sh -c "age -d -i '$WORK/age.key' '$WORK/in.age' | gzip -d | tar -xf - -C '$DEST'"
        measure tacctl-import "$TACCTL" --root "$E2" import "$WORK/in.tb" --yes
    fi
    rm -f "$WORK/in.tb" "$WORK/in.age"
done

echo "bundle $(stat -c %s "$WORK/out.tb") bytes, age file $(stat -c %s "$WORK/out.age") bytes"
python3 - "$WORK/times" <<'PY'
import math, statistics, sys
rows, cpu = {}, {}
for line in open(sys.argv[1]):
    label, wall, rss, user, system = line.split()
    rows.setdefault(label, []).append((float(wall), int(rss)))
    cpu.setdefault(label, []).append(float(user) + float(system))
med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in rows.items()}
print(f"{'command':<16} {'median wall s':>14} {'peak RSS MiB':>13} {'median CPU s':>13}")
for k in ["tacctl-export", "pipeline-export", "tacctl-import", "pipeline-import"]:
    w, r = med[k]
    print(f"{k:<16} {w:>14.2f} {r / 1024:>13.1f} {statistics.median(cpu[k]):>13.2f}")
print(f"export ratio tacctl/pipeline: {med['tacctl-export'][0] / med['pipeline-export'][0]:.2f} (target <= 0.35)")
print(f"import ratio tacctl/pipeline: {med['tacctl-import'][0] / med['pipeline-import'][0]:.2f} (target <= 0.70)")
# Each tacctl run is timed right before or after its pipeline run: the ratio
# of each pair is less exposed to the load of a shared machine than the
# medians. Imports alternate which goes first (odd runs: tacctl).
for op in ["export", "import"]:
    pairs = list(zip(rows[f"tacctl-{op}"], rows[f"pipeline-{op}"]))
    ratios = [t / p for (t, _), (p, _) in pairs]
    runs = "  ".join(f"{t:.2f}/{p:.2f}" for (t, _), (p, _) in pairs)
    geo = math.exp(statistics.mean(math.log(r) for r in ratios))
    print(f"{op} runs tacctl/pipeline s: {runs}; pair ratios: median {statistics.median(ratios):.2f}, geometric mean {geo:.2f}")
    cpus = "  ".join(f"{t:.2f}/{p:.2f}" for t, p in zip(cpu[f"tacctl-{op}"], cpu[f"pipeline-{op}"]))
    print(f"{op} runs' CPU (user + system) tacctl/pipeline s: {cpus}")
PY
