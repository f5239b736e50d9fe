#!/usr/bin/env bash
# dualrun side by side with the yardstick S (DataFusion decoding every
# column) and the peers DuckDB, Polars and datacompy, on one generated pair:
# builds dualrun (release), installs the peers into a virtual environment
# (target/peers-venv), generates the pair once (target/bench-pair-ROWS),
# times every tool RUNS times, checks that each found the generator's counts,
# and prints one table of medians, peak memory and ratios.
#
#   bash benches/peers.sh                       # 5,000,000 rows, every tool
#   ROWS=10000 TOOLS=scan,dualrun bash benches/peers.sh
#
# ROWS (5000000), RUNS (3), THREADS (one per core), TOOLS (comma-separated;
# default all: scan, dualrun, dualrun-no-stats, dualrun-1t,
# dualrun-no-stats-1t, duckdb, polars, datacompy), DUALRUN (a dualrun binary
# to use instead of building one), PAIR (the pair's directory); the pair's
# make-up: SHAPE (counts: 3 ints, 3 floats, 3 strings; varied: eleven
# columns of every kind, see `dualrun bench generate --help`), ROW_GROUP
# (rows per row group, 1048576), CHANGED (fraction of rows changed, 0.01).
#
#   SHAPE=varied ROW_GROUP=65536 CHANGED=0.3 bash benches/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-5000000}
runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
tools=${TOOLS:-scan,dualrun,dualrun-no-stats,dualrun-1t,dualrun-no-stats-1t,duckdb,polars,datacompy}
shape=${SHAPE:-counts}
row_group=${ROW_GROUP:-1048576}
changed=${CHANGED:-0.01}
name=$rows
if [ "$shape/$row_group/$changed" != counts/1048576/0.01 ]; then
  name=$rows-$shape-rg$row_group-changed$changed
fi
pair=${PAIR:-target/bench-pair-$name}

dualrun=${DUALRUN:-}
if [ -z "$dualrun" ]; then
  # The binary `cargo install --path .` builds (the default features; the
  # diff does not use the `polars` side engine).
  cargo build --release --quiet
  dualrun=target/release/dualrun
fi

python=python3
if [[ ",$tools," =~ ,(duckdb|polars|datacompy), ]]; then
  venv=target/peers-venv
  if [ ! -f "$venv/installed" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      duckdb==2.0.0 polars==1.33.1 datacompy==1.1.0 pyarrow==26.0.1
    touch "$venv/installed"
  fi
  python=$venv/bin/python
fi

if [ ! -f "$pair/expected.json" ]; then
  rm -rf "$pair"
  "$dualrun" bench generate --rows "$rows" --shape "$shape" --row-group "$row_group" \
    --changed "$changed" --out "$pair" > "$pair.expected.json"
  mv "$pair.expected.json" "$pair/expected.json"
fi
echo "pair: $pair ($(du -sh "$pair" | cut -f1)), expected $(cat "$pair/expected.json")" >&2

"$python" benches/peers.py --pair "$pair" --dualrun "$dualrun" --python "$python" \
  --tools "$tools" --runs "$runs" --threads "$threads" --json "$pair/results.json"
