package runtime_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd, args string
}

// parseDockerfile reads path into instructions, dropping comments.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		if s := strings.TrimSpace(cur.String()); s != "" {
			cmd, args, _ := strings.Cut(s, " ")
			out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		}
		cur.Reset()
	}
	return out
}

// all returns the arguments of every instruction cmd.
func all(ins []instruction, cmd string) []string {
	var out []string
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// aptPackages returns every package named by apt-get install in RUN lines.
func aptPackages(ins []instruction) []string {
	var pkgs []string
	re := regexp.MustCompile(`apt-get install ([^&|;]*)`)
	for _, run := range all(ins, "RUN") {
		for _, m := range re.FindAllStringSubmatch(run, -1) {
			for _, w := range strings.Fields(m[1]) {
				if !strings.HasPrefix(w, "-") {
					pkgs = append(pkgs, w)
				}
			}
		}
	}
	return pkgs
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	runs := strings.Join(all(ins, "RUN"), "\n")
	args := strings.Join(all(ins, "ARG"), "\n")

	t.Run("base", func(t *testing.T) {
		assert.Equal(t, []string{"ubuntu:24.04"}, all(ins, "FROM"))
	})
	t.Run("packages", func(t *testing.T) {
		pkgs := aptPackages(ins)
		for _, p := range []string{"ttyd", "tini", "git", "postgresql-client", "buildah", "openssl", "curl", "nodejs"} {
			assert.Contains(t, pkgs, p)
		}
	})
	t.Run("node 22", func(t *testing.T) {
		assert.Contains(t, args, "NODE_MAJOR=22")
		assert.Contains(t, runs, "node_${NODE_MAJOR}.x")
		assert.Contains(t, runs, `node --version | grep -q "^v${NODE_MAJOR}\."`, "the build checks the major version")
	})
	t.Run("npm tools pinned", func(t *testing.T) {
		assert.Contains(t, runs, `"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"`)
		assert.Contains(t, runs, `"prisma@${PRISMA_VERSION}"`)
		assert.Regexp(t, `(?m)^CLAUDE_CODE_VERSION=\d+\.\d+\.\d+$`, args)
		assert.Regexp(t, `(?m)^PRISMA_VERSION=\d+\.\d+\.\d+$`, args)
	})
	t.Run("ttyd can be writable", func(t *testing.T) {
		assert.Contains(t, runs, "ttyd --help 2>&1 | grep -q -- '--writable'")
	})
	t.Run("user", func(t *testing.T) {
		assert.Contains(t, runs, "groupadd --gid 1001 agent")
		assert.Contains(t, runs, "useradd --uid 1001 --gid 1001 --create-home --home-dir /home/agent")
		users := all(ins, "USER")
		require.NotEmpty(t, users)
		assert.Equal(t, "1001:1001", users[len(users)-1], "numeric, so runAsNonRoot can check it")
		assert.Equal(t, []string{"/home/agent"}, all(ins, "WORKDIR"))
	})
	t.Run("ports", func(t *testing.T) {
		assert.Equal(t, []string{"3000 7681"}, all(ins, "EXPOSE"))
	})
	t.Run("healthcheck", func(t *testing.T) {
		hc := all(ins, "HEALTHCHECK")
		require.Len(t, hc, 1)
		assert.Contains(t, hc[0], "CMD curl -fsS -o /dev/null http://127.0.0.1:7681/")
	})
	t.Run("tini entrypoint", func(t *testing.T) {
		eps := all(ins, "ENTRYPOINT")
		require.Len(t, eps, 1)
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(eps[0]), &argv), "exec form, so tini is PID 1")
		assert.Equal(t, []string{"/usr/bin/tini", "--", "/usr/local/lib/fsa/entrypoint.sh"}, argv)
		assert.Empty(t, all(ins, "CMD"), "no CMD: the entrypoint takes no arguments")
	})
	t.Run("scripts copied", func(t *testing.T) {
		ignore, err := os.ReadFile(".dockerignore")
		require.NoError(t, err)
		var copied []string
		for _, c := range all(ins, "COPY") {
			f := strings.Fields(c)
			require.GreaterOrEqual(t, len(f), 2)
			dest := f[len(f)-1]
			assert.Equal(t, "/usr/local/lib/fsa/", dest)
			for _, src := range f[:len(f)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				copied = append(copied, src)
				assert.FileExists(t, src)
				assert.Contains(t, string(ignore), "\n!"+src+"\n", "%s must be in the build context", src)
			}
		}
		slices.Sort(copied)
		want := slices.Clone(scripts)
		slices.Sort(want)
		assert.Equal(t, want, copied, "the image holds exactly the files the script tests install")
		assert.Contains(t, all(ins, "COPY"), "--chmod=0755 entrypoint.sh terminal-auth /usr/local/lib/fsa/")
	})
	t.Run("version label", func(t *testing.T) {
		assert.Contains(t, args, "FSA_VERSION=dev")
		assert.Contains(t, strings.Join(all(ins, "LABEL"), "\n"), `org.opencontainers.image.version="${FSA_VERSION}"`)
	})
}
