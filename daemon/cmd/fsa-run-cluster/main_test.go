package main

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
)

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
	fsad := filepath.Join(dir, "fsad")
	out, err := exec.Command("go", "build", "-o", fsad, "github.com/fullstackagent/fsa/daemon/cmd/fsad").CombinedOutput()
	require.NoError(t, err, string(out))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var buf syncBuffer
	o := options{dir: filepath.Join(dir, "state"), fsad: fsad, hosts: hosts, apiPort: commonFreePort(t),
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

	// The cluster agrees on the new leader through the admin API too.
	// (Asked of n1, which may have just restarted: give it a moment to hear from the leader.)
	ac := &daemon.AdminClient{BaseURL: fmt.Sprintf("http://%s:%d", hosts[0], o.apiPort), Token: readSecret(t, o.dir, "admin-token")}
	var st daemon.ClusterStatus
	require.Eventually(t, func() bool {
		var err error
		st, err = ac.Status(ctx)
		return err == nil && st.LeaderID == newLeader
	}, 30*time.Second, 50*time.Millisecond, "n1 reports the new leader %s (last: %+v)", newLeader, st)
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
	n := func(id, api string) *node { return &node{id: id, api: api} }
	members := []daemon.Member{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}}
	tests := []struct {
		name  string
		views []nodeView
		want  string
	}{
		{
			name: "leader",
			views: []nodeView{
				{n: n("n1", "127.0.0.1:8080"), pid: 11, st: daemon.ClusterStatus{State: "Leader", LeaderID: "n1", Term: 2, Members: members, Reconcile: daemon.ReconcileStatus{Running: true}}},
				{n: n("n2", "127.0.0.2:8080"), pid: 12, st: daemon.ClusterStatus{State: "Follower", LeaderID: "n1", Term: 2, Members: members}},
				{n: n("n3", "127.0.0.3:8080"), pid: 0},
			},
			want: "cluster: leader n1 term 2 | n1 127.0.0.1:8080 pid 11 Leader | n2 127.0.0.2:8080 pid 12 Follower | n3 127.0.0.3:8080 down | members n1,n2,n3",
		},
		{
			name: "election: a leader without reconcile is not reported",
			views: []nodeView{
				{n: n("n1", "a:1"), pid: 11, st: daemon.ClusterStatus{State: "Leader", LeaderID: "n1", Term: 3, Members: members[:2]}},
				{n: n("n2", "b:1"), pid: 12, err: context.DeadlineExceeded},
			},
			want: "cluster: leader none (election) | n1 a:1 pid 11 Leader | n2 b:1 pid 12 unreachable | members n1,n2",
		},
		{
			name: "joiner not yet a member",
			views: []nodeView{
				{n: n("n1", "a:1"), pid: 11, st: daemon.ClusterStatus{State: "Leader", LeaderID: "n1", Term: 1, Members: members[:1], Reconcile: daemon.ReconcileStatus{Running: true}}},
				{n: n("n2", "b:1"), pid: 12, st: daemon.ClusterStatus{State: "Follower"}},
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

func TestArgs(t *testing.T) {
	c := newCluster(options{dir: "/d", hosts: hosts, apiPort: 8080, raftPort: 9080, domain: "x.test"}, nil, "k", "t")
	a1 := strings.Join(c.args(c.nodes[0]), " ")
	a2 := strings.Join(c.args(c.nodes[1]), " ")
	assert.Contains(t, a1, "--listen 127.0.0.1:8080 --raft-addr 127.0.0.1:9080 --node-id n1")
	assert.Contains(t, a1, "--bootstrap")
	assert.NotContains(t, a1, "--join")
	assert.Contains(t, a2, "--listen 127.0.0.2:8080 --raft-addr 127.0.0.2:9080 --node-id n2")
	assert.Contains(t, a2, "--join http://127.0.0.1:8080,http://127.0.0.3:8080")
	assert.NotContains(t, a2, "--bootstrap")
	for _, a := range []string{a1, a2} {
		assert.NotContains(t, a, " k ", "secrets stay off the command line")
		assert.NotContains(t, a, " t ")
	}
	// Every argument set is what fsad accepts.
	for _, n := range c.nodes {
		_, err := daemon.ParseConfig(c.args(n), func(k string) string {
			if k == "FSA_ADMIN_TOKEN" {
				return "t"
			}
			return ""
		}, &bytes.Buffer{})
		require.NoError(t, err, n.id)
	}
}
