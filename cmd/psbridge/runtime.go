package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/psmodule"
)

// cacheDir is where psbridge keeps the compiled module (and, from install-pwsh, pwsh itself).
func cacheDir() string {
	if d := os.Getenv("PSBRIDGE_CACHE_DIR"); d != "" {
		return d
	}
	if d, ok := sharedCacheDir(); ok { // root, LocalSystem: readable by the accounts workers run as
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "psbridge")
	}
	return filepath.Join(os.TempDir(), "psbridge-cache")
}

// findPwsh finds pwsh and checks its version. With autoInstall, a machine that has the .NET
// SDK but no pwsh gets it installed into the cache first (what 'demo' does for newcomers).
func findPwsh(ctx context.Context, explicit string, autoInstall bool, stderr io.Writer) (string, error) {
	pwsh, err := bridge.FindPwsh(explicit)
	if err != nil && autoInstall && explicit == "" {
		if _, derr := exec.LookPath("dotnet"); derr == nil {
			fmt.Fprintln(stderr, "pwsh not found; installing PowerShell with the .NET SDK (psbridge install-pwsh)...")
			if ierr := installPwsh(ctx, pwshToolVersion, stderr); ierr != nil {
				return "", &exitError{code: exitEnv, err: ierr}
			}
			pwsh, err = bridge.FindPwsh("")
		}
	}
	if err != nil {
		return "", &exitError{code: exitEnv, err: err}
	}
	v, err := bridge.PwshVersion(ctx, pwsh)
	if err != nil {
		return "", &exitError{code: exitEnv, err: err}
	}
	if err := bridge.CheckPwshVersion(v); err != nil {
		return "", &exitError{code: exitEnv, err: err}
	}
	return pwsh, nil
}

// pwshToolVersion is the PowerShell .NET tool version installed by default: the newest that
// runs on .NET 10 (a later 7.7 may want .NET 11). Override with install-pwsh --version.
const pwshToolVersion = "7.6.9"

// installPwsh runs dotnet tool install (or update) of PowerShell toolVersion into
// bridge.ManagedPwshDir.
func installPwsh(ctx context.Context, toolVersion string, out io.Writer) error {
	dir := bridge.ManagedPwshDir()
	if dir == "" {
		return errors.New("install pwsh: no user cache directory")
	}
	if _, err := exec.LookPath("dotnet"); err != nil {
		return fmt.Errorf("install pwsh: the .NET SDK (dotnet) is not on PATH\n%s", bridge.PwshInstallHelp)
	}
	verb := "install"
	if _, err := os.Stat(filepath.Join(dir, bridge.PwshName)); err == nil {
		verb = "update"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dotnet", "tool", verb, "--tool-path", dir, "PowerShell", "--version", toolVersion)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install pwsh: dotnet tool %s --tool-path %s PowerShell --version %s: %w", verb, dir, toolVersion, err)
	}
	return nil
}

func newInstallPwshCmd() *cobra.Command {
	var ifMissing bool
	var toolVersion string
	cmd := &cobra.Command{
		Use:   "install-pwsh",
		Short: "install PowerShell with the .NET SDK into psbridge's cache",
		Long: `Installs PowerShell (pwsh) from NuGet with the .NET SDK into psbridge's cache directory
(` + bridge.ManagedPwshDir() + `), where psbridge finds it. Needs 'dotnet' on PATH.
Equivalent to: dotnet tool install --tool-path ` + bridge.ManagedPwshDir() + ` PowerShell --version ` + pwshToolVersion,
		Annotations: synopsis("psbridge install-pwsh [--if-missing] [--version VERSION]"),
		Example: `  psbridge install-pwsh --if-missing
  psbridge install-pwsh --version ` + pwshToolVersion,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstallPwsh(cmd.Context(), ifMissing, toolVersion, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&ifMissing, "if-missing", false, "do nothing when a usable pwsh is already found")
	cmd.Flags().StringVar(&toolVersion, "version", pwshToolVersion, "PowerShell tool `VERSION` to install")
	return cmd
}

func runInstallPwsh(ctx context.Context, ifMissing bool, toolVersion string, stdout, stderr io.Writer) error {
	if ifMissing {
		if pwsh, err := findPwsh(ctx, "", false, stderr); err == nil {
			fmt.Fprintln(stdout, "pwsh ready:", pwsh)
			return nil
		}
	}
	if err := installPwsh(ctx, toolVersion, stdout); err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	pwsh, err := findPwsh(ctx, filepath.Join(bridge.ManagedPwshDir(), bridge.PwshName), false, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "pwsh ready:", pwsh)
	return nil
}

// startPool finds pwsh, installs the module and starts a pool.
func startPool(ctx context.Context, pwsh string, cfg bridge.Config) (*bridge.Pool, error) {
	inst, err := psmodule.Install(ctx, cacheDir(), pwsh)
	if err != nil {
		return nil, &exitError{code: exitEnv, err: err}
	}
	cfg.Pwsh = pwsh
	cfg.WorkerScript = inst.WorkerScript()
	p, err := bridge.New(ctx, cfg)
	if err != nil {
		return nil, &exitError{code: exitEnv, err: err}
	}
	return p, nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "print versions (psbridge, the PSBridge module, pwsh)",
		Long:    "Prints psbridge's version, the PSBridge module's version and source hash, and the pwsh psbridge finds.",
		Example: "  psbridge version\n  psbridge --version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), cmd.OutOrStdout())
		},
	}
}

func runVersion(ctx context.Context, stdout io.Writer) error {
	fmt.Fprintf(stdout, "psbridge %s (module %s, sources %s)\n", version, psmodule.Version, psmodule.SourceHash())
	if pwsh, err := bridge.FindPwsh(""); err == nil {
		if v, err := bridge.PwshVersion(ctx, pwsh); err == nil {
			fmt.Fprintf(stdout, "pwsh %d.%d.%d at %s\n", v[0], v[1], v[2], pwsh)
		}
	} else {
		fmt.Fprintln(stdout, "pwsh: not found ("+strings.SplitN(err.Error(), "\n", 2)[0]+")")
	}
	return nil
}

// version is the psbridge release, set at build time with -ldflags "-X main.version=…".
var version = "dev"
