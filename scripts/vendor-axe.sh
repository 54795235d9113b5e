#!/usr/bin/env bash
# Copy axe-core from its npm registry package into tests/browser/vendor/ (not committed; never a CDN).
# Used only by the accessibility browser tests (tests/browser/test_accessibility.py).
set -euo pipefail
AXE_VERSION="${AXE_VERSION:-4.14.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/tests/browser/vendor"
if [ -s "$dest/axe.min.js" ] && grep -qx "$AXE_VERSION" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Fetching axe-core@$AXE_VERSION from the npm registry..."
(cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
tar -xzf "$work"/axe-core-*.tgz -C "$work"
mkdir -p "$dest"
cp "$work/package/axe.min.js" "$dest/axe.min.js"
echo "$AXE_VERSION" > "$dest/VERSION"
echo "axe-core $AXE_VERSION vendored into tests/browser/vendor/"
