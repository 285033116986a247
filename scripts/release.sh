#!/usr/bin/env bash
# Builds psbridge release archives for every supported target into dist/:
#   psbridge-VERSION-OS-ARCH.tar.gz  (linux, darwin)   psbridge-VERSION-windows-ARCH.zip
# each holding the psbridge binary, README.md (and LICENSE when the repository has one),
# plus dist/SHA256SUMS over the archives.
#
# Usage: scripts/release.sh [VERSION]      (default: $VERSION, else git describe, else "dev")
#        TARGETS="linux/amd64 windows/arm64" scripts/release.sh v0.2.0
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ../shared/go-env.sh ]; then
  # shellcheck disable=SC1091
  . ../shared/go-env.sh
fi

VERSION=${1:-${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}}
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}
DIST=dist

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

zip_dir() { # zip_dir ARCHIVE DIR (DIR relative to the current directory)
  if command -v zip >/dev/null; then
    zip -qrX "$1" "$2"
  else
    python3 -m zipfile -c "$1" "$2"
  fi
}

rm -rf "$DIST"
mkdir -p "$DIST"
extras=(README.md)
for f in LICENSE LICENSE.md LICENSE.txt; do
  [ -f "$f" ] && extras+=("$f")
done

for target in $TARGETS; do
  os=${target%/*}
  arch=${target#*/}
  name="psbridge-$VERSION-$os-$arch"
  stage="$DIST/$name"
  exe=psbridge
  [ "$os" = windows ] && exe=psbridge.exe
  echo "building $name"
  mkdir -p "$stage"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X main.version=$VERSION" -o "$stage/$exe" ./cmd/psbridge
  cp "${extras[@]}" "$stage/"
  if [ "$os" = windows ]; then
    (cd "$DIST" && zip_dir "$name.zip" "$name")
  else
    tar -C "$DIST" -czf "$DIST/$name.tar.gz" "$name"
  fi
  rm -rf "$stage"
done

(cd "$DIST" && sha256 psbridge-*.tar.gz psbridge-*.zip 2>/dev/null > SHA256SUMS || true)
[ -s "$DIST/SHA256SUMS" ] || { echo "no archives built" >&2; exit 1; }
echo "release $VERSION:"
cat "$DIST/SHA256SUMS"
