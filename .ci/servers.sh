# Sourced by .ci/test: starts the real servers the tests read from, each on
# a free loopback port, and stops them when the test run ends.
#
#   PostgreSQL: Debian's server binaries, `initdb` + `pg_ctl` on a temporary
#     data directory, password authentication (scram-sha-256). As root the
#     cluster belongs to the `postgres` user (initdb refuses root).
#     -> DUALRUN_TEST_POSTGRES=postgres://dualrun:PASSWORD@127.0.0.1:PORT/postgres
#   S3: moto's server mode from PyPI, in the venv .ci/venv.
#     -> DUALRUN_TEST_S3=http://127.0.0.1:PORT, DUALRUN_TEST_PYTHON (with boto3,
#        pyarrow, deltalake and duckdb, the tests' independent writers)
#   dbt: dbt-core with dbt-duckdb and dbt-postgres, in the same venv.
#     -> DUALRUN_TEST_DBT=.ci/venv/bin/dbt
#
# A server that cannot start fails the run under CI=true; elsewhere its
# tests say loudly that they did not run.

servers_dir=$(mktemp -d "${TMPDIR:-/tmp}/dualrun-servers-XXXXXX")
chmod 755 "$servers_dir"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_failed() {
  echo "could not start $1; its tests will not run" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ] && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing postgresql for the tests" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    else
      server_failed "PostgreSQL (install Debian's postgresql)"; return 0
    fi
  fi
  [ -n "$bin" ] && export PATH="$bin:$PATH"
  local data="$servers_dir/postgres" port password
  port=$(free_port)
  password="pw-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  mkdir -p "$data"
  echo "$password" > "$servers_dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$data" "$servers_dir/pwfile"; fi
  if ! as_owner initdb -D "$data" -U dualrun --pwfile="$servers_dir/pwfile" \
      --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$servers_dir/initdb.log" 2>&1; then
    cat "$servers_dir/initdb.log" >&2; server_failed PostgreSQL; return 0
  fi
  if ! as_owner pg_ctl -D "$data" -l "$data/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $data" start >/dev/null; then
    cat "$data/server.log" >&2; server_failed PostgreSQL; return 0
  fi
  export DUALRUN_TEST_POSTGRES="postgres://dualrun:$password@127.0.0.1:$port/postgres"
  postgres_data=$data
}

start_s3() {
  local venv=.ci/venv
  bash .ci/venv.sh || { server_failed "the S3 server and dbt (moto, dbt, from PyPI)"; return 0; }
  export DUALRUN_TEST_DBT="$PWD/$venv/bin/dbt"
  local port
  port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$servers_dir/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 50); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
      export DUALRUN_TEST_S3="http://127.0.0.1:$port"
      export DUALRUN_TEST_PYTHON="$PWD/$venv/bin/python"
      return 0
    fi
    sleep 0.2
  done
  cat "$servers_dir/moto.log" >&2; server_failed "the S3 server (moto)"
}

stop_servers() {
  if [ -n "${postgres_data:-}" ]; then as_owner pg_ctl -D "$postgres_data" -m fast stop >/dev/null 2>&1 || true; fi
  if [ -n "${moto_pid:-}" ]; then kill "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$servers_dir"
}

trap stop_servers EXIT
start_postgres
start_s3
