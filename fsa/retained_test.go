package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// terminate records both children of p TERMINATED, as reconcile does once a delete is done.
func (e *env) terminate(p *fsa.Project) {
	e.t.Helper()
	cur, err := e.c.ProjectByID(e.ctx, p.ID)
	require.NoError(e.t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		ch := cur.Child(k).Common()
		_, err := e.c.Record(e.ctx, 0, k, ch.ID, fsa.Observation{Status: fsa.StatusTerminated, Namespace: "ns-a", Server: "https://k.example"})
		require.NoError(e.t, err)
	}
}

// TestDeleteKeepsDataByDefault: the retention choice is recorded on every child at delete
// time; a kept project's data is listed once the project is gone, until forgotten.
func TestDeleteKeepsDataByDefault(t *testing.T) {
	e := newEnv(t)
	kept, purged := e.project("kept"), e.project("purged")

	d, err := e.c.DeleteProject(e.ctx, e.alice.ID, kept.ID)
	require.NoError(t, err)
	assert.False(t, d.Sandbox.Purge)
	assert.False(t, d.Database.Purge)
	d, err = e.c.DeleteProject(e.ctx, e.alice.ID, purged.ID, fsa.PurgeData(true))
	require.NoError(t, err)
	assert.True(t, d.Sandbox.Purge)
	assert.True(t, d.Database.Purge)

	none, err := e.c.ListRetained(e.ctx, "")
	require.NoError(t, err)
	assert.Empty(t, none, "nothing is retained while the projects exist")
	e.terminate(kept)
	e.terminate(purged)
	_, err = e.c.ProjectByID(e.ctx, kept.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound)

	all, err := e.c.ListRetained(e.ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 2, "the kept project's home volume and database, nothing of the purged one")
	kinds := map[fsa.ResourceKind]*fsa.RetainedData{}
	for _, rd := range all {
		kinds[rd.Kind] = rd
		assert.Equal(t, kept.ID, rd.ProjectID)
		assert.Equal(t, "kept", rd.ProjectName)
		assert.Equal(t, e.alice.ID, rd.UserID)
		assert.Equal(t, "ns-a", rd.Namespace)
		assert.Equal(t, "https://k.example", rd.Server)
		assert.False(t, rd.DeletedAt.IsZero())
	}
	assert.Equal(t, kept.Sandbox.Name, kinds[fsa.ResourceSandbox].ResourceName)
	assert.Equal(t, kept.Database.ClusterName, kinds[fsa.ResourceDatabase].ResourceName)
	mine, err := e.c.ListRetained(e.ctx, e.bob.ID)
	require.NoError(t, err)
	assert.Empty(t, mine, "bob's listing holds none of alice's")

	require.NoError(t, e.c.ForgetRetained(e.ctx, kept.Sandbox.ID))
	require.ErrorIs(t, e.c.ForgetRetained(e.ctx, kept.Sandbox.ID), fsa.ErrNotFound)
	_, err = e.c.GetRetained(e.ctx, kept.Sandbox.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	rd, err := e.c.GetRetained(e.ctx, kept.Database.ID)
	require.NoError(t, err)
	assert.Equal(t, fsa.ResourceDatabase, rd.Kind)
	rev := e.revision()
	require.ErrorIs(t, e.c.ForgetRetained(e.ctx, ""), fsa.ErrInvalidArgument)
	_, err = e.c.ListRetained(e.ctx, "a/b")
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	assert.Equal(t, rev, e.revision())
}

// TestDeleteBeforeAnyWriteRetainsNothing: a project deleted before reconcile ever placed (and so
// wrote) its children left nothing behind.
func TestDeleteBeforeAnyWriteRetainsNothing(t *testing.T) {
	e := newEnv(t)
	p := e.project("brief")
	_, err := e.c.DeleteProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	cur, err := e.c.ProjectByID(e.ctx, p.ID)
	require.NoError(t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		_, err := e.c.Record(e.ctx, 0, k, cur.Child(k).Common().ID, fsa.Observation{Status: fsa.StatusTerminated})
		require.NoError(t, err)
	}
	kept, err := e.c.ListRetained(e.ctx, "")
	require.NoError(t, err)
	assert.Empty(t, kept)
}
