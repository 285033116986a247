// Package psmodule ships the PowerShell side of psbridge: the PSBridge module (the cmdlets,
// types and attributes integration scripts use) and the worker host that speaks JSON-RPC with
// the Go supervisor. The files are embedded in the binary; Install writes them to a cache
// directory and compiles the C# sources once per content hash with the pwsh that will run them.
package psmodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed PSBridge.psd1 PSBridge.psm1 PSBridge.dll-Help.xml worker.ps1 build.ps1 src/*.cs PSBridge.Testing/*
var files embed.FS

// Version is the module version written in PSBridge.psd1 and reported by workers.
const Version = "0.1.0"

// Installed describes a materialised, compiled copy of the module.
type Installed struct {
	// Dir holds PSBridge.psd1, PSBridge.psm1, worker.ps1, PSBridge.dll and its help
	// (PSBridge.dll-Help.xml), and the PSBridge.Testing module folder.
	Dir string
	// Hash identifies the embedded sources (and the pwsh binary that compiled them).
	Hash string
}

// WorkerScript is the path of the script a worker process runs.
func (i Installed) WorkerScript() string { return filepath.Join(i.Dir, "worker.ps1") }

// Manifest is the path of the module manifest.
func (i Installed) Manifest() string { return filepath.Join(i.Dir, "PSBridge.psd1") }

// TestingManifest is the path of the PSBridge.Testing module's manifest: the Pester helpers
// (New-PSBridgeTestIntegration, Invoke-PSBridgeTestMethod) integration authors test with.
func (i Installed) TestingManifest() string {
	return filepath.Join(i.Dir, "PSBridge.Testing", "PSBridge.Testing.psd1")
}

// Assembly is the path of the compiled worker host and compatibility types.
func (i Installed) Assembly() string { return filepath.Join(i.Dir, "PSBridge.dll") }

// SourceHash returns a hash of every embedded file, so a changed binary never reuses a stale
// compiled assembly.
func SourceHash() string {
	h := sha256.New()
	var names []string
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := files.ReadFile(n)
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Install writes the module below cacheDir (in a directory named after the source hash and the
// pwsh binary) and compiles PSBridge.dll with pwsh when it is not there yet. It is safe to call
// from several processes at once: the directory is built aside and renamed into place.
//
// The process then holds the directory for the rest of its life (a shared lock on its .lock
// file, where the system has file locks), and Install removes what no process holds any more:
// the directories of other psbridge builds, and builds left half-done (see pruneCache).
func Install(ctx context.Context, cacheDir, pwsh string) (Installed, error) {
	pwshID, err := binaryID(pwsh)
	if err != nil {
		return Installed{}, fmt.Errorf("install module: %w", err)
	}
	hash := SourceHash() + "-" + pwshID
	dir := filepath.Join(cacheDir, "module-"+hash)
	inst := Installed{Dir: dir, Hash: hash}
	for attempt := 0; attempt < 5; attempt++ {
		release, err := holdDir(dir)
		switch {
		case err == nil:
			if _, err := os.Stat(inst.Assembly()); err == nil {
				pruneCache(cacheDir, filepath.Base(dir), time.Now())
				return inst, nil
			}
			release()
			return Installed{}, fmt.Errorf("install module: %s has no PSBridge.dll: remove that directory and start again", dir)
		case errors.Is(err, errDirMoved):
			continue // removed as it was taken: build it again
		case !errors.Is(err, fs.ErrNotExist):
			return Installed{}, fmt.Errorf("install module: %w", err)
		}
		if err := build(ctx, cacheDir, dir, pwsh); err != nil {
			return Installed{}, err
		}
	}
	return Installed{}, fmt.Errorf("install module: %s was removed each time it was installed", dir)
}

// build compiles the module into dir, aside first and then renamed into place.
func build(ctx context.Context, cacheDir, dir, pwsh string) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("install module: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, buildPrefix)
	if err == nil {
		err = os.Chmod(tmp, 0o755) // workers may run as another account (bridge.Config.User)
	}
	if err != nil {
		return fmt.Errorf("install module: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := writeFiles(tmp); err != nil {
		return fmt.Errorf("install module: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, lockName), nil, 0o644); err != nil {
		return fmt.Errorf("install module: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-File",
		filepath.Join(tmp, "build.ps1"), "-SourceDir", filepath.Join(tmp, "src"), "-OutFile", filepath.Join(tmp, "PSBridge.dll"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("compile PSBridge.dll with %s: %w\n%s", pwsh, err, strings.TrimSpace(out.String()))
	}
	if _, err := os.Stat(filepath.Join(tmp, "PSBridge.dll")); err != nil {
		return fmt.Errorf("compile PSBridge.dll: no assembly written\n%s", strings.TrimSpace(out.String()))
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process won the race; its copy is identical.
		if _, statErr := os.Stat(filepath.Join(dir, "PSBridge.dll")); statErr == nil {
			return nil
		}
		return fmt.Errorf("install module: %w", err)
	}
	return nil
}

func writeFiles(dst string) error {
	return fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// binaryID names a pwsh binary by its resolved path, size and modification time, so a
// different or upgraded pwsh gets its own compiled assembly.
func binaryID(pwsh string) (string, error) {
	real, err := filepath.EvalSymlinks(pwsh)
	if err != nil {
		return "", fmt.Errorf("resolve pwsh %q: %w", pwsh, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("stat pwsh: %w", err)
	}
	if st.IsDir() {
		return "", errors.New("pwsh path is a directory")
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", real, st.Size(), st.ModTime().UnixNano())))
	return hex.EncodeToString(h[:])[:8], nil
}
