#!/usr/bin/env bash
# Run the whole suite against a fresh PostgreSQL database on the local server (dropped afterwards).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGHOST PGPORT PGUSER
db="portal_test_$(date +%s)_$$"
psql -q -d test -c "CREATE DATABASE $db" >/dev/null
trap 'psql -q -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
echo "Running the suite on PostgreSQL (database $db)"
# One database for the run, so one test process (the SQLite suite runs in parallel, each worker on its own file).
TEST_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" make -C "$root" test TEST_WORKERS=0 PYTEST_ARGS="$*"
