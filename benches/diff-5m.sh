#!/usr/bin/env bash
# Times `dualrun diff` (release build) on a generated pair: 3 runs each with
# the default thread count, with `--threads 1`, and without statistics;
# prints the median wall time and peak memory of each, and checks every
# run's counts against the generator's.
#
#   bash benches/diff-5m.sh            # 5,000,000 rows
#   ROWS=1000000 bash benches/diff-5m.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-5000000}
dir=target/bench-pair-$rows
runs=${RUNS:-3}
cargo build --release --quiet
if [ ! -f "$dir/expected.json" ]; then
  mkdir -p "$dir"
  cargo bench --quiet --bench generate -- --rows "$rows" --out "$dir" > "$dir/expected.json.tmp"
  mv "$dir/expected.json.tmp" "$dir/expected.json"
fi
echo "pair: $dir ($(du -sh "$dir" | cut -f1)), expected $(cat "$dir/expected.json")"

measure() { # label, extra args...
  local label=$1; shift
  local times=() mems=()
  for i in $(seq "$runs"); do
    /usr/bin/time -v ./target/release/dualrun diff "$dir/prod.parquet" "$dir/candidate.parquet" \
      --key id --format json --sample 10 "$@" > "$dir/report.json" 2> "$dir/time.txt" || [ $? -eq 1 ]
    python3 - "$dir/expected.json" "$dir/report.json" <<'PY'
import json, sys
want = json.load(open(sys.argv[1])); rows = json.load(open(sys.argv[2]))["tables"][0]["rows"]
for k in ("changed", "added", "removed", "identical"):
    assert rows[k] == want[k], f"{k}: dualrun says {rows[k]}, the generator {want[k]}"
PY
    times+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2, t, ":"); print (length(t) == 3 ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2])}' "$dir/time.txt")")
    mems+=("$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$dir/time.txt")")
  done
  local median_time median_mem
  median_time=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  median_mem=$(printf '%s\n' "${mems[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  printf '%-18s median %6.2f s   peak %6s MiB   (runs: %s s)\n' "$label" "$median_time" "$median_mem" "${times[*]}"
}

measure "default threads"
measure "--threads 1" --threads 1
measure "--no-stats" --no-stats
measure "--no-stats, 1 thread" --no-stats --threads 1
