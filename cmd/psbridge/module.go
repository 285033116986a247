package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/psbridge/psbridge/psmodule"
)

const moduleInstallLong = `Copies the PSBridge module (the cmdlets, types and attributes integration scripts use) into
a folder on PSModulePath, so that 'Import-Module PSBridge' works in any pwsh and editors find it:
the VS Code PowerShell extension then shows Get-Help, completes New-DynamicIntegration,
Add-DynamicIntegrationCapability and their parameters, and knows [OpResult], [Password()] and
the other types while you write an integration.

The module goes to MODULES/PSBridge/VERSION, where MODULES is
  --scope CurrentUser (default)  Linux, macOS: ~/.local/share/powershell/Modules
                                 ($XDG_DATA_HOME/powershell/Modules when that is set)
                                 Windows: Documents\PowerShell\Modules
  --scope AllUsers               Linux, macOS: /usr/local/share/powershell/Modules
                                 Windows: $env:ProgramFiles\PowerShell\Modules
  --path DIR                     DIR itself; add DIR to $env:PSModulePath if it is not on it
These are the folders pwsh 7 searches. PSBridge.dll is compiled with the pwsh psbridge finds
(--pwsh), as for 'psbridge run'. Running the command again is safe: a current copy is left
alone, a different one of the same version is replaced. It prints where the module is.`

func newModuleCmd() *cobra.Command {
	var scope, path, pwsh string
	install := &cobra.Command{
		Use:         "install",
		Short:       "copy the PSBridge module onto PSModulePath for editors and pwsh sessions",
		Long:        moduleInstallLong,
		Annotations: synopsis("psbridge module install [--scope CurrentUser|AllUsers] [--path DIR] [--pwsh FILE]"),
		Example: `  psbridge module install
  sudo psbridge module install --scope AllUsers
  psbridge module install --path ./modules && pwsh -c '$env:PSModulePath = "./modules"; Import-Module PSBridge; Get-Help New-DynamicIntegration'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path != "" && cmd.Flags().Changed("scope") {
				return usageErr("give --scope or --path, not both")
			}
			root, err := moduleRoot(scope, path)
			if err != nil {
				return err
			}
			return runModuleInstall(cmd.Context(), root, pwsh, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	install.Flags().StringVar(&scope, "scope", "CurrentUser", "CurrentUser or AllUsers: which of pwsh's module folders to install into")
	install.Flags().StringVar(&path, "path", "", "install into this modules `DIR` instead (as DIR/PSBridge/VERSION)")
	install.Flags().StringVar(&pwsh, "pwsh", "", "pwsh binary that compiles PSBridge.dll (default: $PSBRIDGE_PWSH, PATH, .NET tool folders)")
	m := parentCmd("module", "install the PSBridge module where editors and pwsh find it", "'install'", install)
	m.Long = moduleInstallLong
	m.Annotations = install.Annotations
	return m
}

// moduleRoot is the modules folder of --scope or --path.
func moduleRoot(scope, path string) (string, error) {
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return "", usageErr("--path %s: %v", path, err)
		}
		return abs, nil
	}
	var dir string
	var err error
	switch strings.ToLower(scope) {
	case "currentuser":
		dir, err = userModulesDir()
	case "allusers":
		dir, err = allUsersModulesDir()
	default:
		return "", usageErr("--scope must be CurrentUser or AllUsers, not %q", scope)
	}
	if err != nil {
		return "", &exitError{code: exitEnv, err: fmt.Errorf("module folder of scope %s: %w (give --path DIR)", scope, err)}
	}
	return dir, nil
}

// moduleSkip are the files of the compiled module that only workers need.
var moduleSkip = map[string]bool{"src": true, "build.ps1": true, "worker.ps1": true}

func runModuleInstall(ctx context.Context, root, pwshFlag string, stdout, stderr io.Writer) error {
	pwsh, err := findPwsh(ctx, pwshFlag, false, stderr)
	if err != nil {
		return err
	}
	inst, err := psmodule.Install(ctx, cacheDir(), pwsh)
	if err != nil {
		return &exitError{code: exitEnv, err: err}
	}
	dst := filepath.Join(root, "PSBridge", psmodule.Version)
	changed, err := syncModule(inst.Dir, dst)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(stdout, "installed the PSBridge module %s in %s\n", psmodule.Version, dst)
	} else {
		fmt.Fprintf(stdout, "the PSBridge module %s in %s is up to date\n", psmodule.Version, dst)
	}
	if on, err := onModulePath(ctx, pwsh, root); err == nil && !on {
		fmt.Fprintf(stdout, "%s is not on pwsh's PSModulePath: add it there (or pass Import-Module the path %s)\n", root, filepath.Join(dst, "PSBridge.psd1"))
	} else {
		fmt.Fprintln(stdout, "try: pwsh -c 'Import-Module PSBridge; Get-Help New-DynamicIntegration'")
	}
	return nil
}

// syncModule makes dst a copy of the module files in src (workers' files left out). It leaves
// a current copy alone and replaces any other one whole, through a folder built beside it.
func syncModule(src, dst string) (bool, error) {
	want := map[string][]byte{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if moduleSkip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		want[rel] = b
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read module %s: %w", src, err)
	}
	if sameFiles(dst, want) {
		return false, nil
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, fmt.Errorf("install module: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return false, fmt.Errorf("install module: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, fmt.Errorf("install module: %w", err)
	}
	for rel, b := range want {
		p := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, fmt.Errorf("install module: %w", err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return false, fmt.Errorf("install module: %w", err)
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		return false, fmt.Errorf("replace %s (close pwsh sessions and editors that imported PSBridge, then run again): %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return false, fmt.Errorf("install module: %w", err)
	}
	return true, nil
}

// sameFiles reports whether dir holds exactly the files of want, byte for byte.
func sameFiles(dir string, want map[string][]byte) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if w, ok := want[rel]; err != nil || !ok || !bytes.Equal(b, w) {
			return fs.ErrNotExist
		}
		n++
		return nil
	})
	return err == nil && n == len(want)
}

// onModulePath asks pwsh whether dir is one of the folders on its PSModulePath.
func onModulePath(ctx context.Context, pwsh, dir string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", "$env:PSModulePath").Output()
	if err != nil {
		return false, fmt.Errorf("ask pwsh for PSModulePath: %w", err)
	}
	for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p = filepath.Clean(p)
		if p == filepath.Clean(dir) || (runtime.GOOS == "windows" && strings.EqualFold(p, filepath.Clean(dir))) {
			return true, nil
		}
	}
	return false, nil
}
