#!/usr/bin/env bash
# Copy one file of an npm registry package into the tree (vendored at set-up, not committed; never a CDN).
# Usage: vendor-npm.sh PACKAGE VERSION FILE-IN-PACKAGE DEST-DIR
set -euo pipefail
package="$1" version="$2" file="$3" dest="$4"
name="$(basename "$file")"
if [ -s "$dest/$name" ] && grep -qx "$version" "$dest/VERSION" 2>/dev/null; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Fetching $package@$version from the npm registry..."
(cd "$work" && npm pack --silent "$package@$version" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
mkdir -p "$dest"
cp "$work/package/$file" "$dest/$name"
echo "$version" > "$dest/VERSION"
echo "$package $version vendored into $dest/"
