package psbridge

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This test reads the Dockerfile and checks, in milliseconds, what a build would trip over or
// what would make the image unsafe: COPY sources that do not exist, stages that are not
// defined, base images that are not build arguments with maintained defaults, a runtime that
// runs as root, no health check, no init. internal/containertest (build tag `container`, run
// by .ci/run) builds the image with podman and runs it.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type stage struct {
		name         string
		base         string
		instructions []string
	}
	var stages []*stage
	globalArgs := map[string]string{} // ARG NAME=default before the first FROM
	sc := bufio.NewScanner(f)
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, cont = cont+line, ""
		fields := strings.Fields(line)
		if strings.EqualFold(fields[0], "FROM") {
			s := &stage{base: fields[1]}
			if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			stages = append(stages, s)
		}
		if len(stages) == 0 {
			if strings.EqualFold(fields[0], "ARG") {
				for _, a := range fields[1:] {
					name, def, _ := strings.Cut(a, "=")
					globalArgs[name] = def
				}
				continue
			}
			t.Fatalf("instruction before FROM: %s", line)
		}
		cur := stages[len(stages)-1]
		cur.instructions = append(cur.instructions, line)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}
	defined := map[string]bool{}
	for _, s := range stages {
		for _, in := range s.instructions {
			fields := strings.Fields(in)
			if !strings.EqualFold(fields[0], "COPY") {
				continue
			}
			args := fields[1:]
			from := ""
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				if v, ok := strings.CutPrefix(args[0], "--from="); ok {
					from = v
				}
				args = args[1:]
			}
			if len(args) < 2 {
				t.Errorf("COPY without source and destination: %s", in)
				continue
			}
			if from != "" {
				if !defined[from] {
					t.Errorf("%s copies from stage %q, which is not defined before it", in, from)
				}
				continue
			}
			for _, src := range args[:len(args)-1] {
				matches, _ := filepath.Glob(src)
				if len(matches) == 0 {
					t.Errorf("%s: source %q does not exist in the repository", in, src)
				}
			}
		}
		if s.name != "" {
			defined[s.name] = true
		}
	}
	// Every base image is a build argument whose default is a maintained upstream image, so
	// the published build uses those and scripts/container-build.sh can substitute stand-ins.
	for _, s := range stages {
		name, ok := strings.CutPrefix(s.base, "${")
		name, ok2 := strings.CutSuffix(name, "}")
		if !ok || !ok2 {
			t.Errorf("FROM %s: want the base image as a build argument (FROM ${NAME})", s.base)
			continue
		}
		def := globalArgs[name]
		if !strings.HasPrefix(def, "golang:") && !strings.HasPrefix(def, "mcr.microsoft.com/dotnet/") {
			t.Errorf("ARG %s=%q: want a maintained upstream default (golang:…, mcr.microsoft.com/dotnet/…)", name, def)
		}
	}
	final := stages[len(stages)-1]
	var user, healthcheck, entrypoint, expose, labels string
	for _, in := range final.instructions {
		word := strings.ToUpper(strings.Fields(in)[0])
		switch word {
		case "USER":
			user = strings.Fields(in)[1]
		case "HEALTHCHECK":
			healthcheck = in
		case "ENTRYPOINT":
			entrypoint = in
		case "EXPOSE":
			expose = in
		case "LABEL":
			labels += in
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runtime stage USER = %q, want a non-root user", user)
	}
	if !strings.Contains(healthcheck, "psbridge") || !strings.Contains(healthcheck, "healthcheck") {
		t.Errorf("runtime stage HEALTHCHECK = %q, want the binary's own healthcheck", healthcheck)
	}
	if !strings.Contains(entrypoint, "tini") {
		t.Errorf("ENTRYPOINT = %q, want an init process (tini) that reaps zombies", entrypoint)
	}
	if expose == "" {
		t.Error("no EXPOSE in the runtime stage")
	}
	for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"} {
		if !strings.Contains(labels, l) {
			t.Errorf("runtime stage lacks the OCI label %s", l)
		}
	}
}
