#!/usr/bin/env bash
# Generate 10k and 100k ticket SQLite databases and benchmark the hot pages on each (see bench/README.md).
#   bench/run_all.sh                 # databases under bench/out/ (git-ignored)
#   OUT=/tmp REQUESTS=500 bench/run_all.sh
#   PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench bench/run_all.sh   # also 10k on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-bench/out}
REQUESTS=${REQUESTS:-200}
WORKERS=${WORKERS:-1}
SIZES=${SIZES:-"10000 100000"}
mkdir -p "$OUT"

for n in $SIZES; do
  db="$OUT/bench$((n / 1000))k.db"
  echo "=== $n tickets on SQLite ($db)"
  start=$(date +%s)
  "$PY" bench/generate.py --tickets "$n" --database-url "sqlite:///$(realpath "$db")"
  echo "generator: $(( $(date +%s) - start ))s"
  "$PY" bench/bench_pages.py --database-url "sqlite:///$(realpath "$db")" --requests "$REQUESTS" --workers "$WORKERS"
  echo
done

if [[ -n "${PG_URL:-}" ]]; then
  echo "=== 10000 tickets on PostgreSQL ($PG_URL)"
  start=$(date +%s)
  "$PY" bench/generate.py --tickets 10000 --database-url "$PG_URL" --fresh
  echo "generator: $(( $(date +%s) - start ))s"
  "$PY" bench/bench_pages.py --database-url "$PG_URL" --requests "$REQUESTS" --workers "$WORKERS"
fi
