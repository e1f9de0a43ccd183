package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
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
	fsaRun := buildBinary(t, bins, "github.com/fullstackagent/fsa/internal/devenv/cmd/fsa-run")
	fsad := buildBinary(t, bins, "github.com/fullstackagent/fsa/daemon/cmd/fsad")

	var last string
	for i := range 4 {
		dir := last
		if i < 3 {
			dir = filepath.Join(t.TempDir(), "run")
		}
		out := runUntilRunningThenInterrupt(t, fsaRun, "-dir", dir, "-fsad", fsad, "-api-port", freePort(t), "-domain", "sandbox.fsa.test")
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

// syncBuffer is an io.Writer the test can read while run writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var hosts = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// commonFreePort returns a port free on every host.
func commonFreePort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		l, err := net.Listen("tcp", hosts[0]+":0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{l}
		ok := true
		for _, h := range hosts[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, l2)
		}
		for _, l := range lns {
			_ = l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no port free on every loopback address")
	return 0
}

var (
	leaderRe = regexp.MustCompile(`cluster: leader (n\d) term (\d+) \|`)
	pidRe    = regexp.MustCompile(`(n\d) \S+ pid (\d+) (\w+)`)
)

// lastStatus returns the leader, term and per-node pid/state of the last status line naming a
// leader.
func lastStatus(out string) (leader string, term int, pids map[string]int, states map[string]string) {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		m := leaderRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		term, _ = strconv.Atoi(m[2])
		pids, states = map[string]int{}, map[string]string{}
		for _, pm := range pidRe.FindAllStringSubmatch(lines[i], -1) {
			pid, _ := strconv.Atoi(pm[2])
			pids[pm[1]], states[pm[1]] = pid, pm[3]
		}
		return m[1], term, pids, states
	}
	return "", 0, nil, nil
}

