package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func buildBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestMakeRunFromEmptyDataDir runs the program `make run` runs, as a user does: as its own
// process (a terminal's foreground job) on an empty data directory, three times in a row with
// a fresh directory each time, and once more on the last directory (a second `make run` reuses
// it). Each run must reach RUNNING, and Ctrl-C (SIGINT to the job's process group) must stop it
// with exit status 0 and leave no process behind: not fsad, not one process of the control
// plane. The first `make run` on a fresh machine once died here ("watch after revision 5:
// store is at revision 4").
func TestMakeRunFromEmptyDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a control plane and fsad")
	}
	bins := t.TempDir()
	fsaRun := buildBinary(t, bins, "github.com/fullstackagent/fsa/daemon/cmd/fsa-run")
	fsad := buildBinary(t, bins, "github.com/fullstackagent/fsa/daemon/cmd/fsad")

	var last string
	for i := range 4 {
		dir := last
		if i < 3 {
			dir = filepath.Join(t.TempDir(), "run")
		}
		out := runUntilRunningThenInterrupt(t, fsaRun, "-dir", dir, "-fsad", fsad, "-listen", freeAddr(t), "-domain", "sandbox.fsa.test")
		require.Regexp(t, `project RUNNING +sandbox RUNNING +database RUNNING`, out, "run %d", i+1)
		require.Contains(t, out, `project "Demo App"`, "run %d", i+1)
		require.Contains(t, out, ".sandbox.fsa.test", "run %d", i+1)
		require.True(t, strings.HasSuffix(strings.TrimSpace(out), "stopped"), "run %d: everything stopped at the end:\n%s", i+1, out)
		last = dir
	}
}

// runUntilRunningThenInterrupt starts bin in its own process group, waits until it says the
// system is running, sends SIGINT to the group as a terminal's Ctrl-C does, and requires exit
// status 0 and that no process the run started is left. It returns the output.
func runUntilRunningThenInterrupt(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }) // only if the test failed midway

	var mu sync.Mutex
	var out strings.Builder
	ready := make(chan struct{})
	copied := make(chan struct{})
	go func() { // ends when the process closes its stdout
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !signalled && strings.HasPrefix(sc.Text(), "Ctrl-C stops everything") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() + stderr.String() }

	select {
	case <-ready:
	case <-copied:
		_ = cmd.Wait()
		t.Fatalf("%s ended before RUNNING:\n%s", filepath.Base(bin), output())
	case <-time.After(4 * time.Minute):
		t.Fatalf("%s did not reach RUNNING in 4 minutes:\n%s", filepath.Base(bin), output())
	}
	// Everything the run started, found while it runs: stopped, none may remain.
	started := descendants(t, pid)
	var names []string
	for _, p := range started {
		names = append(names, p.name)
	}
	for _, want := range []string{"fsad", "etcd", "kube-apiserver", "kwok"} {
		require.Contains(t, names, want, "the run started fsad and the control plane")
	}
	require.NoError(t, syscall.Kill(-pid, syscall.SIGINT))

	waited := make(chan error, 1)
	go func() { <-copied; waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		require.NoError(t, err, "exit status after Ctrl-C:\n%s", output())
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after Ctrl-C:\n%s", output())
	}
	left := func() []string {
		var out []string
		for _, p := range started {
			if p.alive() {
				out = append(out, p.String())
			}
		}
		return out
	}
	if !assert.Eventually(t, func() bool { return len(left()) == 0 }, 10*time.Second, 20*time.Millisecond) {
		t.Fatalf("processes left after Ctrl-C: %v", left())
	}
	return output()
}

// proc identifies a process by pid and start time, so that a reused pid is not taken for it.
type proc struct {
	pid   int
	start string
	name  string
}

func (p proc) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.pid) }

func (p proc) alive() bool {
	st, err := readStat(p.pid)
	return err == nil && st.start == p.start && st.state != "Z"
}

type stat struct {
	name, state, start string
	ppid               int
}

// readStat parses /proc/<pid>/stat: "pid (comm) state ppid ... starttime(22nd field) ...".
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 20 {
		return stat{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, err
	}
	return stat{name: s[open+1 : closing], state: f[0], ppid: ppid, start: f[19]}, nil
}

// descendants lists every live descendant of pid.
func descendants(t *testing.T, pid int) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to find the run's processes: %v", err)
	}
	children := map[int][]proc{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(p)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], proc{pid: p, start: st.start, name: st.name})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}
