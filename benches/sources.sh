#!/usr/bin/env bash
# Tables where they live, against their yardsticks (release build):
#
#   1. a PostgreSQL table of PG_ROWS rows and 10 columns (the generated
#      pair's prod side, loaded with COPY) diffed against the Parquet file it
#      was loaded from, beside `psql -c "COPY (SELECT * ...) TO STDOUT"` of
#      the same table (moving the rows out of PostgreSQL is the floor) and the
#      diff of the two local Parquet files;
#   2. the S3_ROWS pair served by two local S3-protocol servers against the
#      same files read locally, beside boto3 downloading both objects (what
#      each server can serve): moto (Python, objects in memory, the tests'
#      server) and s3s-fs (Rust, objects in a local directory; installed
#      from crates.io into target/s3s-fs on the first run, or S3S_FS=PATH).
#
# Starts its own servers with .ci/servers.sh (PostgreSQL 15, moto), takes
# turns between the commands of each comparison, checks every diff's
# counts, and prints medians of RUNS runs (wall time, rows/s, peak RSS) and
# the ratios.
#
#   bash benches/sources.sh                      # 1,000,000 / 5,000,000 rows, 5 runs
#   PG_ROWS=100000 S3_ROWS=500000 RUNS=3 bash benches/sources.sh
#   PARTS=s3 bash benches/sources.sh             # only one of postgres, s3
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ROWS=${PG_ROWS:-1000000}
S3_ROWS=${S3_ROWS:-5000000}
RUNS=${RUNS:-5}
PARTS=${PARTS:-postgres,s3}
DUALRUN=${DUALRUN:-target/release/dualrun}
if [ "$DUALRUN" = target/release/dualrun ]; then
    cargo build --release --quiet
fi
DUALRUN=$(realpath "$DUALRUN")
for rows in "$PG_ROWS" "$S3_ROWS"; do
    pair=target/bench-pair-$rows
    if [ ! -f "$pair/expected.json" ]; then
        rm -rf "$pair"
        "$DUALRUN" bench generate --rows "$rows" --out "$pair" > "$pair.expected.json"
        mv "$pair.expected.json" "$pair/expected.json"
    fi
done

# shellcheck source=../.ci/servers.sh
source .ci/servers.sh
: "${DUALRUN_TEST_POSTGRES:?PostgreSQL did not start}" "${DUALRUN_TEST_S3:?the S3 server did not start}"
export AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1

S3S_FS=${S3S_FS:-target/s3s-fs/bin/s3s-fs}
if [ ! -x "$S3S_FS" ]; then
    cargo install s3s-fs --version 0.14.1 --locked --features binary --root target/s3s-fs --quiet
fi
s3s_root=$(mktemp -d "${TMPDIR:-/tmp}/dualrun-s3s-XXXXXX")
s3s_port=$(free_port)
"$S3S_FS" --host 127.0.0.1 --port "$s3s_port" --access-key testing --secret-key testing \
    "$s3s_root" >/dev/null 2>&1 &
s3s_pid=$!
trap 'kill "$s3s_pid" 2>/dev/null || true; rm -rf "$s3s_root"; stop_servers' EXIT
for _ in $(seq 50); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $s3s_port))" 2>/dev/null; then
        break
    fi
    sleep 0.2
done
s3_servers="moto=$DUALRUN_TEST_S3 s3s-fs=http://127.0.0.1:$s3s_port"

"$DUALRUN_TEST_PYTHON" - "$DUALRUN" "$PG_ROWS" "$S3_ROWS" "$RUNS" "$s3_servers" "$PARTS" <<'PY'
import json, os, resource, statistics, subprocess, sys, tempfile, time
import boto3, duckdb

dualrun, pg_rows, s3_rows, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s3_servers = dict(server.split("=", 1) for server in sys.argv[5].split())
parts = sys.argv[6].split(",")
url = os.environ["DUALRUN_TEST_POSTGRES"]
env = dict(os.environ, PGPASSWORD=url.split(":")[2].split("@")[0], PGOPTIONS="-c client_min_messages=warning")

