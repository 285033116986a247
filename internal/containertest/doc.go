// Package containertest builds the psbridge image from the repository's Dockerfile and runs
// it with podman, checking it as an operator would (health check, readiness, an integration
// against the fake SentinelOne API, the process tree, a read-only root, a graceful stop, a
// second container on the same volume, the agent). Its test needs the build tag `container`
// (`go test -tags container ./internal/containertest`), which .ci/run passes; without the
// tools it fails with the command that installs them.
package containertest
