package fsa_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/runtime/ticket"
)

func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t)
	ctx := fsa.WithIdempotencyKey(e.ctx, "req-1")
	p1, err := e.c.CreateProject(ctx, e.alice.ID, fsa.ProjectSpec{Name: "once"})
	require.NoError(t, err)
	rev := e.revision()
	p2, err := e.c.CreateProject(ctx, e.alice.ID, fsa.ProjectSpec{Name: "once"})
	require.NoError(t, err)
	assert.Equal(t, p1.ID, p2.ID, "the retry returns the first call's project")
	assert.Equal(t, rev, e.revision(), "the retry writes nothing")
	list, err := e.c.ListProjects(e.ctx, e.alice.ID)
	require.NoError(t, err)
	assert.Len(t, list.Items, 1, "nothing created twice")

	// Keys are per user: bob's same key is his own call.
	pb, err := e.c.CreateProject(fsa.WithIdempotencyKey(e.ctx, "req-1"), e.bob.ID, fsa.ProjectSpec{Name: "bob"})
	require.NoError(t, err)
	assert.NotEqual(t, p1.ID, pb.ID)

	// A key reused for another call is refused.
	_, err = e.c.DeleteProject(ctx, e.alice.ID, p1.ID)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
}

func TestIdempotentActions(t *testing.T) {
	e := newEnv(t)
	p := e.observe(e.project("acts"), fsa.StatusRunning)
	ctx := fsa.WithIdempotencyKey(e.ctx, "stop-1")
	s1, err := e.c.StopProject(ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	rev := e.revision()
	s2, err := e.c.StopProject(ctx, e.alice.ID, p.ID)
	require.NoError(t, err, "a retried stop succeeds instead of failing on STOPPING")
	assert.Equal(t, s1.Status, s2.Status)
	assert.Equal(t, rev, e.revision())

	other := e.project("other")
	_, err = e.c.StopProject(ctx, e.alice.ID, other.ID)
	require.ErrorIs(t, err, fsa.ErrInvalidArgument, "same key, other project")

	envCtx := fsa.WithIdempotencyKey(e.ctx, "env-1")
	_, err = e.c.SetEnv(envCtx, e.alice.ID, p.ID, fsa.EnvSpec{Key: "A", Value: "1"})
	require.NoError(t, err)
	_, err = e.c.SetEnv(e.ctx, e.alice.ID, p.ID, fsa.EnvSpec{Key: "A", Value: "2"})
	require.NoError(t, err)
	v, err := e.c.SetEnv(envCtx, e.alice.ID, p.ID, fsa.EnvSpec{Key: "A", Value: "1"})
	require.NoError(t, err)
	assert.Equal(t, "2", v.Value, "the retry does not overwrite later changes")
}

func TestTerminalAccess(t *testing.T) {
	e := newEnv(t)
	p := e.project("term")
	_, err := e.c.TerminalAccess(e.ctx, e.alice.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrFailedPrecondition, "not before the sandbox runs")

	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Status: fsa.StatusRunning, TerminalURL: "https://abcdefghijkl.sandbox.test"})
	require.NoError(t, err)
	_, err = e.c.TerminalAccess(e.ctx, e.bob.ID, p.ID)
	require.ErrorIs(t, err, fsa.ErrNotFound, "only the owner")

	ta, err := e.c.TerminalAccess(e.ctx, e.alice.ID, p.ID)
	require.NoError(t, err)
	u, err := url.Parse(ta.URL)
	require.NoError(t, err)
	assert.Equal(t, "abcdefghijkl.sandbox.test", u.Host)
	tk := u.Query().Get("arg")
	require.NotEmpty(t, tk)
	vars, err := e.c.RuntimeEnv(e.ctx, p.ID)
	require.NoError(t, err)
	token := vars[0].Value
	assert.NotContains(t, ta.URL, token, "the token never reaches the browser")
	// The fake clock is far from the wall clock: verify at the ticket's own time.
	require.NoError(t, ticket.Verify(token, p.ID, tk, ta.ExpiresAt.Add(-time.Second)))
	require.ErrorIs(t, ticket.Verify(token, "another", tk, ta.ExpiresAt.Add(-time.Second)), ticket.ErrInvalid)

	require.NoError(t, e.c.RotateTerminalToken(e.ctx, e.alice.ID, p.ID))
	vars, err = e.c.RuntimeEnv(e.ctx, p.ID)
	require.NoError(t, err)
	assert.NotEqual(t, token, vars[0].Value)
	require.Error(t, ticket.Verify(vars[0].Value, p.ID, tk, ta.ExpiresAt.Add(-time.Second)), "old tickets die with the old token")

	// The token never shows in the watch stream, nor in listings.
	w, err := e.c.Watch(e.ctx, e.alice.ID, 0)
	require.NoError(t, err)
	head := e.revision()
	for w.Revision() < head {
		ev, err := w.Next()
		require.NoError(t, err)
		for _, ch := range ev.Changes {
			if ch.Env != nil {
				assert.Empty(t, ch.Env.Value)
			}
		}
	}
}
