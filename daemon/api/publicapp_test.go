package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

// TestPublicApp: the choice travels through CreateProject and SetPublicApp, and a private app's
// URL is never advertised.
func TestPublicApp(t *testing.T) {
	e := newEnv(t)
	u := e.signUp("pat")
	quiet := e.project(u, "quiet") // the default: private
	assert.False(t, quiet.Sandbox.PublicApp)
	loud, err := u.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "loud", PublicApp: true}))
	require.NoError(t, err)
	assert.True(t, loud.Msg.Project.Sandbox.PublicApp)

	get := func(id string) *fsav1.Sandbox {
		t.Helper()
		r, err := u.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
		require.NoError(t, err)
		return r.Msg.Project.Sandbox
	}
	e.run(u.ID, loud.Msg.Project.Id)
	e.run(u.ID, quiet.Id)
	assert.Equal(t, "https://app.example.test", get(loud.Msg.Project.Id).AppUrl)
	assert.Empty(t, get(quiet.Id).AppUrl, "a private app has no public URL")
	assert.Equal(t, "https://term.example.test", get(quiet.Id).TerminalUrl)

	res, err := u.Project.SetPublicApp(e.ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: loud.Msg.Project.Id}))
	require.NoError(t, err)
	assert.False(t, res.Msg.Project.Sandbox.PublicApp)
	assert.Empty(t, res.Msg.Project.Sandbox.AppUrl)
	assert.Empty(t, get(loud.Msg.Project.Id).AppUrl)
	assert.Equal(t, fsav1.Status_STATUS_RUNNING, res.Msg.Project.Sandbox.Status)

	res, err = u.Project.SetPublicApp(e.ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: quiet.Id, PublicApp: true}))
	require.NoError(t, err)
	assert.True(t, res.Msg.Project.Sandbox.PublicApp)
	assert.Greater(t, res.Msg.Project.Sandbox.Version, get(loud.Msg.Project.Id).Version, "a new version for reconcile")

	_, err = u.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: quiet.Id}))
	require.NoError(t, err)
	_, err = u.Project.SetPublicApp(e.ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: quiet.Id}))
	requireCode(t, err, connect.CodeFailedPrecondition)
}
