package deploy_test

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction, continuation lines joined, comments dropped.
type instruction struct {
	cmd, args string
}

func parseDockerfile(t *testing.T, data string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(data, "\n") {
		s := strings.TrimSpace(line)
		if strings.HasPrefix(s, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(s, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(s)
		if s := strings.TrimSpace(cur.String()); s != "" {
			cmd, args, _ := strings.Cut(s, " ")
			out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		}
		cur.Reset()
	}
	return out
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from string
	ins  []instruction
}

func stages(ins []instruction) []stage {
	var out []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, stage{from: in.args})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].ins = append(out[len(out)-1].ins, in)
		}
	}
	return out
}

func (s stage) args(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// checkDockerfile returns what is wrong with an fsad Dockerfile.
func checkDockerfile(t *testing.T, data string) []string {
	var problems []string
	st := stages(parseDockerfile(t, data))
	if len(st) < 2 {
		return []string{"want a multi-stage build (builder and runtime)"}
	}
	build, final := st[0], st[len(st)-1]
	if !strings.Contains(build.from, "golang:") || !strings.Contains(build.from, " AS ") {
		problems = append(problems, "first stage must be a named golang builder: "+build.from)
	}
	runs := strings.Join(build.args("RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "./daemon/cmd/fsad", "./deploy/fsad-pod", "-trimpath"} {
		if !strings.Contains(runs, want) {
			problems = append(problems, "builder RUN lacks "+want)
		}
	}
	if strings.Count(runs, "CGO_ENABLED=0") < 2 {
		problems = append(problems, "every go build needs CGO_ENABLED=0")
	}
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		problems = append(problems, "runtime stage must be distroless static or scratch: "+final.from)
	}
	if len(final.args("RUN")) > 0 {
		problems = append(problems, "runtime stage must not RUN anything (no shell)")
	}
	users := final.args("USER")
	if len(users) == 0 {
		problems = append(problems, "runtime stage needs a USER")
	} else {
		u := users[len(users)-1]
		uid, _, _ := strings.Cut(u, ":")
		if uid == "" || uid == "0" || uid == "root" {
			problems = append(problems, "runtime USER must be a non-root uid: "+u)
		}
	}
	expose := strings.Join(final.args("EXPOSE"), " ")
	for _, port := range []string{"8080", "9080"} {
		if !strings.Contains(expose, port) {
			problems = append(problems, "EXPOSE lacks "+port)
		}
	}
	if !strings.Contains(strings.Join(final.args("VOLUME"), " "), "/var/lib/fsa") {
		problems = append(problems, "VOLUME /var/lib/fsa missing")
	}
	if !strings.Contains(strings.Join(final.args("ENTRYPOINT"), " "), `"/usr/local/bin/fsad"`) {
		problems = append(problems, "ENTRYPOINT must be fsad (exec form)")
	}
	copies := strings.Join(final.args("COPY"), "\n")
	if !strings.Contains(copies, "--from=build") {
		problems = append(problems, "runtime stage must copy the binaries from the builder")
	}
	return problems
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("fsad.Dockerfile")
	require.NoError(t, err)
	return string(data)
}

func TestDockerfile(t *testing.T) {
	assert.Empty(t, checkDockerfile(t, readDockerfile(t)))
	ignore, err := os.ReadFile("fsad.Dockerfile.dockerignore")
	require.NoError(t, err)
	assert.Contains(t, string(ignore), ".cache")
	assert.Contains(t, string(ignore), ".git")
}

// TestDockerfileChecksCanFail shows that checkDockerfile catches each broken variant.
func TestDockerfileChecksCanFail(t *testing.T) {
	good := readDockerfile(t)
	tests := []struct {
		name, old, new, want string
	}{
		{"root user", "USER 65532:65532", "USER root", "non-root"},
		{"cgo on", "CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \\\n    go build -trimpath -buildvcs=false -ldflags \"-s -w -X", "GOOS=$TARGETOS GOARCH=$TARGETARCH \\\n    go build -trimpath -buildvcs=false -ldflags \"-s -w -X", "CGO_ENABLED=0"},
		{"no version", "-X main.version=${VERSION}", "", "main.version"},
		{"fat runtime", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "distroless"},
		{"no raft port", "EXPOSE 8080 9080", "EXPOSE 8080", "9080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, good, tt.old)
			problems := checkDockerfile(t, strings.Replace(good, tt.old, tt.new, 1))
			require.NotEmpty(t, problems)
			assert.Contains(t, strings.Join(problems, "\n"), tt.want)
		})
	}
}

// TestStaticBuild builds both binaries the way the Dockerfile does and checks that they are
// static (no ELF interpreter, no shared libraries) and that fsad carries its version.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiles fsad with CGO_ENABLED=0")
	}
	dir := t.TempDir()
	// A cold CGO_ENABLED=0 build recompiles every dependency: minutes on a busy machine. Bound it
	// by the test's own deadline (go test -timeout).
	deadline := time.Now().Add(30 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-10 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, b := range []struct{ out, pkg, ldflags string }{
		{"fsad", "./daemon/cmd/fsad", "-s -w -X main.version=v9.8.7-test"},
		{"fsad-pod", "./deploy/fsad-pod", "-s -w"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", b.ldflags,
			"-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))

		f, err := elf.Open(filepath.Join(dir, b.out))
		require.NoError(t, err)
		for _, p := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s has an ELF interpreter: not static", b.out)
		}
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		assert.Empty(t, libs, "%s links shared libraries", b.out)
		require.NoError(t, f.Close())
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "fsad"), "version").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "fsad v9.8.7-test", strings.TrimSpace(string(out)))
}
