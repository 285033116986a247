package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/bridge"
	"github.com/psbridge/psbridge/internal/readytorun"
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
			if err == nil {
				if perr := precompilePwsh(ctx, pwsh, stderr); perr != nil {
					fmt.Fprintf(stderr, "warning: %v\npwsh works; its workers start slower\n", perr)
				}
			}
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
	var ifMissing, noPrecompile bool
	var toolVersion string
	cmd := &cobra.Command{
		Use:   "install-pwsh",
		Short: "install PowerShell with the .NET SDK into psbridge's cache",
		Long: `Installs PowerShell (pwsh) from NuGet with the .NET SDK into psbridge's cache directory
(` + bridge.ManagedPwshDir() + `), where psbridge finds it, then compiles its assemblies ahead
of time (psbridge precompile-pwsh). Needs 'dotnet' on PATH.

The install is: dotnet tool install --tool-path ` + bridge.ManagedPwshDir() + ` PowerShell --version ` + pwshToolVersion + `
The NuGet package ships IL only; compiled ahead of time, a worker starts in about half the
time. Without --no-precompile, --if-missing also compiles a pwsh installed here earlier that is
not compiled yet.`,
		Annotations: synopsis("psbridge install-pwsh [--if-missing] [--version VERSION] [--no-precompile]"),
		Example: `  psbridge install-pwsh --if-missing
  psbridge install-pwsh --version ` + pwshToolVersion,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstallPwsh(cmd.Context(), ifMissing, !noPrecompile, toolVersion, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&ifMissing, "if-missing", false, "do nothing when a usable pwsh is already found (but compile psbridge's own install when it is not yet)")
	cmd.Flags().StringVar(&toolVersion, "version", pwshToolVersion, "PowerShell tool `VERSION` to install")
	cmd.Flags().BoolVar(&noPrecompile, "no-precompile", false, "leave pwsh's assemblies as NuGet ships them (IL only)")
	return cmd
}

func runInstallPwsh(ctx context.Context, ifMissing, precompile bool, toolVersion string, stdout, stderr io.Writer) error {
	if ifMissing {
		if pwsh, err := findPwsh(ctx, "", false, stderr); err == nil {
			if precompile && isManagedPwsh(pwsh) {
				if err := precompilePwsh(ctx, pwsh, stdout); err != nil {
					fmt.Fprintf(stderr, "warning: %v\npwsh still works; its workers start slower\n", err)
				}
			}
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
	if precompile {
		if err := precompilePwsh(ctx, pwsh, stdout); err != nil {
			fmt.Fprintf(stderr, "warning: %v\npwsh is installed and works; its workers start slower (psbridge precompile-pwsh tries again)\n", err)
		}
	}
	fmt.Fprintln(stdout, "pwsh ready:", pwsh)
	return nil
}

// isManagedPwsh reports whether pwsh is the one install-pwsh installs (and may change).
func isManagedPwsh(pwsh string) bool {
	dir := bridge.ManagedPwshDir()
	if dir == "" {
		return false
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	got, err := filepath.EvalSymlinks(filepath.Dir(pwsh))
	return err == nil && got == real
}

func newPrecompilePwshCmd() *cobra.Command {
	var pwshFlag string
	cmd := &cobra.Command{
		Use:   "precompile-pwsh",
		Short: "compile a pwsh .NET tool's assemblies ahead of time (ReadyToRun), in place",
		Long: `Compiles the assemblies of the pwsh psbridge uses ahead of time (ReadyToRun), in place, with
crossgen2 from NuGet (restored once with the .NET SDK into psbridge's cache).

The PowerShell .NET tool on NuGet ships its assemblies as IL only, so every worker JIT-compiles
PowerShell's engine as it starts. Compiled ahead of time, a worker starts in about half the time
(measured: 1.5 s -> 0.65 s from start to its first call served) and a fresh 'pwsh -Command' in
0.27 s instead of 0.7 s. The code is the same: crossgen2 adds native code beside the IL.

Microsoft's own pwsh packages (deb, rpm, msi, pkg) are compiled already: then there is nothing to
do. 'psbridge install-pwsh' runs this after installing. Each assembly is replaced whole, so
running workers are not disturbed; an assembly crossgen2 cannot compile stays as it was.
Needs 'dotnet' (the .NET SDK) on PATH and write access to pwsh's folder.`,
		Annotations: synopsis("psbridge precompile-pwsh [--pwsh PATH]"),
		Example: `  psbridge precompile-pwsh
  sudo psbridge precompile-pwsh --pwsh /opt/pwsh/pwsh`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pwsh, err := findPwsh(cmd.Context(), pwshFlag, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := precompilePwsh(cmd.Context(), pwsh, cmd.OutOrStdout()); err != nil {
				return &exitError{code: exitEnv, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&pwshFlag, "pwsh", "", "the pwsh to compile (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	return cmd
}

// precompilePwsh compiles pwsh's assemblies ahead of time unless its engine is already.
func precompilePwsh(ctx context.Context, pwsh string, out io.Writer) error {
	dir := bridge.PwshAppDir(pwsh)
	if _, err := readytorun.Check(dir); err != nil {
		return fmt.Errorf("precompile pwsh: %w", err)
	}
	// Every assembly is looked at, not only the engine: an earlier run that was interrupted
	// left some compiled and others not.
	start := time.Now()
	res, err := readytorun.Compile(ctx, dir, readytorun.Options{Pwsh: pwsh, CacheDir: cacheDir(), Log: out})
	if err != nil {
		return fmt.Errorf("precompile pwsh: %w", err)
	}
	if len(res.Compiled) == 0 && len(res.Failed) == 0 {
		fmt.Fprintf(out, "pwsh's assemblies in %s are compiled ahead of time already\n", dir)
		return nil
	}
	fmt.Fprintf(out, "compiled %d assemblies ahead of time in %s (.NET %s)", len(res.Compiled), time.Since(start).Round(100*time.Millisecond), res.Runtime)
	if len(res.Failed) > 0 {
		fmt.Fprintf(out, "; %d left as IL:", len(res.Failed))
		names := make([]string, 0, len(res.Failed))
		for n := range res.Failed {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(out, "\n  %s: %s", n, res.Failed[n])
		}
	}
	fmt.Fprintln(out)
	if k, err := readytorun.Check(dir); err != nil || k != readytorun.ReadyToRun {
		return fmt.Errorf("precompile pwsh: %s is still %s", filepath.Join(dir, "System.Management.Automation.dll"), k)
	}
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
			fmt.Fprintf(stdout, "pwsh %d.%d.%d at %s (%s)\n", v[0], v[1], v[2], pwsh, pwshCompilation(pwsh))
		}
	} else {
		fmt.Fprintln(stdout, "pwsh: not found ("+strings.SplitN(err.Error(), "\n", 2)[0]+")")
	}
	return nil
}

// pwshCompilation says whether pwsh's engine is compiled ahead of time, and what to do if not.
func pwshCompilation(pwsh string) string {
	k, err := readytorun.Check(bridge.PwshAppDir(pwsh))
	switch {
	case err != nil:
		return "engine not found beside it"
	case k == readytorun.ReadyToRun:
		return "compiled ahead of time"
	}
	return "IL only: workers start slower; psbridge precompile-pwsh compiles it"
}

// version is the psbridge release, set at build time with -ldflags "-X main.version=…".
var version = "dev"