def timed(command, stdout=subprocess.DEVNULL, env=env):
    """Wall time and peak RSS (MiB) of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/tmp/dualrun-bench-rss", *command],
                          stdout=stdout, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{command[0]} failed: {done.stderr.decode()[-2000:]}")
    with open("/tmp/dualrun-bench-rss") as f:
        rss = int(f.read().split()[-1]) / 1024
    return wall, rss, done

def compare(title, commands, rows, check, base, env=env):
    """Runs the commands in turns, RUNS times; prints medians and their
    ratios to the median of `base`."""
    results = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            wall, rss, done = timed(command, stdout=subprocess.PIPE, env=env)
            if name in check:
                check[name](done.stdout)
            results[name].append((wall, rss))
    print(f"\n{title} (ratios to {base})")
    first = statistics.median(w for w, _ in results[base])
    for name, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        rss = max(r for _, r in samples)
        spread = f"{min(w for w, _ in samples):.2f}-{max(w for w, _ in samples):.2f}"
        print(f"  {name:<44} {wall:7.2f} s ({spread})  {rows / wall / 1e6:6.2f} M rows/s"
              f"  {rss:7.0f} MiB  {wall / first:5.2f}x")

def counts(expected):
    def check(stdout):
        report = json.loads(stdout)
        got = report["tables"][0]["rows"]
        for key, value in expected.items():
            if got[key] != value:
                sys.exit(f"wrong count {key}: {got[key]} != {value}")
    return check

def postgres_part():
    """A PostgreSQL table against its Parquet export."""
    pair = f"target/bench-pair-{pg_rows}"
    csv = tempfile.mktemp(suffix=".csv")
    duckdb.sql(f"COPY (SELECT * FROM '{pair}/prod.parquet') TO '{csv}' (HEADER)")
    psql = ["psql", url, "-v", "ON_ERROR_STOP=1", "-q"]
    columns = duckdb.sql(f"DESCRIBE SELECT * FROM '{pair}/prod.parquet'").fetchall()
    types = {"BIGINT": "int8", "DOUBLE": "float8", "VARCHAR": "text"}
    ddl = ", ".join(f"{name} {types[kind]} NOT NULL" for name, kind, *_ in columns)
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS bench; CREATE TABLE bench ({ddl}, PRIMARY KEY (id))"],
                   check=True, env=env)
    subprocess.run(psql + ["-c", f"\\copy bench FROM '{csv}' CSV HEADER"], check=True, env=env)
    subprocess.run(psql + ["-c", "VACUUM ANALYZE bench"], check=True, env=env)
    os.unlink(csv)
    table = f"{url}?table=public.bench"
    equal = counts({"identical": pg_rows, "changed": 0, "added": 0, "removed": 0})
    compare(
        f"PostgreSQL: a {pg_rows:,}-row, {len(columns)}-column table against its Parquet export",
        {
            "psql COPY (SELECT * FROM bench) TO STDOUT": psql + ["-c", "COPY (SELECT * FROM bench) TO STDOUT"],
            "dualrun diff postgres://...bench prod.parquet": [dualrun, "diff", table, f"{pair}/prod.parquet",
                                                              "--key", "id", "--format", "json"],
            "dualrun diff --no-stats": [dualrun, "diff", table, f"{pair}/prod.parquet", "--key", "id",
                                        "--no-stats", "--format", "json"],
            "dualrun diff prod.parquet prod.parquet (local)": [dualrun, "diff", f"{pair}/prod.parquet",
                                                               f"{pair}/prod.parquet", "--key", "id", "--format", "json"],
        },
        pg_rows,
        {"dualrun diff postgres://...bench prod.parquet": equal, "dualrun diff --no-stats": equal},
        "psql COPY (SELECT * FROM bench) TO STDOUT",
    )

def s3_part():
    """The pair from each S3 server against the same files read locally."""
    pair = f"target/bench-pair-{s3_rows}"
    expected = json.load(open(f"{pair}/expected.json"))
    found = counts({k: expected[k] for k in ("changed", "added", "removed")})
    for server, endpoint in s3_servers.items():
        server_env = dict(env, AWS_ENDPOINT_URL=endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        for side in ("prod", "candidate"):
            s3.upload_file(f"{pair}/{side}.parquet", "bench", f"pair/{side}.parquet")
        compare(
            f"S3: the {s3_rows:,}-row pair from a local S3-protocol server ({server}) against local files",
            {
                "boto3: both objects to /dev/null": [sys.executable, "-c",
                    "import boto3, os, sys; s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL']); "
                    "[s3.download_fileobj('bench', f'pair/{side}.parquet', open(os.devnull, 'wb')) for side in ('prod', 'candidate')]"],
                "dualrun diff (local files)": [dualrun, "diff", f"{pair}/prod.parquet", f"{pair}/candidate.parquet",
                                               "--key", "id", "--format", "json"],
                "dualrun diff s3://bench/pair/...": [dualrun, "diff", "s3://bench/pair/prod.parquet",
                                                     "s3://bench/pair/candidate.parquet", "--key", "id", "--format", "json"],
            },
            s3_rows,
            {"dualrun diff (local files)": found, "dualrun diff s3://bench/pair/...": found},
            "dualrun diff (local files)",
            env=server_env,
        )

for part in parts:
    {"postgres": postgres_part, "s3": s3_part}[part]()
PY
