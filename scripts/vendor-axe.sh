#!/usr/bin/env bash
# axe-core from its npm registry package into tests/browser/vendor/, for the accessibility browser tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/scripts/vendor-npm.sh" axe-core "${AXE_VERSION:-4.14.1}" axe.min.js "$root/tests/browser/vendor"
