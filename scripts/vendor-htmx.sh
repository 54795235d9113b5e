#!/usr/bin/env bash
# Copy htmx from its npm registry package into portal/static/vendor/ (not committed; never a CDN).
set -euo pipefail
HTMX_VERSION="${HTMX_VERSION:-2.0.11}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/portal/static/vendor"
if [ -s "$dest/htmx.min.js" ] && grep -q "$HTMX_VERSION" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Fetching htmx.org@$HTMX_VERSION from the npm registry..."
(cd "$work" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null)
tar -xzf "$work"/htmx.org-*.tgz -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/htmx.min.js" "$dest/htmx.min.js"
echo "$HTMX_VERSION" > "$dest/VERSION"
echo "htmx $HTMX_VERSION vendored into portal/static/vendor/"
