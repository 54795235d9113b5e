#!/usr/bin/env bash
# Chart.js (UMD build) from its npm registry package into portal/static/vendor/chartjs/ for the report charts
# (not committed; never a CDN). Its own directory: vendor-npm.sh keeps one VERSION file per destination.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/vendor-npm.sh" chart.js "${CHARTJS_VERSION:-4.5.1}" dist/chart.umd.min.js "$root/portal/static/vendor/chartjs"
