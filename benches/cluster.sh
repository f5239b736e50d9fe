#!/usr/bin/env bash
# The same diff embedded and on a local Ballista cluster (one scheduler and
# two executors on this machine, each a `dualrun cluster` process on
# loopback ports), on the benchmark pair and on a pair of equal tables
# (prod against itself, where the bucket checksums prove equality without
# the key join). Prints medians of RUNS runs, the ratio to embedded, and the
# bytes of shuffle files the executors wrote per input row.
#
#   bash benches/cluster.sh                  # 5,000,000 rows
#   ROWS=100000 RUNS=1 bash benches/cluster.sh
#
# ROWS (5000000), RUNS (3), DUALRUN (a binary built with `--features
# cluster`), PAIR (the pair's directory, shared with benches/peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-5000000}
runs=${RUNS:-3}
pair=$(realpath -m "${PAIR:-target/bench-pair-$rows}")
dualrun=${DUALRUN:-}
if [ -z "$dualrun" ]; then
  cargo build --release --no-default-features --features cluster --quiet
  dualrun=target/release/dualrun
fi
if [ ! -f "$pair/expected.json" ]; then
  rm -rf "$pair"
  "$dualrun" bench generate --rows "$rows" --out "$pair" > "$pair.expected.json"
  mv "$pair.expected.json" "$pair/expected.json"
fi

work=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
scheduler_port=$(port)
url=df://127.0.0.1:$scheduler_port
"$dualrun" cluster scheduler --port "$scheduler_port" > "$work/scheduler.log" 2>&1 &
pids+=($!)
cores=$(nproc)
for i in 1 2; do
  mkdir -p "$work/executor$i"
  "$dualrun" cluster executor --scheduler "$url" --port "$(port)" --grpc-port "$(port)" \
    --concurrent-tasks "$(( (cores + 1) / 2 ))" --work-dir "$work/executor$i" \
    > "$work/executor$i.log" 2>&1 &
  pids+=($!)
done
sleep 2

# Bytes of the shuffle files written since the marker file was touched.
shuffle_bytes() {
  find "$work"/executor1 "$work"/executor2 -type f -newer "$work/marker" -printf '%s\n' |
    awk '{s+=$1} END {printf "%d\n", s}'
}

# One timed diff (exit 1, the tables differ, is expected); prints
# "seconds shuffle_bytes" on stdout and the same with the arguments on stderr.
timed() {
  local after started ended code=0
  touch "$work/marker"
  started=$(date +%s.%N)
  "$dualrun" diff "$@" --key id --quiet || code=$?
  ended=$(date +%s.%N)
  if [ "$code" -gt 1 ]; then
    echo "dualrun diff $* exited $code" >&2
    kill -TERM $$
  fi
  after=$(shuffle_bytes)
  local line
  line="$(echo "$ended - $started" | bc) $after"
  echo "$line ($*)" >&2
  echo "$line"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-34s %9s %9s %14s\n' case seconds ratio shuffle_B/row
for pairing in differing equal; do
  left=$pair/prod.parquet
  right=$pair/candidate.parquet
  [ "$pairing" = equal ] && right=$pair/prod.parquet
  for stats in stats no-stats; do
    flags=()
    [ "$stats" = no-stats ] && flags=(--no-stats)
    embedded=$(for _ in $(seq "$runs"); do timed "$left" "$right" "${flags[@]}"; done | cut -d' ' -f1 | median)
    results=$(for _ in $(seq "$runs"); do timed "$left" "$right" "${flags[@]}" --cluster "$url"; done)
    cluster=$(echo "$results" | cut -d' ' -f1 | median)
    shuffled=$(echo "$results" | cut -d' ' -f2 | median)
    printf '%-34s %9.2f %9s %14s\n' "$pairing, $stats, embedded" "$embedded" 1.00 -
    printf '%-34s %9.2f %9.2f %14.1f\n' "$pairing, $stats, cluster (1+2)" "$cluster" \
      "$(echo "$cluster / $embedded" | bc -l)" "$(echo "$shuffled / (2 * $rows)" | bc -l)"
  done
done
