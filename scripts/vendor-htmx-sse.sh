#!/usr/bin/env bash
# The htmx server-sent events extension from its npm registry package into portal/static/vendor/htmx-ext-sse/ for
# live chat (not committed; never a CDN). Its own directory: vendor-npm.sh keeps one VERSION file per destination.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/vendor-npm.sh" htmx-ext-sse "${HTMX_SSE_VERSION:-2.2.4}" dist/sse.min.js "$root/portal/static/vendor/htmx-ext-sse"
