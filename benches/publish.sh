#!/usr/bin/env bash
# Publishing into PostgreSQL against its yardstick (release build): a
# ROWS-row, 10-column output (the generated pair's prod side) published with
# `dualrun publish --to postgres://...?schema=...` (a new version schema,
# binary COPY, the switch), beside `psql -c "\copy ... FROM CSV"` of the
# same rows into a new table (what PostgreSQL's own client takes to load
# them). Each publish goes to a schema of its own, so every run loads the
# full table; the switch's own time is printed from the server's log table.
#
# Starts its own PostgreSQL with .ci/servers.sh, takes turns between the
# two commands, checks the published row count, and prints medians of RUNS
# runs (wall time, rows/s, peak RSS) and the ratio.
#
#   bash benches/publish.sh                  # 1,000,000 rows, 5 runs
#   ROWS=200000 RUNS=3 bash benches/publish.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
DUALRUN=${DUALRUN:-target/release/dualrun}
if [ "$DUALRUN" = target/release/dualrun ]; then
    cargo build --release --quiet
fi
DUALRUN=$(realpath "$DUALRUN")
pair=target/bench-pair-$ROWS
if [ ! -f "$pair/expected.json" ]; then
    rm -rf "$pair"
    "$DUALRUN" bench generate --rows "$ROWS" --out "$pair" > "$pair.expected.json"
    mv "$pair.expected.json" "$pair/expected.json"
fi

# shellcheck source=../.ci/servers.sh
source .ci/servers.sh
: "${DUALRUN_TEST_POSTGRES:?PostgreSQL did not start}"

"$DUALRUN_TEST_PYTHON" - "$DUALRUN" "$ROWS" "$RUNS" "$pair" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
import duckdb

dualrun, rows, runs, pair = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
url = os.environ["DUALRUN_TEST_POSTGRES"]
env = dict(os.environ, PGPASSWORD=url.split(":")[2].split("@")[0], PGOPTIONS="-c client_min_messages=warning")
psql = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt"]

def timed(command):
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/tmp/dualrun-bench-rss", *command],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed: {done.stderr.decode()[-2000:]}")
    with open("/tmp/dualrun-bench-rss") as f:
        return wall, int(f.read().split()[-1]) / 1024

work = tempfile.mkdtemp(prefix="dualrun-publish-bench-")
project = os.path.join(work, "project")
for side in ("prod", "cand"):
    os.makedirs(os.path.join(project, side))
    shutil.copy(f"{pair}/prod.parquet", os.path.join(project, side, "orders.parquet"))
with open(os.path.join(project, "dualrun.toml"), "w") as f:
    f.write('[prod]\nengine = "files"\noutputs_dir = "prod"\n[candidate]\nengine = "files"\n'
            'outputs_dir = "cand"\n[outputs.orders]\nkey = ["id"]\n')
run_dirs = []
for i in range(runs):
    run_dir = os.path.join(work, f"run{i}")
    subprocess.run([dualrun, "run", project, "--run-dir", run_dir, "--quiet", "--no-stats"],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    run_dirs.append(run_dir)

csv = os.path.join(work, "orders.csv")
duckdb.sql(f"COPY (SELECT * FROM '{pair}/prod.parquet') TO '{csv}' (HEADER)")
columns = duckdb.sql(f"DESCRIBE SELECT * FROM '{pair}/prod.parquet'").fetchall()
types = {"BIGINT": "bigint", "DOUBLE": "double precision", "VARCHAR": "text"}
ddl = ", ".join(f"{name} {types[kind]}" for name, kind, *_ in columns)

results = {"psql \\copy FROM CSV": [], "dualrun publish --to postgres://": []}
for i in range(runs):
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS copied; CREATE TABLE copied ({ddl})"], check=True, env=env)
    results["psql \\copy FROM CSV"].append(timed(psql + ["-c", f"\\copy copied FROM '{csv}' CSV HEADER"]))
    results["dualrun publish --to postgres://"].append(
        timed([dualrun, "publish", run_dirs[i], "--to", f"{url}?schema=bench{i}"]))
    got = subprocess.run(psql + ["-c", f"SELECT count(*) FROM bench{i}.orders"], check=True,
                         stdout=subprocess.PIPE, env=env).stdout.decode().strip()
    if int(got) != rows:
        sys.exit(f"published {got} rows, not {rows}")

print(f"\nPostgreSQL: publishing a {rows:,}-row, {len(columns)}-column output (ratios to psql \\copy)")
base = statistics.median(w for w, _ in results["psql \\copy FROM CSV"])
for name, samples in results.items():
    wall = statistics.median(w for w, _ in samples)
    spread = f"{min(w for w, _ in samples):.2f}-{max(w for w, _ in samples):.2f}"
    rss = max(r for _, r in samples)
    print(f"  {name:<36} {wall:7.2f} s ({spread})  {rows / wall / 1e6:6.2f} M rows/s  {rss:7.0f} MiB  {wall / base:5.2f}x")
shutil.rmtree(work)
PY
