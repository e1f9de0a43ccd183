package daemon_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/daemon/internal/fsadtest"
)

// TestRestoreIntoNewCluster is the whole backup and restore procedure of docs/operations.md
// with real processes: a three-node cluster on 127.0.0.1 is backed up with `fsad backup`
// (POST /admin/v1/snapshot) between two writes and stopped; `fsad restore` makes the backup the
// data directory of node r1 of a new cluster on 127.0.0.2 with new node ids, r1 starts without
// --bootstrap and two empty nodes join it. The new cluster holds what was written before the
// backup and not what was written after, every node applies the same index, the leader runs
// reconcile with its own term as the fence, and new writes commit.
func TestRestoreIntoNewCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := fsadBin(t)
	dir := t.TempDir()
	old, err := fsadtest.Start(ctx, fsadtest.Options{Bin: bin, Dir: filepath.Join(dir, "old"), Args: []string{"--domain", "sandbox.fsa.test"}})
	require.NoError(t, err)
	closeOnCleanup(t, old)
	w := &fsadtest.Writer{C: old}

	// A project needs its user's kubeconfig on record; nothing here reads it but reconcile.
	var u daemon.TestUser
	_, err = w.Do(ctx, http.MethodPost, "/test/v1/users", daemon.TestUserRequest{Name: "before", Kubeconfig: "apiVersion: v1\nkind: Config\n"}, &u)
	require.NoError(t, err)
	before := u.ID
	var proj daemon.TestProject
	_, err = w.Do(ctx, http.MethodPost, "/test/v1/projects", daemon.TestProjectRequest{UserID: before, Name: "kept"}, &proj)
	require.NoError(t, err)
	leader, lst, err := old.Leader(ctx)
	require.NoError(t, err)

	backupFile := filepath.Join(dir, "fsa-backup.bin")
	out, err := fsadCmd(ctx, bin, []string{"FSA_ADMIN_TOKEN=" + old.Token()}, "backup", "--admin", leader.URL(), "-o", backupFile)
	require.NoError(t, err, "%s", out)
	require.NotContains(t, string(out), old.Token())
	t.Logf("fsad backup: %s", out)

	after, err := w.CreateUser(ctx, "after")
	require.NoError(t, err)
	old.Close()

	// The new cluster: new ids, new addresses (127.0.0.2).
	nodes := make([]*restoredNode, 3)
	for i, id := range []string{"r1", "r2", "r3"} {
		nodes[i] = newRestoredNode(t, dir, id)
	}
	r1 := nodes[0]
	out, err = fsadCmd(ctx, bin, nil, "restore", "--data-dir", r1.dataDir, "--snapshot", backupFile,
		"--node-id", r1.id, "--raft-advertise", r1.raft)
	require.NoError(t, err, "%s", out)
	t.Logf("fsad restore: %s", out)

	r1.start(t, bin)
	for _, n := range nodes[1:] {
		n.start(t, bin, "--join", r1.url())
	}

	// r1 leads the three, runs reconcile fenced with its own term, and all apply the same index.
	var st daemon.ClusterStatus
	require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		var err error
		st, err = r1.admin().Status(ctx)
		if err != nil || st.State != "Leader" || !st.Reconcile.Running || len(st.Members) != 3 {
			return false, nil
		}
		for i, m := range st.Members {
			if m.ID != nodes[i].id || m.RaftAddress != nodes[i].raft || m.APIAddress != nodes[i].api || !m.Voter {
				return false, nil
			}
		}
		return true, nil
	}), "r1 never led the new cluster with reconcile running: %+v", st)
	require.Equal(t, st.Term, st.Reconcile.Fence, "the fence is the new leader's term")
	require.Greater(t, st.Term, lst.Term, "the new cluster continues above the backup's term")

	// A write after the restore commits and reaches every node.
	var newUser daemon.TestUser
	require.NoError(t, r1.admin().Do(ctx, http.MethodPost, "/test/v1/users", daemon.TestUserRequest{Name: "new"}, &newUser))
	require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		var applied []uint64
		for _, n := range nodes {
			s, err := n.admin().Status(ctx)
			if err != nil || s.LeaderID != r1.id {
				return false, nil
			}
			applied = append(applied, s.AppliedIndex)
		}
		return applied[0] >= st.CommitIndex && applied[0] == applied[1] && applied[1] == applied[2], nil
	}), "the nodes never reached an equal applied index")

	for _, n := range nodes {
		var u daemon.TestUser
		require.NoError(t, n.admin().Do(ctx, http.MethodGet, "/test/v1/local/users/"+before, nil, &u), "node %s", n.id)
		require.Equal(t, "before", u.Name)
		require.NoError(t, n.admin().Do(ctx, http.MethodGet, "/test/v1/local/users/"+newUser.ID, nil, &u), "node %s", n.id)
		err := n.admin().Do(ctx, http.MethodGet, "/test/v1/local/users/"+after, nil, &u)
		var ce *daemon.CallError
		require.True(t, errors.As(err, &ce) && ce.Code == http.StatusNotFound, "node %s: user written after the backup: %v", n.id, err)
		var ls daemon.TestState
		require.NoError(t, n.admin().Do(ctx, http.MethodGet, "/test/v1/local/state", nil, &ls))
		require.Equal(t, st.Term, ls.Epoch, "node %s: the store's epoch is the new leader's term", n.id)
	}
	var p daemon.TestProject
	require.NoError(t, r1.admin().Do(ctx, http.MethodGet, "/test/v1/projects/"+proj.ID, nil, &p))
	require.Equal(t, before, p.UserID)
}

// fsadCmd runs a short fsad subcommand and returns its output.
func fsadCmd(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// restoredNode is one fsad process of the new cluster, on 127.0.0.2.
type restoredNode struct {
	id, api, raft, dataDir, logPath string
	token                           string
	cmd                             *exec.Cmd
	exited                          chan struct{}
}

func newRestoredNode(t *testing.T, dir, id string) *restoredNode {
	t.Helper()
	return &restoredNode{
		id: id, api: freeAddrOn(t, "127.0.0.2"), raft: freeAddrOn(t, "127.0.0.2"),
		dataDir: filepath.Join(dir, "new", id), logPath: filepath.Join(dir, "new", id+".log"),
		token: "restored-admin-token",
	}
}

func (n *restoredNode) url() string { return "http://" + n.api }

func (n *restoredNode) admin() *daemon.AdminClient {
	return &daemon.AdminClient{BaseURL: n.url(), Token: n.token, HTTP: &http.Client{Timeout: 5 * time.Second}}
}

// start runs the node until the test ends (SIGTERM, then SIGKILL after 15 s), printing the end
// of its log if the test failed.
func (n *restoredNode) start(t *testing.T, bin string, extra ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(n.logPath), 0o700))
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	args := append([]string{"--data-dir", n.dataDir, "--listen", n.api, "--raft-addr", n.raft, "--node-id", n.id,
		"--domain", "sandbox.fsa.test", "--enable-test-endpoints", "--log-level", "debug"}, extra...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Env = append(os.Environ(), "FSA_ADMIN_TOKEN="+n.token)
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	n.cmd.SysProcAttr = restoreProcAttr()
	require.NoError(t, n.cmd.Start())
	n.exited = make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		_ = lf.Close()
		close(n.exited)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(15 * time.Second)
		defer timer.Stop()
		select {
		case <-n.exited:
		case <-timer.C:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(n.logPath); err == nil {
				t.Logf("=== %s log (last 8000 bytes) ===\n%s", n.id, tail(b, 8000))
			}
		}
	})
}

// freeAddrOn returns a host:port on host that was free a moment ago.
func freeAddrOn(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
