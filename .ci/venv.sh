#!/usr/bin/env bash
# Makes the Python venv .ci/venv the tests drive, unless it is already
# complete: moto's S3 server, dbt-core with dbt-duckdb and dbt-postgres, and
# the tests' independent writers and readers (boto3, pyarrow, deltalake,
# duckdb). Used by .ci/servers.sh, and by .ci/run in the background while
# cargo compiles. Exits 1 when the packages cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.ci/venv
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/dbt" ] \
    && "$venv/bin/python" -c 'import deltalake, pyarrow, boto3, duckdb, dbt.adapters.duckdb, dbt.adapters.postgres' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q 'moto[server]==5.*' 'deltalake==1.*' 'pyarrow>=20' 'duckdb>=1.1' \
  'dbt-core==1.11.*' 'dbt-duckdb==1.11.*' 'dbt-postgres==1.11.*'
