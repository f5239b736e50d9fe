#!/usr/bin/env bash
# Diffs a large generated pair under a memory cap: by default 50,000,000
# rows x 10 columns (the peers' layout) within 12 GiB.
#
#   bash benches/memory.sh                 # 50,000,000 rows, 12 GiB cap
#   ROWS=5000000 CAP_GIB=2 bash benches/memory.sh
#
# The cap is a memory cgroup (v2 or v1) when this user may make one (root);
# it charges the process's memory and the page cache it fills (spill files
# included), so the run proves the diff fits, not only that its resident
# set was small. Without a cgroup the run is uncapped and only the peak
# resident set is reported. Prints wall time, peak RSS, the cgroup's peak,
# and whether the counts equal the generator's.
set -euo pipefail

ROWS=${ROWS:-50000000}
CAP_GIB=${CAP_GIB:-12}
THREADS=${THREADS:-2}
cd "$(dirname "$0")/.."
PAIR=${PAIR:-target/bench-pair-$ROWS}
DUALRUN=${DUALRUN:-target/release/dualrun}

if [ "$DUALRUN" = target/release/dualrun ]; then
    cargo build --release --quiet
fi
if [ ! -f "$PAIR/expected.json" ]; then
    echo "generating $ROWS rows into $PAIR" >&2
    "$DUALRUN" bench generate --out "$PAIR" --rows "$ROWS" > "$PAIR.expected.json"
    mv "$PAIR.expected.json" "$PAIR/expected.json"
fi

# A memory cgroup to run in, if one can be made.
group=""
cap_bytes=$((CAP_GIB * 1024 * 1024 * 1024))
if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    group=/sys/fs/cgroup/dualrun-memory-bench
    mkdir -p "$group"
    echo "$cap_bytes" > "$group/memory.max"
    echo 0 > "$group/memory.swap.max" 2>/dev/null || true
    peak_file=memory.peak
elif [ -w /sys/fs/cgroup/memory ]; then
    group=/sys/fs/cgroup/memory/dualrun-memory-bench
    mkdir -p "$group"
    echo "$cap_bytes" > "$group/memory.limit_in_bytes"
    echo 0 > "$group/memory.max_usage_in_bytes"
    peak_file=memory.max_usage_in_bytes
fi
trap '[ -n "$group" ] && rmdir "$group" 2>/dev/null || true' EXIT

report=$(mktemp)
python3 - "$DUALRUN" "$PAIR" "$THREADS" "$report" "$group" <<'PY'
import json, os, resource, subprocess, sys, time
dualrun, pair, threads, report, group = sys.argv[1:6]
command = [dualrun, "diff", f"{pair}/prod.parquet", f"{pair}/candidate.parquet",
           "--key", "id", "--threads", threads, "--format", "json"]
def enter_group():
    if group:
        with open(os.path.join(group, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
started = time.monotonic()
with open(report, "w") as out:
    code = subprocess.run(command, stdout=out, preexec_fn=enter_group).returncode
elapsed = time.monotonic() - started
peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(f"exit {code} in {elapsed:.1f} s, peak RSS {peak_rss / 2**30:.2f} GiB")
if code not in (0, 1):
    sys.exit(f"dualrun failed (exit {code}): killed by the memory cap?" if code < 0 else "dualrun failed")
rows = json.load(open(report))["tables"][0]["rows"]
expected = json.load(open(f"{pair}/expected.json"))
found = {k: rows[k] for k in ("changed", "added", "removed", "identical")}
wanted = {k: expected[k] for k in found}
print("counts", "match" if found == wanted else f"DIFFER: {found} != {wanted}")
if found != wanted:
    sys.exit(1)
PY
if [ -n "$group" ]; then
    peak=$(cat "$group/$peak_file")
    echo "cgroup cap $CAP_GIB GiB, cgroup peak (memory + page cache) $(python3 -c "print(f'{$peak / 2**30:.2f}')") GiB"
fi
rm -f "$report"
