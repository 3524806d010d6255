#!/usr/bin/env bash
# Install (Debian's package), start and prepare a local PostgreSQL for the cluster tests.
# Idempotent and quick when it is already there. Prints the test URL on its last line;
# `.ci/run` exports it as FEEDWATCH_TEST_PG (tests that need PostgreSQL skip without it).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    pg_ctlcluster "$version" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
psql_as_postgres() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_as_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'feedwatch'")" != "1" ]; then
    psql_as_postgres "CREATE ROLE feedwatch LOGIN PASSWORD 'feedwatch'" >&2
fi
if [ "$(psql_as_postgres "SELECT 1 FROM pg_database WHERE datname = 'feedwatch_test'")" != "1" ]; then
    psql_as_postgres "CREATE DATABASE feedwatch_test OWNER feedwatch" >&2
fi
echo "$version main"
echo "postgresql://feedwatch:feedwatch@127.0.0.1:$port/feedwatch_test"
