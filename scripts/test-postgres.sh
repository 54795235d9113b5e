#!/usr/bin/env bash
# Run the whole suite against a fresh PostgreSQL database on the local server (dropped afterwards).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGHOST PGPORT PGUSER
db="portal_test_$(date +%s)_$$"
psql -q -d test -c "CREATE DATABASE $db" >/dev/null
cleanup() {
  for name in $(psql -Atq -d test -c "SELECT datname FROM pg_database WHERE datname LIKE '${db}%'"); do
    psql -q -d test -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
echo "Running the suite on PostgreSQL (database $db)"
# Parallel workers as for SQLite: each worker creates and uses its own database named after this one (${db}_gw0, ...).
TEST_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" make -C "$root" test PYTEST_ARGS="$*"
