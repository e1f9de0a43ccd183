package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// TestPlacement: where a child's objects live is recorded once, never changed, shared by the
// project's children, and recorded without touching the child's status or change time.
func TestPlacement(t *testing.T) {
	e := newEnv(t)
	p := e.project("placed")
	require.False(t, p.Sandbox.Placed())

	before := p.Sandbox.UpdatedAt
	got, err := e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: p.Sandbox.Version,
		Status: fsa.StatusCreating, Namespace: "ns-a", Server: "https://a.example:6443"})
	require.NoError(t, err)
	assert.Equal(t, "ns-a", got.Sandbox.Namespace)
	assert.Equal(t, "https://a.example:6443", got.Sandbox.Server)
	assert.Equal(t, fsa.StatusCreating, got.Sandbox.Status)
	assert.Equal(t, before, got.Sandbox.UpdatedAt, "a placement alone is not a change of state")
	assert.Len(t, got.Sandbox.Conditions, 1)

	// Never moved by a later observation.
	cur, err := e.c.ProjectByID(e.ctx, p.ID)
	require.NoError(t, err)
	got, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: cur.Sandbox.Version,
		Status: fsa.StatusStarting, Reason: "Applied", Namespace: "ns-b", Server: "https://b.example:6443"})
	require.NoError(t, err)
	assert.Equal(t, "ns-a", got.Sandbox.Namespace)
	assert.Equal(t, fsa.StatusStarting, got.Sandbox.Status)

	// The database, placed later under another kubeconfig, joins its sandbox.
	got, err = e.c.Record(e.ctx, 0, fsa.ResourceDatabase, p.Database.ID, fsa.Observation{Version: cur.Database.Version,
		Status: fsa.StatusCreating, Namespace: "ns-b", Server: "https://b.example:6443"})
	require.NoError(t, err)
	assert.Equal(t, "ns-a", got.Database.Namespace)
	assert.Equal(t, "https://a.example:6443", got.Database.Server)

	// Reads carry it.
	read, err := e.c.GetProject(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, "ns-a", read.Database.Namespace)

	// Half a placement is refused, with nothing stored.
	rev := e.revision()
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceDatabase, p.Database.ID, fsa.Observation{Status: fsa.StatusRunning, Namespace: "ns-c"})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	assert.Equal(t, rev, e.revision())
}
