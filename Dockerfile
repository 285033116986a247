# psbridge container image.
#   docker build -t psbridge .
#   docker run --rm -p 8080:8080 -v psbridge-data:/data psbridge
#
# Stage 1: a static Go build of the psbridge binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/psbridge ./cmd/psbridge

# Stage 2: pwsh from NuGet, installed as a .NET tool (the PowerShell project's own images are
# no longer maintained; the .NET images are).
FROM mcr.microsoft.com/dotnet/sdk:10.0-bookworm-slim AS pwsh
RUN dotnet tool install --tool-path /opt/pwsh PowerShell

# Stage 3: runtime on the maintained .NET runtime image (pwsh is a framework-dependent tool).
FROM mcr.microsoft.com/dotnet/runtime:10.0-bookworm-slim
LABEL org.opencontainers.image.title="psbridge" \
      org.opencontainers.image.description="Self-hosted host for PowerShell integration scripts (ImmyBot dynamic integrations)" \
      org.opencontainers.image.source="https://github.com/psbridge/psbridge" \
      org.opencontainers.image.licenses="MIT"
COPY --from=pwsh /opt/pwsh /opt/pwsh
COPY --from=build /out/psbridge /usr/local/bin/psbridge
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin psbridge \
    && mkdir -p /data && chown psbridge:psbridge /data
ENV PSBRIDGE_PWSH=/opt/pwsh/pwsh \
    PSBRIDGE_CACHE_DIR=/data/cache \
    POWERSHELL_TELEMETRY_OPTOUT=1 \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/psbridge"]
CMD ["demo"]
