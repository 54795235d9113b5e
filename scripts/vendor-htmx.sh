#!/usr/bin/env bash
# htmx from its npm registry package into portal/static/vendor/ (not committed; never a CDN).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/vendor-npm.sh" htmx.org "${HTMX_VERSION:-2.0.11}" dist/htmx.min.js "$root/portal/static/vendor"
