#!/usr/bin/env bash
# Refreshes web/pages/static/vendor from the versions pinned in package.json/package-lock.json.
# Run it after changing a version; commit the copied files (go build embeds them, needs no npm).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
out=../static/vendor
rm -rf "$out"
mkdir -p "$out"
cp node_modules/@xterm/xterm/lib/xterm.js "$out/xterm.js"
cp node_modules/@xterm/xterm/css/xterm.css "$out/xterm.css"
cp node_modules/@xterm/xterm/LICENSE "$out/xterm.LICENSE"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$out/addon-fit.js"
cp node_modules/@xterm/addon-fit/LICENSE "$out/addon-fit.LICENSE"
echo "vendor files updated in $(cd "$out" && pwd)"
