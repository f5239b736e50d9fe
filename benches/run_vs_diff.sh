#!/usr/bin/env bash
# `dualrun run` against `dualrun diff` of the same two files: a project
# whose sides are `files` folders holding the generated pair as `t.parquet`,
# so the run's own cost (audit copies, manifest, reports) shows beside the
# diff it shares with `dualrun diff`. Prints the median wall time and peak
# resident set of each over RUNS runs, their ratios, and the bytes the run
# wrote into its run directory.
#
#   bash benches/run_vs_diff.sh                 # 5,000,000 rows, 3 runs
#   ROWS=500000 RUNS=5 bash benches/run_vs_diff.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-5000000}
RUNS=${RUNS:-3}
PAIR=${PAIR:-target/bench-pair-$ROWS}
DUALRUN=${DUALRUN:-target/release/dualrun}
if [ "$DUALRUN" = target/release/dualrun ]; then
    cargo build --release --quiet
fi
if [ ! -f "$PAIR/expected.json" ]; then
    rm -rf "$PAIR"
    "$DUALRUN" bench generate --rows "$ROWS" --out "$PAIR" > "$PAIR.expected.json"
    mv "$PAIR.expected.json" "$PAIR/expected.json"
fi
DUALRUN=$(realpath "$DUALRUN")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/prod" "$work/candidate"
# Hard links: the project reads the pair where it lies.
ln "$PAIR/prod.parquet" "$work/prod/t.parquet" 2>/dev/null || cp "$PAIR/prod.parquet" "$work/prod/t.parquet"
ln "$PAIR/candidate.parquet" "$work/candidate/t.parquet" 2>/dev/null || cp "$PAIR/candidate.parquet" "$work/candidate/t.parquet"
cat > "$work/dualrun.toml" <<TOML
[prod]
engine = "files"
outputs_dir = "prod"

[candidate]
engine = "files"
outputs_dir = "candidate"

[outputs.t]
key = ["id"]
TOML
python3 - "$DUALRUN" "$work" "$RUNS" <<'PY'
import os, shutil, statistics, subprocess, sys
dualrun, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
commands = {
    "dualrun diff": [dualrun, "diff", "prod/t.parquet", "candidate/t.parquet", "--key", "id",
                     "--format", "json"],
    "dualrun run": [dualrun, "run", ".", "--format", "json"],
}
# The two commands take turns, so a machine that slows down for a while
# slows both alike.
measured = {name: ([], []) for name in commands}
for name, command in [(n, c) for _ in range(runs) for n, c in commands.items()]:
    seconds, peaks = measured[name]
    # Each run in its own child python, so ru_maxrss is that run's peak.
    probe = ("import resource, subprocess, sys, time;"
             "t = time.monotonic();"
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, cwd=%r);"
             "s = time.monotonic() - t;"
             "print(r.returncode, s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)" % work)
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                         text=True, check=True).stdout.split()
    code, s, kib = int(out[0]), float(out[1]), int(out[2])
    if code not in (0, 1):
        sys.exit(f"{name} exited {code}")
    seconds.append(s)
    peaks.append(kib)
    # One run directory at a time, as a user has: earlier runs' copies
    # would otherwise still be written back to disk during this one.
    runs_dir = os.path.join(work, ".dualrun", "runs")
    for old in sorted(os.listdir(runs_dir))[:-1] if os.path.isdir(runs_dir) else []:
        shutil.rmtree(os.path.join(runs_dir, old))
results = {name: (statistics.median(s), statistics.median(p) / 1024)
           for name, (s, p) in measured.items()}
runs_dir = os.path.join(work, ".dualrun", "runs")
last = sorted(os.listdir(runs_dir))[-1]
written = sum(os.path.getsize(os.path.join(d, f))
              for d, _, files in os.walk(os.path.join(runs_dir, last)) for f in files)
print(f"| command | median | peak RSS |\n|---|---:|---:|")
for name, (s, mib) in results.items():
    print(f"| {name} | {s:.2f} s | {mib:,.0f} MiB |")
(ds, dm), (rs, rm) = results["dualrun diff"], results["dualrun run"]
print(f"\nrun / diff: {rs / ds:.2f}x the time, {rm / dm:.2f}x the peak memory; "
      f"the run directory holds {written / 1e6:,.0f} MB")
PY
