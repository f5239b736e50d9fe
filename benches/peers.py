#!/usr/bin/env python3
"""Side-by-side benchmark of dualrun against the yardstick S (DataFusion
decoding every column, `dualrun bench scan`) and the peers DuckDB, Polars and
datacompy on one generated pair. Run through benches/peers.sh, which builds
dualrun and the peers' virtual environment.

Every tool runs RUNS times as its own process; the median wall time and the
peak resident memory (the child's rusage) are kept, and every run's
added/removed/changed counts are checked against the generator's. The Python
peers report the time from after their imports (interpreter start and
`import` are not counted against them).

A peer run in a child process: `peers.py --peer NAME PROD CANDIDATE`
prints {"seconds", "added", "removed", "changed"} as JSON.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TOOLS = {
    "scan": "S: DataFusion full scan",
    "dualrun": "dualrun diff",
    "dualrun-no-stats": "dualrun diff --no-stats",
    "dualrun-1t": "dualrun diff, 1 thread",
    "dualrun-no-stats-1t": "dualrun diff --no-stats, 1 thread",
    "duckdb": "DuckDB full outer join",
    "polars": "Polars full join",
    "datacompy": "datacompy (Polars)",
}


# ---- peers, each in its own process ---------------------------------------

def value_columns(prod):
    import pyarrow.parquet as pq

    return [name for name in pq.read_schema(prod).names if name != "id"]


def peer_duckdb(prod, candidate, threads):
    import duckdb

    columns = value_columns(prod)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    distinct = " OR ".join(f'(p."{c}" IS DISTINCT FROM c."{c}")' for c in columns)
    added, removed, changed = con.execute(
        f"""SELECT count(*) FILTER (WHERE p.id IS NULL),
                   count(*) FILTER (WHERE c.id IS NULL),
                   count(*) FILTER (WHERE p.id IS NOT NULL AND c.id IS NOT NULL AND ({distinct}))
            FROM read_parquet('{prod}') p FULL OUTER JOIN read_parquet('{candidate}') c
            ON p.id = c.id"""
    ).fetchone()
    return time.perf_counter() - started, added, removed, changed


def peer_polars(prod, candidate, _threads):
    import polars as pl

    columns = value_columns(prod)
    started = time.perf_counter()
    joined = pl.scan_parquet(prod).join(
        pl.scan_parquet(candidate), on="id", how="full", suffix="_c", coalesce=False
    )
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_c")) for c in columns])
    both = pl.col("id").is_not_null() & pl.col("id_c").is_not_null()
    counts = joined.select(
        added=pl.col("id").is_null().sum(),
        removed=pl.col("id_c").is_null().sum(),
        changed=(both & differs).sum(),
    ).collect()
    row = counts.row(0)
    return time.perf_counter() - started, row[0], row[1], row[2]


def peer_datacompy(prod, candidate, _threads):
    import polars as pl
    from datacompy.polars import PolarsCompare

    started = time.perf_counter()
    compare = PolarsCompare(pl.read_parquet(prod), pl.read_parquet(candidate), join_columns="id")
    added = len(compare.df2_unq_rows)
    removed = len(compare.df1_unq_rows)
    changed = len(compare.intersect_rows) - compare.count_matching_rows()
    return time.perf_counter() - started, added, removed, changed


PEERS = {"duckdb": peer_duckdb, "polars": peer_polars, "datacompy": peer_datacompy}


def run_peer(name, prod, candidate, threads):
    seconds, added, removed, changed = PEERS[name](prod, candidate, threads)
    print(json.dumps({"seconds": seconds, "added": added, "removed": removed, "changed": changed}))


# ---- the benchmark ---------------------------------------------------------

def command(tool, args, pair):
    prod, candidate = os.path.join(pair, "prod.parquet"), os.path.join(pair, "candidate.parquet")
    threads = "1" if tool.endswith("-1t") else str(args.threads)
    if tool == "scan":
        return [args.dualrun, "bench", "scan", prod, candidate, "--threads", threads]
    if tool.startswith("dualrun"):
        cmd = [args.dualrun, "diff", prod, candidate, "--key", "id", "--format", "json",
               "--threads", threads]
        return cmd + (["--no-stats"] if "no-stats" in tool else [])
    return [args.python, os.path.abspath(__file__), "--peer", tool, prod, candidate,
            "--threads", threads]


def counts_of(tool, stdout):
    """(seconds measured inside the tool or None, counts) of one run's output."""
    if tool == "scan":
        return None, None
    if tool.startswith("dualrun"):
        rows = json.loads(stdout)["tables"][0]["rows"]
        return None, {k: rows[k] for k in ("added", "removed", "changed")}
    out = json.loads(stdout)
    return out["seconds"], {k: out[k] for k in ("added", "removed", "changed")}


