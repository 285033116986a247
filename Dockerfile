# psbridge container image.
#
#   docker build -t psbridge .
#   docker run -d --name psbridge --read-only --tmpfs /tmp -p 8080:8080 -v psbridge-data:/data psbridge
#   docker exec psbridge psbridge token create --name admin
#
# Configuration: PSBRIDGE_* environment variables or a YAML file (psbridge config -h).
#
# The three base images are build arguments. The defaults are the maintained upstream images;
# scripts/container-build.sh builds the same Dockerfile on stand-ins made from Debian packages
# and the machine's own Go and .NET (for machines that reach no image registry), and
# internal/containertest runs the result.

ARG GO_IMAGE=golang:1.26-bookworm
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime:10.0-bookworm-slim

# Stage 1: a static Go build of the psbridge binary. GOPROXY, GOSUMDB, GOFLAGS and GOTOOLCHAIN
# pass through when given (a module mirror mounted at build time); unset, Go's defaults apply.
# The cache mounts keep modules and compiled packages between builds.
FROM ${GO_IMAGE} AS build
ARG GOPROXY
ARG GOSUMDB
ARG GOFLAGS
ARG GOTOOLCHAIN
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/psbridge ./cmd/psbridge

# Stage 2: pwsh from NuGet as a .NET tool. The PowerShell project's own images are no longer
# maintained; the .NET SDK images are, and the tool is the same pwsh. NuGet ships its assemblies
# as IL only: `psbridge precompile-pwsh` compiles them ahead of time with crossgen2 (restored
# from NuGet here, not kept), so each worker starts in about half the time.
FROM ${SDK_IMAGE} AS pwsh
COPY --from=build /out/psbridge /usr/local/bin/psbridge
RUN dotnet tool install --tool-path /opt/pwsh PowerShell --version 7.6.9 \
    && HOME=/tmp PSBRIDGE_CACHE_DIR=/tmp/psbridge-cache POWERSHELL_TELEMETRY_OPTOUT=1 \
        psbridge precompile-pwsh --pwsh /opt/pwsh/pwsh \
    && rm -rf /tmp/psbridge-cache

# Stage 3: runtime. The pwsh .NET tool is framework-dependent, so the base is the maintained
# .NET runtime image (runtime-deps would lack the shared framework it runs on). tini is PID 1:
# it reaps orphaned grandchildren of pwsh (native commands a script started) so they never
# pile up as zombies, and forwards SIGTERM to psbridge for a graceful drain.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="psbridge" \
      org.opencontainers.image.description="Self-hosted host for PowerShell integration scripts (ImmyBot dynamic integrations)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/psbridge/psbridge" \
      org.opencontainers.image.licenses="MIT"
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin psbridge \
    && mkdir -p /data && chown psbridge:psbridge /data
COPY --from=pwsh /opt/pwsh /opt/pwsh
COPY --from=build /out/psbridge /usr/local/bin/psbridge
COPY --from=build /src/testdata/examples/01-basic.ps1 /tmp/warm.ps1
# The PSBridge module that every worker loads, compiled here once by running the smallest
# integration: at run time the cache is read-only (--read-only works) and outside /data, which
# the workers' Landlock confinement denies them. Keyed by the module sources and pwsh, so a
# new image compiles anew.
RUN HOME=/tmp PSBRIDGE_CACHE_DIR=/opt/psbridge/cache PSBRIDGE_PWSH=/opt/pwsh/pwsh \
        POWERSHELL_TELEMETRY_OPTOUT=1 /usr/local/bin/psbridge run /tmp/warm.ps1 >/dev/null \
    && rm -rf /tmp/* /tmp/.[!.]* \
    && ls /opt/psbridge/cache/module-*/PSBridge.dll
ENV PSBRIDGE_PWSH=/opt/pwsh/pwsh \
    PSBRIDGE_CACHE_DIR=/opt/psbridge/cache \
    PSBRIDGE_DATA_DIR=/data \
    PSBRIDGE_LISTEN=0.0.0.0:8080 \
    POWERSHELL_TELEMETRY_OPTOUT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/psbridge", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/psbridge"]
CMD ["serve"]
