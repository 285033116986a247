// Package readytorun compiles the .NET assemblies of a pwsh ahead of time (ReadyToRun), in
// place, with the .NET SDK's crossgen2.
//
// It exists because the PowerShell .NET tool on NuGet (what 'psbridge install-pwsh' and the
// container image install) ships its assemblies as IL only, unlike Microsoft's own pwsh
// packages: every worker then JIT-compiles PowerShell's engine as it starts. A worker took
// 1.5 s from start to its first call served; with the same assemblies compiled ahead of time,
// 0.65 s (docs/performance.md). The code is the same: crossgen2 adds native code beside the
// IL, which the runtime keeps, falls back to, and re-optimises hot methods from.
package readytorun

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Kind says what a file is to the .NET runtime.
type Kind int

const (
	// NotManaged is a file that is no .NET assembly (a native library, or not a PE file).
	NotManaged Kind = iota
	// IL is a .NET assembly with IL only: the runtime JIT-compiles every method it runs.
	IL
	// ReadyToRun is a .NET assembly that also carries native code compiled ahead of time.
	ReadyToRun
)

func (k Kind) String() string {
	switch k {
	case IL:
		return "IL only"
	case ReadyToRun:
		return "ReadyToRun"
	}
	return "not a .NET assembly"
}

// Inspect reads a PE file's CLR header: no header means NotManaged, a ManagedNativeHeader
// directory means ReadyToRun, anything else IL. Files that are not PE files are NotManaged.
//
// It reads the headers itself: ReadyToRun images for Linux and macOS mark their machine type
// with an OS-specific XOR (0x8664 ^ 0x7B79 for x64 Linux), which debug/pe refuses.
func Inspect(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return NotManaged, fmt.Errorf("inspect assembly: %w", err)
	}
	defer f.Close()
	rva, size, sections, ok := clrDirectory(f)
	if !ok || rva == 0 || size < corHeaderSize {
		return NotManaged, nil
	}
	hdr := make([]byte, corHeaderSize)
	if !readRVA(f, sections, rva, hdr) {
		return NotManaged, nil
	}
	// IMAGE_COR20_HEADER: cb, runtime version, MetaData, Flags, EntryPoint, Resources,
	// StrongNameSignature, CodeManagerTable, VTableFixups, ExportAddressTableJumps, then
	// ManagedNativeHeader (RVA, size) at offset 64: non-zero only in ReadyToRun images.
	if binary.LittleEndian.Uint32(hdr[64:]) != 0 && binary.LittleEndian.Uint32(hdr[68:]) != 0 {
		return ReadyToRun, nil
	}
	return IL, nil
}

// corHeaderSize is the size of IMAGE_COR20_HEADER.
const corHeaderSize = 72

// section is what locating an RVA needs of a PE section header.
type section struct{ virtualAddress, rawSize, rawOffset uint32 }

// clrDirectory returns the CLR runtime header's data directory (index 14) and the section
// table, or ok=false when r is no PE image.
func clrDirectory(r io.ReaderAt) (rva, size uint32, sections []section, ok bool) {
	var dos [64]byte
	if _, err := r.ReadAt(dos[:], 0); err != nil || dos[0] != 'M' || dos[1] != 'Z' {
		return 0, 0, nil, false
	}
	off := int64(binary.LittleEndian.Uint32(dos[0x3c:]))
	var coff [24]byte // "PE\0\0" and the COFF file header
	if _, err := r.ReadAt(coff[:], off); err != nil || string(coff[:4]) != "PE\x00\x00" {
		return 0, 0, nil, false
	}
	nsec := int(binary.LittleEndian.Uint16(coff[6:]))
	optSize := int(binary.LittleEndian.Uint16(coff[20:]))
	if optSize < 2 || optSize > 4096 || nsec > 96 {
		return 0, 0, nil, false
	}
	opt := make([]byte, optSize)
	if _, err := r.ReadAt(opt, off+24); err != nil {
		return 0, 0, nil, false
	}
	var countAt, dirAt int
	switch binary.LittleEndian.Uint16(opt) {
	case 0x10b: // PE32
		countAt, dirAt = 92, 96
	case 0x20b: // PE32+
		countAt, dirAt = 108, 112
	default:
		return 0, 0, nil, false
	}
	const comDescriptor = 14
	if len(opt) < dirAt+8*(comDescriptor+1) || binary.LittleEndian.Uint32(opt[countAt:]) <= comDescriptor {
		return 0, 0, nil, false
	}
	rva = binary.LittleEndian.Uint32(opt[dirAt+8*comDescriptor:])
	size = binary.LittleEndian.Uint32(opt[dirAt+8*comDescriptor+4:])
	table := make([]byte, 40*nsec)
	if _, err := r.ReadAt(table, off+24+int64(optSize)); err != nil {
		return 0, 0, nil, false
	}
	for i := 0; i < nsec; i++ {
		h := table[40*i:]
		sections = append(sections, section{
			virtualAddress: binary.LittleEndian.Uint32(h[12:]),
			rawSize:        binary.LittleEndian.Uint32(h[16:]),
			rawOffset:      binary.LittleEndian.Uint32(h[20:]),
		})
	}
	return rva, size, sections, true
}

