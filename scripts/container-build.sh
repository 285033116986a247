#!/usr/bin/env bash
# Builds the psbridge image from the repository's Dockerfile with podman on a machine that
# reaches no image registry (only Debian's archive and NuGet), as CI does:
#
#   scripts/container-build.sh [TAG]          # default localhost/psbridge:test
#
# The Dockerfile's three base images are build arguments; here they are stand-ins made from
#   - a Debian bookworm root file system from mmdebstrap (cached as a tarball under
#     $PSBRIDGE_CONTAINER_CACHE, keyed by the mmdebstrap command, reused when present),
#   - the machine's Go toolchain (for golang:…) and .NET install (for dotnet/sdk and
#     dotnet/runtime: the SDK image gets it whole, the runtime image only the host and the
#     Microsoft.NETCore.App shared framework, as the upstream runtime image has).
# Each stand-in is tagged by what it holds and built only when missing. The psbridge stages
# themselves are the published Dockerfile's: pwsh comes from NuGet with `dotnet tool install`,
# tini from Debian, the binary from a Go build in the container (modules from the machine's
# module cache, mounted read-only as a file:// GOPROXY).
#
# Podman here runs with runc and default_ulimits = [] (crun fails on this kernel's cgroup v1
# hybrid mode and on setrlimit); CONTAINERS_CONF points at the file this script writes. Builds
# and runs use the host network: the only addresses involved are the registries and loopback.
#
# Prints the containers.conf path on the last line for callers (internal/containertest).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/psbridge:test}"
cache="${PSBRIDGE_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/psbridge-container}"
mkdir -p "$cache"

missing=()
for tool in podman:podman runc:runc mmdebstrap:mmdebstrap go:golang dotnet:dotnet-sdk; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "container-build: missing ${missing[*]}; install with: apt-get install -y podman runc busybox-static mmdebstrap" >&2
  exit 1
fi

conf="$cache/containers.conf"
cat >"$conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$conf"

log() { echo "container-build: $*" >&2; }
sha() { sha256sum | cut -c1-16; }

# 1. Debian base: the packages the upstream .NET images start from (runtime-deps).
mm=(mmdebstrap --variant=minbase
  --include=ca-certificates,libicu72,libssl3,zlib1g,tzdata,libstdc++6,libgcc-s1
  --format=tar bookworm - http://deb.debian.org/debian)
key=$(echo "${mm[*]}" | sha)
base="localhost/psbridge-stand-in/debian:bookworm-$key"
tarball="$cache/debian-bookworm-$key.tar"
if ! podman image exists "$base"; then
  if [ ! -s "$tarball" ]; then
    log "mmdebstrap → $tarball"
    "${mm[@]}" >"$tarball.part" 2>"$cache/mmdebstrap.log" || { tail -20 "$cache/mmdebstrap.log" >&2; exit 1; }
    mv "$tarball.part" "$tarball"
  fi
  log "podman import $tarball"
  podman import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi

# 2. golang stand-in: the machine's Go toolchain at /usr/local/go, GOPATH /go as upstream.
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
golang="localhost/psbridge-stand-in/golang:$gover-$key"
if ! podman image exists "$golang"; then
  log "golang stand-in $golang from $goroot"
  podman build --network host -t "$golang" -f - "$goroot" >&2 <<EOF
FROM $base
COPY . /usr/local/go
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
fi

# 3. .NET stand-ins from the machine's install: the SDK whole, the runtime as upstream ships it.
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
sdkver=$(dotnet --version)
rtver=$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | sort -V | tail -1)
sdk="localhost/psbridge-stand-in/dotnet-sdk:$sdkver-$key"
runtime="localhost/psbridge-stand-in/dotnet-runtime:$rtver-$key"
if ! podman image exists "$sdk"; then
  log "dotnet sdk stand-in $sdk from $dotnet_root"
  podman build --network host -t "$sdk" -f - "$dotnet_root" >&2 <<EOF
FROM $base
COPY . /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_RUNNING_IN_CONTAINER=true DOTNET_NOLOGO=true DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    NUGET_CERT_REVOCATION_MODE=${NUGET_CERT_REVOCATION_MODE:-online}
EOF
fi
if ! podman image exists "$runtime"; then
  log "dotnet runtime stand-in $runtime from $dotnet_root"
  podman build --network host -t "$runtime" -f - "$dotnet_root" >&2 <<EOF
FROM $base
COPY dotnet LICENSE.txt ThirdPartyNotices.txt /usr/share/dotnet/
COPY host /usr/share/dotnet/host
COPY shared/Microsoft.NETCore.App/$rtver /usr/share/dotnet/shared/Microsoft.NETCore.App/$rtver
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_RUNNING_IN_CONTAINER=true DOTNET_VERSION=$rtver
EOF
fi

# 4. The image itself, from the repository's Dockerfile. --format docker keeps HEALTHCHECK
# (OCI image configs have no such field). The machine's CA bundle is mounted into every build
# step, not copied into a layer: where registries are reached through an intercepting proxy
# (as here, for NuGet), `dotnet tool install` has to trust its certificate.
go mod download
modproxy="$(go env GOMODCACHE)/cache/download"
cas=()
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  cas=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi
log "podman build $tag"
start=$(date +%s)
podman build --format docker --network host "${cas[@]}" \
  --volume "$modproxy:/goproxy:ro" \
  --build-arg GO_IMAGE="$golang" --build-arg SDK_IMAGE="$sdk" --build-arg RUNTIME_IMAGE="$runtime" \
  --build-arg GOPROXY=file:///goproxy --build-arg GOSUMDB=off --build-arg GOTOOLCHAIN=local \
  --build-arg GOFLAGS=-mod=readonly \
  --build-arg VERSION="$(git describe --tags --always 2>/dev/null || echo dev)" \
  -t "$tag" . >&2
log "built $tag in $(($(date +%s) - start)) s"
echo "$conf"
