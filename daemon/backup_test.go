package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

// TestAdminSnapshot takes a backup through POST /admin/v1/snapshot on the leader and on a
// follower: both answer with a non-empty snapshot whose index covers what was committed; a
// wrong token is refused.
func TestAdminSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Args: []string{"--domain", "sandbox.fsa.test"}})
	require.NoError(t, err)
	closeOnCleanup(t, c)
	leader, st, err := c.Leader(ctx)
	require.NoError(t, err)

	for _, n := range []*fsadtest.Node{leader, otherThan(c, leader)} {
		var buf bytes.Buffer
		info, err := (&daemon.AdminClient{BaseURL: n.URL(), Token: c.Token()}).Snapshot(ctx, &buf)
		require.NoError(t, err, "node %s", n.ID)
		require.Positive(t, buf.Len())
		require.Equal(t, int64(buf.Len()), info.Size)
		require.Positive(t, info.Term)
		if n == leader {
			require.GreaterOrEqual(t, info.Index, st.AppliedIndex)
		}
	}

	bad := &daemon.AdminClient{BaseURL: leader.URL(), Token: "wrong"}
	_, err = bad.Snapshot(ctx, &bytes.Buffer{})
	var ce *daemon.CallError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, 401, ce.Code)
}