// readRVA fills buf from the file bytes of the section that holds rva.
func readRVA(r io.ReaderAt, sections []section, rva uint32, buf []byte) bool {
	end := uint64(rva) + uint64(len(buf))
	for _, s := range sections {
		if rva >= s.virtualAddress && end <= uint64(s.virtualAddress)+uint64(s.rawSize) {
			n, err := r.ReadAt(buf, int64(s.rawOffset)+int64(rva-s.virtualAddress))
			return err == nil && n == len(buf)
		}
	}
	return false
}

// engineAssembly is the assembly whose kind says whether a pwsh is compiled ahead of time:
// the PowerShell engine, which every worker runs most.
const engineAssembly = "System.Management.Automation.dll"

// Check reports whether the PowerShell engine in appDir (the folder of pwsh.dll) is ReadyToRun.
func Check(appDir string) (Kind, error) {
	return Inspect(filepath.Join(appDir, engineAssembly))
}

// Options are what Compile needs besides the folder.
type Options struct {
	// Pwsh is the pwsh to ask which .NET runtime it runs on (its assemblies are compiled
	// against that runtime's).
	Pwsh string
	// Dotnet is the .NET SDK's dotnet, which fetches crossgen2 from NuGet (default: from PATH).
	Dotnet string
	// CacheDir keeps the crossgen2 package between runs (a "crossgen2" folder is made in it).
	CacheDir string
	// Log gets one line per step (nil: discarded).
	Log io.Writer
}

// Result says what Compile did.
type Result struct {
	Runtime   string            // the .NET runtime version compiled against, e.g. 10.0.12
	Crossgen2 string            // the crossgen2 that compiled
	Compiled  []string          // assemblies now ReadyToRun (file names)
	Already   int               // assemblies that were ReadyToRun before
	Failed    map[string]string // assemblies left as IL, with crossgen2's reason
}

// Compile compiles every IL-only assembly in appDir (the folder of pwsh.dll; not its
// subfolders) ahead of time, in place: each is compiled to a temporary file beside it, checked,
// and renamed over the original, so a pwsh running meanwhile sees either file whole. An
// assembly crossgen2 cannot compile stays as it was and is listed in Result.Failed.
func Compile(ctx context.Context, appDir string, opt Options) (Result, error) {
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	var res Result
	todo, already, err := ilAssemblies(appDir)
	if err != nil {
		return res, err
	}
	res.Already = already
	if len(todo) == 0 {
		return res, nil
	}
	fwDir, version, err := runtimeDir(ctx, opt.Pwsh)
	if err != nil {
		return res, err
	}
	res.Runtime = version
	rid, err := hostRID(runtime.GOOS, runtime.GOARCH, isMusl())
	if err != nil {
		return res, err
	}
	cg, err := fetchCrossgen2(ctx, opt, rid, version, log)
	if err != nil {
		return res, err
	}
	res.Crossgen2 = cg
	targetOS, targetArch := crossgenTarget(runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(log, "compiling %d assemblies of %s ahead of time for .NET %s (%s/%s)\n", len(todo), appDir, version, targetOS, targetArch)
	res.Failed = map[string]string{}
	for _, name := range todo {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("compile %s: %w", name, err)
		}
		if reason := compileOne(ctx, cg, fwDir, appDir, name, targetOS, targetArch); reason != "" {
			res.Failed[name] = reason
			continue
		}
		res.Compiled = append(res.Compiled, name)
	}
	return res, nil
}

// compileOne compiles appDir/name to a temporary file and renames it over the original; it
// returns why not, or "".
func compileOne(ctx context.Context, cg, fwDir, appDir, name, targetOS, targetArch string) string {
	src := filepath.Join(appDir, name)
	st, err := os.Stat(src)
	if err != nil {
		return err.Error()
	}
	tmp := filepath.Join(appDir, "."+name+".r2r-tmp")
	defer os.Remove(tmp)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// Arguments, not a shell: crossgen2 expands the reference globs itself.
	cmd := exec.CommandContext(ctx, cg,
		"-r", filepath.Join(fwDir, "*.dll"), "-r", filepath.Join(appDir, "*.dll"),
		"--targetos", targetOS, "--targetarch", targetArch, "-O", src, "-o", tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("crossgen2: %v: %s", err, lastLine(out.String()))
	}
	if k, err := Inspect(tmp); err != nil || k != ReadyToRun {
		return fmt.Sprintf("crossgen2 wrote %s, not ReadyToRun code", k)
	}
	if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
		return err.Error()
	}
	if err := os.Rename(tmp, src); err != nil {
		return err.Error()
	}
	return ""
}

