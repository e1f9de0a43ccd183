package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
)

// A starting runner's first sync of each child works from the project as the first listing found
// it, once, and only while the change feed has brought no change of that project: a change of a
// child, of the project's environment, or anything the feed cannot attribute, sends the sync
// back to the store.
func TestFirstSyncStartsFromTheListing(t *testing.T) {
	w := newLifecycleWorld(t)
	var projects []*fsa.Project
	for _, name := range []string{"Alpha", "Beta", "Gamma", "Delta"} {
		projects = append(projects, w.running(name, fsa.LifecyclePolicy{}))
	}
	alpha, beta, gamma, delta := projects[0], projects[1], projects[2], projects[3]
	r, err := reconcile.New(reconcile.Config{Client: w.c, Fence: 1, Domain: "sandbox.fsa.test"})
	require.NoError(t, err)
	rev, err := r.ListFirst(w.ctx)
	require.NoError(t, err)

	// After the listing: Beta's environment and Gamma's database change.
	_, err = w.c.SetEnv(w.ctx, w.user, beta.ID, fsa.EnvSpec{Key: "GREETING", Value: "hello"})
	require.NoError(t, err)
	_, err = w.c.Record(w.ctx, 0, fsa.ResourceDatabase, gamma.Child(fsa.ResourceDatabase).Common().ID,
		fsa.Observation{Status: fsa.StatusError, Reason: "Test", Message: "changed after the listing"})
	require.NoError(t, err)
	feed, err := w.c.Watch(w.ctx, "", rev)
	require.NoError(t, err)
	for seen := 0; seen < 2; {
		ev, err := feed.Next()
		require.NoError(t, err)
		for _, ch := range ev.Changes {
			r.OnStoreChange(w.ctx, ch)
			seen++
		}
	}

	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		now, err := w.c.ProjectByID(w.ctx, alpha.ID)
		require.NoError(t, err)
		assert.Equal(t, now, r.ListedProject(k, alpha.ID), "%s of an unchanged project: as listed", k)
		assert.Nil(t, r.ListedProject(k, alpha.ID), "%s: once", k)
		assert.Nil(t, r.ListedProject(k, beta.ID), "%s of a project whose environment changed", k)
		assert.Nil(t, r.ListedProject(k, gamma.ID), "%s of a project one of whose children changed", k)
	}

	// A change the runner cannot attribute (the feed compacted, or a kind it does not know)
	// forgets the whole listing.
	r.OnStoreChange(w.ctx, fsa.ResourceChange{Kind: "unknown"})
	assert.Nil(t, r.ListedProject(fsa.ResourceSandbox, delta.ID))
}
