#!/usr/bin/env bash
# psbridge's test command: installs what the tests need where it is missing, then runs every Go
# test against the real pwsh (with -race) and the browser tests of the pages.
#
# What it installs, and where:
#   pwsh      from NuGet with the .NET SDK (`psbridge install-pwsh --if-missing`), any system,
#             its assemblies compiled ahead of time with crossgen2 (also from NuGet; once);
#             already there when PSBRIDGE_PWSH or pwsh 7.4+ on PATH is found.
#   Chromium  with apt-get (Debian, Ubuntu) when neither PSBRIDGE_CHROMIUM nor /usr/bin/chromium
#             exists; elsewhere install Chromium yourself and set PSBRIDGE_CHROMIUM=/path/to/it.
#   node, npm with apt-get when missing; elsewhere install Node.js 18+ yourself.
#   npm packages (playwright-core) with `npm ci` in web/e2e, every run.
# apt-get runs directly as root and through sudo otherwise. Go 1.26 must already be on PATH.
#
# Environment: TEST_TIMEOUT (default 40m) bounds `go test`; GO_TEST_FLAGS adds flags to it
# (for example GO_TEST_FLAGS=-short skips the slowest tests).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }

# apt_install PACKAGE... installs Debian packages, or explains what to do where apt is missing.
apt_install() {
  if ! command -v apt-get >/dev/null; then
    say "missing $*; this system has no apt-get: install $* yourself and run again"
    exit 1
  fi
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      say "missing $*; installing needs root: run 'apt-get install $*' as root and run again"
      exit 1
    fi
    sudo=(sudo)
  fi
  say "installing $* with apt-get"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@"
}

if ! command -v go >/dev/null; then
  say "go is not on PATH: install Go 1.26 (https://go.dev/dl/) and run again"
  exit 1
fi

go run ./cmd/psbridge install-pwsh --if-missing

if [ -z "${PSBRIDGE_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  apt_install nodejs npm
fi

# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
go test -race -timeout "${TEST_TIMEOUT:-40m}" ${GO_TEST_FLAGS:-} ./...
npm --prefix web/e2e ci --no-audit --no-fund
npm --prefix web/e2e test