// ilAssemblies lists the IL-only assemblies directly in dir, and counts the ReadyToRun ones.
func ilAssemblies(dir string) ([]string, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("read pwsh folder: %w", err)
	}
	var il []string
	already := 0
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".dll") {
			continue
		}
		k, err := Inspect(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, 0, err
		}
		switch k {
		case IL:
			il = append(il, e.Name())
		case ReadyToRun:
			already++
		}
	}
	sort.Strings(il)
	return il, already, nil
}

// versionPattern is what a runtime version folder looks like; anything else is refused before
// it reaches a project file.
var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// runtimeDir asks pwsh which shared framework folder it runs on, and returns it and its version.
func runtimeDir(ctx context.Context, pwsh string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, pwsh, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command",
		"[System.Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()").Output()
	if err != nil {
		return "", "", fmt.Errorf("ask %s for its .NET runtime: %w", pwsh, err)
	}
	dir := filepath.Clean(strings.TrimSpace(string(out)))
	version := filepath.Base(dir)
	if !versionPattern.MatchString(version) {
		return "", "", fmt.Errorf("ask %s for its .NET runtime: %q is not a versioned shared framework folder (a self-contained pwsh? Microsoft's own packages are compiled ahead of time already)", pwsh, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "System.Private.CoreLib.dll")); err != nil {
		return "", "", fmt.Errorf("ask %s for its .NET runtime: %w", pwsh, err)
	}
	return dir, version, nil
}

// hostRID is the runtime identifier of the crossgen2 package that runs on this machine.
func hostRID(goos, goarch string, musl bool) (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[goarch]
	if arch == "" {
		return "", fmt.Errorf("crossgen2 is not published for %s/%s", goos, goarch)
	}
	switch goos {
	case "linux":
		if musl {
			return "linux-musl-" + arch, nil
		}
		return "linux-" + arch, nil
	case "windows":
		return "win-" + arch, nil
	case "darwin":
		return "osx-" + arch, nil
	}
	return "", fmt.Errorf("crossgen2 is not published for %s/%s", goos, goarch)
}

// crossgenTarget is crossgen2's --targetos and --targetarch for this machine.
func crossgenTarget(goos, goarch string) (string, string) {
	os := map[string]string{"darwin": "osx"}[goos]
	if os == "" {
		os = goos
	}
	arch := map[string]string{"amd64": "x64"}[goarch]
	if arch == "" {
		arch = goarch
	}
	return os, arch
}

// isMusl reports whether this Linux uses musl (Alpine), whose crossgen2 is a package of its own.
func isMusl() bool {
	m, _ := filepath.Glob("/lib/ld-musl-*.so.1")
	return len(m) > 0
}

// fetchCrossgen2 returns crossgen2 for rid and version, restoring its NuGet package into
// opt.CacheDir with the .NET SDK when it is not there yet.
func fetchCrossgen2(ctx context.Context, opt Options, rid, version string, log io.Writer) (string, error) {
	if opt.CacheDir == "" {
		return "", errors.New("fetch crossgen2: no cache directory to keep it in")
	}
	pkgs := filepath.Join(opt.CacheDir, "crossgen2")
	pkg := "Microsoft.NETCore.App.Crossgen2." + rid
	exe := "crossgen2"
	if strings.HasPrefix(rid, "win-") {
		exe = "crossgen2.exe"
	}
	path := filepath.Join(pkgs, strings.ToLower(pkg), strings.ToLower(version), "tools", exe)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	dotnet := opt.Dotnet
	if dotnet == "" {
		p, err := exec.LookPath("dotnet")
		if err != nil {
			return "", errors.New("fetch crossgen2: the .NET SDK (dotnet) is not on PATH; it restores crossgen2 from NuGet")
		}
		dotnet = p
	}
	major, _, _ := strings.Cut(version, ".")
	proj, err := os.MkdirTemp("", "psbridge-crossgen2-")
	if err != nil {
		return "", fmt.Errorf("fetch crossgen2: %w", err)
	}
	defer os.RemoveAll(proj)
	// rid and version are checked above (hostRID's table, versionPattern): nothing else
	// reaches this file.
	csproj := `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net` + major + `.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="` + pkg + `" Version="[` + version + `]" /></ItemGroup>
</Project>
`
	if err := os.WriteFile(filepath.Join(proj, "fetch.csproj"), []byte(csproj), 0o600); err != nil {
		return "", fmt.Errorf("fetch crossgen2: %w", err)
	}
	fmt.Fprintf(log, "fetching %s %s from NuGet with %s restore\n", pkg, version, dotnet)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dotnet, "restore", filepath.Join(proj, "fetch.csproj"), "--packages", pkgs)
	cmd.Dir = proj
	cmd.Env = append(os.Environ(), "DOTNET_CLI_TELEMETRY_OPTOUT=1", "DOTNET_NOLOGO=1", "DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetch crossgen2: dotnet restore of %s %s: %w\n%s", pkg, version, err, strings.TrimSpace(out.String()))
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("fetch crossgen2: %s %s restored, but %s is missing", pkg, version, path)
	}
	return path, nil
}

// lastLine is the last non-empty line of s, which is where crossgen2 says what failed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
