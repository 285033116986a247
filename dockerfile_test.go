package psbridge

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No Docker engine runs where the tests run, so this test reads the Dockerfile and checks
// what a build would trip over or what would make the image unsafe: COPY sources that do not
// exist, stages that are not defined, a runtime that runs as root, no health check, no init.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type stage struct {
		name         string
		instructions []string
	}
	var stages []*stage
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
			s := &stage{}
			if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			stages = append(stages, s)
		}
		if len(stages) == 0 {
			if strings.EqualFold(fields[0], "ARG") {
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