def measure(args):
    """Child mode: run one tool once and print its wall time, peak memory and
    counts as JSON. This process is fresh and the tool is its only child, so
    RUSAGE_CHILDREN's peak is the tool's own."""
    import resource

    env = dict(os.environ, POLARS_MAX_THREADS=str(args.threads))
    started = time.perf_counter()
    child = subprocess.run(command(args.measure, args, args.pair), capture_output=True, env=env)
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # dualrun exits 1 when the tables differ: its verdict, not a failure.
    allowed = (0, 1) if args.measure.startswith("dualrun") else (0,)
    if child.returncode not in allowed:
        sys.exit(f"{args.measure} failed (exit {child.returncode}): "
                 f"{child.stderr.decode(errors='replace')[-2000:]}")
    inner, counts = counts_of(args.measure, child.stdout)
    seconds = inner if inner is not None else wall
    print(json.dumps({"seconds": seconds, "peak_kib": peak_kib, "counts": counts}))


def timed_run(tool, args, pair):
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", tool, "--pair", pair,
           "--dualrun", args.dualrun, "--python", args.python, "--threads", str(args.threads)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE)
    if out.returncode != 0:
        sys.exit(out.returncode)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--pair", help="directory with prod.parquet, candidate.parquet, expected.json")
    parser.add_argument("--dualrun", default="target/release/dualrun")
    parser.add_argument("--python", default=sys.executable, help="the Python with the peers installed")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.peer:
        return run_peer(args.peer, args.paths[0], args.paths[1], args.threads)
    if args.measure:
        return measure(args)

    expected = json.load(open(os.path.join(args.pair, "expected.json")))
    want = {k: expected[k] for k in ("added", "removed", "changed")}
    tools = [t for t in args.tools.split(",") if t]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        sys.exit(f"unknown tool {unknown[0]}; known: {', '.join(TOOLS)}")
    results = {}
    for tool in tools:
        runs = []
        for _ in range(args.runs):
            run = timed_run(tool, args, args.pair)
            if run["counts"] is not None and run["counts"] != want:
                sys.exit(f"{tool} found {run['counts']}, the generator made {want}")
            runs.append(run)
        results[tool] = {
            "median_s": statistics.median(r["seconds"] for r in runs),
            "peak_mib": statistics.median(r["peak_kib"] for r in runs) / 1024,
            "runs_s": [round(r["seconds"], 3) for r in runs],
        }
        print(f"{TOOLS[tool]}: {results[tool]['median_s']:.2f} s", file=sys.stderr)
    print_table(results, expected, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": expected["rows"], "threads": args.threads, "results": results}, f, indent=2)


def print_table(results, expected, args):
    scan = results.get("scan", {}).get("median_s")
    duckdb = results.get("duckdb", {}).get("median_s")
    print(f"{expected['rows']:,} rows, {args.threads} threads, median of {args.runs} runs; "
          f"every tool found {expected['changed']:,} changed, {expected['added']:,} added, "
          f"{expected['removed']:,} removed\n")
    print("| tool | median | × S | × DuckDB | peak memory | runs |")
    print("|---|---:|---:|---:|---:|---|")
    for tool, r in results.items():
        ratio = lambda base: f"{r['median_s'] / base:.2f}" if base else "–"
        runs = ", ".join(f"{s:.2f}" for s in r["runs_s"])
        print(f"| {TOOLS[tool]} | {r['median_s']:.2f} s | {ratio(scan)} | {ratio(duckdb)} "
              f"| {r['peak_mib']:,.0f} MiB | {runs} |")
    for fast, slow in (("dualrun", "dualrun-1t"), ("dualrun-no-stats", "dualrun-no-stats-1t")):
        if fast in results and slow in results:
            speedup = results[slow]["median_s"] / results[fast]["median_s"]
            print(f"\n{TOOLS[fast]}: {speedup:.2f}x as fast on {args.threads} threads as on 1")


if __name__ == "__main__":
    main()
