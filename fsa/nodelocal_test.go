package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// Under WithNodeLocalRead a follower of a raftstore cluster answers reads from its own state,
// secrets revealed with the keys it holds, where a plain read is refused as not the leader.
func TestNodeLocalReadOnAFollower(t *testing.T) {
	ctx := ctxT(t)
	kr := testKeyring(t, testKEK(t, "k1"))
	rw := newRaftWorld(t, kr)
	ld := rw.leader(ctx)
	w := writeSecrets(t, ctx, ld.client())
	rw.waitCaughtUp(ctx, leaderRevision(t, ctx, ld.st))
	var fl *raftNode
	for _, nd := range rw.nodes {
		if nd != ld {
			fl = nd
			break
		}
	}
	c := fl.client()

	_, err := c.ListAllProjects(ctx)
	require.Error(t, err, "a plain read on a follower goes to the leader's linearizable view")

	local := fsa.WithNodeLocalRead(ctx)
	list, err := c.ListAllProjects(local)
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	require.Equal(t, w.projectID, list.Items[0].ID)
	require.Equal(t, leaderRevision(t, ctx, ld.st), list.Revision, "caught up")
	cfgs, err := c.ListUserConfig(local, w.userID, true)
	require.NoError(t, err)
	got := map[string]string{}
	for _, cf := range cfgs {
		got[cf.Key] = cf.Value
	}
	require.Equal(t, w.kubeconfig, got[fsa.ConfigKubeconfig])

	// Writes are not changed by it: a follower still refuses them.
	_, err = c.CreateProject(local, w.userID, fsa.ProjectSpec{Name: "elsewhere"})
	require.Error(t, err)
}