// TestRunClusterFailover runs what `make run-cluster` runs: three fsad nodes on 127.0.0.1-3 with
// the demo project reaching RUNNING through the leader; then it kills the leader's process, as
// an operator would, and sees another node reported as leader in a later term, and the killed
// node restarted and following.
func TestRunClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a control plane and three fsad processes")
	}
	dir := t.TempDir()
	fsad := buildBinary(t, dir, "github.com/fullstackagent/fsa/daemon/cmd/fsad")

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var buf syncBuffer
	o := options{nodes: 3, dir: filepath.Join(dir, "state"), fsad: fsad, hosts: hosts, apiPort: commonFreePort(t),
		raftPort: commonFreePort(t), domain: "sandbox.fsa.test", project: "Demo App",
		timeout: 3 * time.Minute, poll: 100 * time.Millisecond, restartAfter: time.Second}
	done := make(chan error, 1)
	go func() { done <- run(ctx, &buf, o) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	waitFor := func(what string, d time.Duration, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond(buf.String()) {
			select {
			case err := <-done:
				t.Fatalf("run ended while waiting for %s: %v\n%s", what, err, buf.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, buf.String())
			}
		}
	}
	waitFor("the demo project", 5*time.Minute, func(s string) bool { return strings.Contains(s, "fsa is running on 3 nodes.") })
	s := buf.String()
	require.Regexp(t, `project RUNNING +sandbox RUNNING +database RUNNING`, s)
	require.Contains(t, s, ".sandbox.fsa.test")
	require.NotContains(t, s, readSecret(t, o.dir, "admin-token"), "the admin token is never printed")
	require.NotContains(t, s, strings.TrimPrefix(readSecret(t, o.dir, "signing-key"), "run1:"), "the signing key is never printed")

	var (
		oldLeader string
		oldTerm   int
		pids      map[string]int
	)
	waitFor("a status line with a leader and three PIDs", 30*time.Second, func(s string) bool {
		oldLeader, oldTerm, pids, _ = lastStatus(s)
		return oldLeader != "" && len(pids) == 3
	})
	// The line names real processes on the addresses given.
	for i, h := range hosts {
		require.Contains(t, buf.String(), fmt.Sprintf("n%d %s:%d", i+1, h, o.apiPort))
	}

	// kill -9 the leader.
	require.NoError(t, syscall.Kill(pids[oldLeader], syscall.SIGKILL))
	var newLeader string
	waitFor("a new leader", 30*time.Second, func(s string) bool {
		l, term, _, _ := lastStatus(s)
		newLeader = l
		return l != "" && l != oldLeader && term > oldTerm
	})
	t.Logf("leader %s (term %d) killed; new leader %s", oldLeader, oldTerm, newLeader)
	waitFor("the killed node restarted and following", 60*time.Second, func(s string) bool {
		l, _, p, st := lastStatus(s)
		return l == newLeader && p[oldLeader] != 0 && p[oldLeader] != pids[oldLeader] && st[oldLeader] == "Follower"
	})
	require.Contains(t, buf.String(), oldLeader+" restarted")

	// The cluster agrees on the new leader through ClusterService too, with the admin token.
	// (Asked of n1, which may have just restarted: give it a moment to hear from the leader.)
	cs, err := fsaclient.New([]string{fmt.Sprintf("http://%s:%d", hosts[0], o.apiPort)}, fsaclient.WithToken(readSecret(t, o.dir, "admin-token")))
	require.NoError(t, err)
	var st *fsav1.GetClusterStatusResponse
	require.Eventually(t, func() bool {
		res, err := cs.Cluster().GetClusterStatus(ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
		if err != nil {
			return false
		}
		st = res.Msg
		return st.LeaderId == newLeader
	}, 30*time.Second, 50*time.Millisecond, "n1 reports the new leader %s", newLeader)
	assert.Len(t, st.Members, 3)

	// Ctrl-C stops everything.
	cancel()
	stopped = true
	select {
	case err := <-done:
		require.NoError(t, err, buf.String())
	case <-time.After(time.Minute):
		t.Fatalf("run did not stop\n%s", buf.String())
	}
	require.True(t, strings.HasSuffix(strings.TrimSpace(buf.String()), "stopped"), buf.String())
}

func readSecret(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	v := strings.TrimSpace(string(b))
	require.NotEmpty(t, v)
	return v
}

func TestStatusLine(t *testing.T) {
	members := []*fsav1.ClusterMember{{Id: "n1"}, {Id: "n2"}, {Id: "n3"}}
	tests := []struct {
		name  string
		views []nodeView
		want  string
	}{
		{
			name: "leader",
			views: []nodeView{
				{id: "n1", api: "127.0.0.1:8080", pid: 11, st: &fsav1.GetClusterStatusResponse{State: "Leader", LeaderId: "n1", Term: 2, Members: members, ReconcileRunning: true}},
				{id: "n2", api: "127.0.0.2:8080", pid: 12, st: &fsav1.GetClusterStatusResponse{State: "Follower", LeaderId: "n1", Term: 2, Members: members}},
				{id: "n3", api: "127.0.0.3:8080", pid: 0},
			},
			want: "cluster: leader n1 term 2 | n1 127.0.0.1:8080 pid 11 Leader | n2 127.0.0.2:8080 pid 12 Follower | n3 127.0.0.3:8080 down | members n1,n2,n3",
		},
		{
			name: "election: a leader without reconcile is not reported",
			views: []nodeView{
				{id: "n1", api: "a:1", pid: 11, st: &fsav1.GetClusterStatusResponse{State: "Leader", LeaderId: "n1", Term: 3, Members: members[:2]}},
				{id: "n2", api: "b:1", pid: 12, err: context.DeadlineExceeded},
			},
			want: "cluster: leader none (election) | n1 a:1 pid 11 Leader | n2 b:1 pid 12 unreachable | members n1,n2",
		},
		{
			name: "joiner not yet a member",
			views: []nodeView{
				{id: "n1", api: "a:1", pid: 11, st: &fsav1.GetClusterStatusResponse{State: "Leader", LeaderId: "n1", Term: 1, Members: members[:1], ReconcileRunning: true}},
				{id: "n2", api: "b:1", pid: 12, st: &fsav1.GetClusterStatusResponse{State: "Follower"}},
			},
			want: "cluster: leader n1 term 1 | n1 a:1 pid 11 Leader | n2 b:1 pid 12 Follower (not a member yet) | members n1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, statusLine(tt.views))
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	one := options{nodes: 1}
	require.NoError(t, one.defaults())
	assert.Equal(t, ".cache/run", one.dir)
	assert.Equal(t, []string{"127.0.0.1"}, one.hosts)
	three := options{nodes: 3}
	require.NoError(t, three.defaults())
	assert.Equal(t, ".cache/run-cluster", three.dir)
	assert.Equal(t, hosts, three.hosts)
	for _, bad := range []options{{nodes: 2}, {nodes: 0}, {nodes: 3, hosts: []string{"127.0.0.1"}}} {
		assert.Error(t, bad.defaults(), "%+v", bad)
	}
}
