# psbridge container image.
#
#   docker build -t psbridge .
#   docker run -d --name psbridge -p 8080:8080 -v psbridge-data:/data psbridge
#   docker exec psbridge psbridge token create --name admin
#
# Configuration: PSBRIDGE_* environment variables or a YAML file (psbridge config -h).

# Stage 1: a static Go build of the psbridge binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/psbridge ./cmd/psbridge

# Stage 2: pwsh from NuGet as a .NET tool. The PowerShell project's own images are no longer
# maintained; the .NET SDK images are, and the tool is the same pwsh.
FROM mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim AS pwsh
RUN dotnet tool install --tool-path /opt/pwsh PowerShell --version 7.6.9

# Stage 3: runtime. The pwsh .NET tool is framework-dependent, so the base is the maintained
# .NET runtime image (runtime-deps would lack the shared framework it runs on). tini is PID 1:
# it reaps orphaned grandchildren of pwsh (native commands a script started) so they never
# pile up as zombies, and forwards SIGTERM to psbridge for a graceful drain.
FROM mcr.microsoft.com/dotnet/runtime:10.0-bookworm-slim
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
ENV PSBRIDGE_PWSH=/opt/pwsh/pwsh \
    PSBRIDGE_CACHE_DIR=/data/cache \
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
