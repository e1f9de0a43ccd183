package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
	"github.com/fullstackagent/fsa/internal/devenv/testapi"
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
	var u testapi.User
	const kubeMarker = "restore-test-kubeconfig-0123456789" // sealed at rest: never in the backup file
	_, err = w.Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: "before", Kubeconfig: "apiVersion: v1\nkind: Config\n# " + kubeMarker + "\n"}, &u)
	require.NoError(t, err)
	before := u.ID
	var proj testapi.Project
	_, err = w.Do(ctx, http.MethodPost, "/test/v1/projects", testapi.ProjectRequest{UserID: before, Name: "kept"}, &proj)
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
	backup, err := os.ReadFile(backupFile)
	require.NoError(t, err)
	require.False(t, containsValue(backup, kubeMarker), "the backup file holds the kubeconfig in the clear")

	// Restored and started with another keyring, the node refuses to serve and says why.
	wrong, err := fsadtest.New(fsadtest.Options{Bin: bin, Dir: filepath.Join(dir, "wrong"), IDs: []string{"w1", "w2", "w3"},
		Host: "127.0.0.3", Args: []string{"--domain", "sandbox.fsa.test"}})
	require.NoError(t, err)
	closeOnCleanup(t, wrong)
	w1 := wrong.Nodes[0]
	out, err = fsadCmd(ctx, bin, nil, "restore", "--data-dir", w1.DataDir, "--snapshot", backupFile,
		"--node-id", w1.ID, "--raft-advertise", w1.Raft)
	require.NoError(t, err, "%s", out)
	require.NoError(t, w1.Start())
	select {
	case <-w1.Exited():
	case <-ctx.Done():
		t.Fatal("a node without the data's key kept running")
	}
	logs, err := os.ReadFile(w1.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(logs), "refusing to serve")
	require.Contains(t, string(logs), "does not open with key-encryption key") // another key under the same id

	// The new cluster: new ids, new addresses (127.0.0.2).
	nc, err := fsadtest.New(fsadtest.Options{Bin: bin, Dir: filepath.Join(dir, "new"), IDs: []string{"r1", "r2", "r3"},
		Host: "127.0.0.2", Token: "restored-admin-token", KEK: old.KEK(), Args: []string{"--domain", "sandbox.fsa.test"}})
	require.NoError(t, err)
	closeOnCleanup(t, nc)
	r1 := nc.Nodes[0]
	out, err = fsadCmd(ctx, bin, nil, "restore", "--data-dir", r1.DataDir, "--snapshot", backupFile,
		"--node-id", r1.ID, "--raft-advertise", r1.Raft)
	require.NoError(t, err, "%s", out)
	t.Logf("fsad restore: %s", out)
	for _, n := range nc.Nodes {
		require.NoError(t, n.Start())
	}

	// r1 leads the three, runs reconcile fenced with its own term, and all apply the same index.
	var st *fsav1.GetClusterStatusResponse
	require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		var err error
		st, err = r1.Status(ctx)
		if err != nil || st.State != "Leader" || !st.ReconcileRunning || len(st.Members) != 3 {
			return false, nil
		}
		for i, m := range st.Members {
			n := nc.Nodes[i]
			if m.Id != n.ID || m.Address != n.Raft || m.ApiAddress != n.API || m.Suffrage != fsav1.Suffrage_SUFFRAGE_VOTER {
				return false, nil
			}
		}
		return true, nil
	}), "r1 never led the new cluster with reconcile running: %v", st)
	require.Equal(t, st.Term, st.ReconcileFence, "the fence is the new leader's term")
	require.Greater(t, st.Term, lst.Term, "the new cluster continues above the backup's term")

	// A write after the restore commits and reaches every node.
	var newUser testapi.User
	require.NoError(t, r1.Test().Do(ctx, http.MethodPost, "/test/v1/users", testapi.UserRequest{Name: "new"}, &newUser))
	require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		var applied []uint64
		for _, n := range nc.Nodes {
			s, err := n.Status(ctx)
			if err != nil || s.LeaderId != r1.ID {
				return false, nil
			}
			applied = append(applied, s.AppliedIndex)
		}
		return applied[0] >= st.CommitIndex && applied[0] == applied[1] && applied[1] == applied[2], nil
	}), "the nodes never reached an equal applied index")

	for _, n := range nc.Nodes {
		var u testapi.User
		require.NoError(t, n.Test().Do(ctx, http.MethodGet, "/test/v1/local/users/"+before, nil, &u), "node %s", n.ID)
		require.Equal(t, "before", u.Name)
		require.NoError(t, n.Test().Do(ctx, http.MethodGet, "/test/v1/local/users/"+newUser.ID, nil, &u), "node %s", n.ID)
		err := n.Test().Do(ctx, http.MethodGet, "/test/v1/local/users/"+after, nil, &u)
		var ce *testapi.CallError
		require.True(t, errors.As(err, &ce) && ce.Code == http.StatusNotFound, "node %s: user written after the backup: %v", n.ID, err)
		var ls testapi.State
		require.NoError(t, n.Test().Do(ctx, http.MethodGet, "/test/v1/local/state", nil, &ls))
		require.Equal(t, st.Term, ls.Epoch, "node %s: the store's epoch is the new leader's term", n.ID)
	}
	var p testapi.Project
	require.NoError(t, r1.Test().Do(ctx, http.MethodGet, "/test/v1/projects/"+proj.ID, nil, &p))
	require.Equal(t, before, p.UserID)
	// With the right keyring the restored nodes serve: each opened every data key of the
	// backup at start (fsa.Client.CheckKeys), where the node with another keyring refused.
	logs, err = os.ReadFile(r1.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(logs), "secrets at rest")
	require.NotContains(t, string(logs), kubeMarker)
}

// fsadCmd runs a short fsad subcommand and returns its output.
func fsadCmd(ctx context.Context, bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}
