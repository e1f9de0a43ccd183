package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

func TestPublicApp(t *testing.T) {
	e := newEnv(t)
	a := e.alice.ID

	// New projects are private unless asked otherwise.
	p := e.project("quiet")
	require.True(t, p.Sandbox.PrivateApp)
	assert.False(t, p.Sandbox.PublicApp())
	loud, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "loud", PublicApp: true})
	require.NoError(t, err)
	assert.True(t, loud.Sandbox.PublicApp())
	got, err := e.c.GetProject(e.ctx, a, loud.ID)
	require.NoError(t, err)
	assert.True(t, got.Sandbox.PublicApp(), "stored")

	// A private app's URL is never recorded, whatever reconcile reports.
	out, err := e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: p.Sandbox.Version,
		Status: fsa.StatusRunning, AppURL: "https://app.example", TerminalURL: "https://term.example"})
	require.NoError(t, err)
	assert.Empty(t, out.Sandbox.AppURL)
	assert.Equal(t, "https://term.example", out.Sandbox.TerminalURL)

	// Public: one write of the sandbox record, a new version for reconcile to act on.
	before := e.revision()
	pub, err := e.c.SetPublicApp(e.ctx, a, p.ID, true)
	require.NoError(t, err)
	require.Equal(t, before+1, e.revision())
	assert.True(t, pub.Sandbox.PublicApp())
	assert.Equal(t, e.revision(), pub.Sandbox.Version)
	assert.Equal(t, fsa.StatusRunning, pub.Sandbox.Status, "the status is not touched")
	out, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: pub.Sandbox.Version,
		Status: fsa.StatusRunning, AppURL: "https://app.example"})
	require.NoError(t, err)
	assert.Equal(t, "https://app.example", out.Sandbox.AppURL)

	// The same choice again writes nothing.
	before = e.revision()
	again, err := e.c.SetPublicApp(e.ctx, a, p.ID, true)
	require.NoError(t, err)
	assert.Equal(t, before, e.revision())
	assert.True(t, again.Sandbox.PublicApp())

	// Private again: the public URL goes at once.
	priv, err := e.c.SetPublicApp(e.ctx, a, p.ID, false)
	require.NoError(t, err)
	assert.False(t, priv.Sandbox.PublicApp())
	assert.Empty(t, priv.Sandbox.AppURL)
	got, err = e.c.GetProject(e.ctx, a, p.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Sandbox.AppURL)
	assert.True(t, got.Sandbox.PrivateApp)

	// Refusals, with nothing written.
	before = e.revision()
	_, err = e.c.SetPublicApp(e.ctx, e.bob.ID, p.ID, true)
	require.ErrorIs(t, err, fsa.ErrNotFound, "another user's project")
	_, err = e.c.SetPublicApp(e.ctx, a, "nosuchproject", true)
	require.ErrorIs(t, err, fsa.ErrNotFound)
	_, err = e.c.SetPublicApp(e.ctx, a, "a/b", true)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	_, err = e.c.SetPublicApp(e.ctx, "", p.ID, true)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	require.Equal(t, before, e.revision())
	_, err = e.c.DeleteProject(e.ctx, a, loud.ID)
	require.NoError(t, err)
	before = e.revision()
	_, err = e.c.SetPublicApp(e.ctx, a, loud.ID, false)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "a project being deleted")
	assert.Contains(t, err.Error(), "TERMINATING")
	require.Equal(t, before, e.revision())
}
