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
TEST_DATABASE_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$db" make -C "$root" test PYTEST_ARGS="$*"
