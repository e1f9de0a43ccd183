package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// testToken is a strong access token used by the script tests.
	testToken   = "Xq3v9ZpL0sWm2bKc7RtYh1NdJ4uFgE8aHwC6oT5iBeI"
	testProject = "my-app"
	// quick bounds how long a refusal may take: it must be immediate, not
	// a process left sleeping. It is generous for a loaded CI machine.
	quick = 10 * time.Second
)

// result is the outcome of one script run.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run executes name with args and exactly env (plus nothing inherited),
// in dir, and waits for it and everything holding its output to finish.
// A run that outlives the deadline fails the test, and so does any process
// of the run's process group still alive after it: refusals must be
// immediate and nothing may linger.
func run(t *testing.T, env map[string]string, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = environ(env)
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	require.NoError(t, ctx.Err(), "%s did not finish: something kept running\nstderr: %s", name, stderr.String())
	if cmd.Process != nil {
		left := groupMembers(t, cmd.Process.Pid)
		if len(left) > 0 {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("%s left processes running: %v", name, left)
		}
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err, "run %s", name)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code, took: took}
}

// groupMembers lists the live processes (other than zombies) whose process
// group is pgid, from /proc. Without /proc it finds none.
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []string
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if pg, err := strconv.Atoi(f[2]); err == nil && pg == pgid {
			out = append(out, strings.TrimSpace(string(data[:i+1])))
		}
	}
	return out
}

// environ turns env into a sorted KEY=VALUE list.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// baseEnv is the environment every script run starts from: the host's PATH,
// the image's locale, and a home directory.
func baseEnv(home string) map[string]string {
	env := map[string]string{
		"PATH":   os.Getenv("PATH"),
		"LC_ALL": "C.UTF-8",
		"HOME":   home,
	}
	if os.Geteuid() == 0 {
		// The image runs as uid 1001; tests here may run as root.
		env["FSA_ALLOW_ROOT"] = "1"
	}
	return env
}

// root is a temporary file system root holding the runtime scripts where
// the image puts them.
type root struct {
	dir  string // the root itself
	lib  string // <root>/usr/local/lib/fsa
	home string // <root>/home/agent
}

// scripts lists the files the image copies to /usr/local/lib/fsa.
var scripts = []string{"entrypoint.sh", "terminal-auth", "ticket.sh", "profile.sh", "VERSION"}

// newRoot copies the real scripts into a fresh temporary root.
func newRoot(t *testing.T) root {
	t.Helper()
	r := root{dir: t.TempDir()}
	r.lib = filepath.Join(r.dir, "usr", "local", "lib", "fsa")
	r.home = filepath.Join(r.dir, "home", "agent")
	require.NoError(t, os.MkdirAll(r.lib, 0o755))
	require.NoError(t, os.MkdirAll(r.home, 0o755))
	for _, name := range scripts {
		src, err := os.Stat(name)
		require.NoError(t, err)
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(r.lib, name), data, src.Mode().Perm()))
	}
	return r
}

// writeScript writes an executable bash script at path.
func writeScript(t *testing.T, path, body string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("#!/usr/bin/env bash\n"+body), 0o755))
	return path
}

// stubShell writes a login shell stand-in that records how it was started
// (arguments, working directory, environment) into record, and exits 0.
func stubShell(t *testing.T, r root, record string) string {
	t.Helper()
	return writeScript(t, filepath.Join(r.dir, "bin", "stub-shell"), `
{
	printf 'args=%s\n' "$*"
	printf 'pwd=%s\n' "$PWD"
	env
} >`+shellQuote(record)+`
`)
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bashLib runs a bash snippet with ticket.sh sourced; inputs travel in env.
func bashLib(t *testing.T, env map[string]string, snippet string) result {
	t.Helper()
	lib, err := filepath.Abs("ticket.sh")
	require.NoError(t, err)
	e := baseEnv(t.TempDir())
	for k, v := range env {
		e[k] = v
	}
	return run(t, e, ".", "bash", "-c", ". "+shellQuote(lib)+"\n"+snippet)
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
