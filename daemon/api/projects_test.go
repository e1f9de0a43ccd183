package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

func TestProjectLifecycle(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "shop")
	assert.Equal(t, fsav1.Status_STATUS_CREATING, p.Status)
	assert.Equal(t, "shop", p.Name)
	require.NotNil(t, p.Sandbox)
	require.NotNil(t, p.Database)
	assert.NotZero(t, p.Version)

	_, err := alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "shop"}))
	requireCode(t, err, connect.CodeAlreadyExists)

	got, err := alice.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, p.Id, got.Msg.Project.Id)

	// CREATING cannot be started; once running it can be stopped and started again.
	_, err = alice.Project.StartProject(e.ctx, connect.NewRequest(&fsav1.StartProjectRequest{Id: p.Id}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	e.run(alice.ID, p.Id)
	stop, err := alice.Project.StopProject(e.ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, fsav1.Status_STATUS_STOPPING, stop.Msg.Project.Status)

	ex, err := alice.Project.ExplainProject(e.ctx, connect.NewRequest(&fsav1.ExplainProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	require.Len(t, ex.Msg.Explanation.Children, 2)
	assert.Equal(t, fsav1.ResourceKind_RESOURCE_KIND_SANDBOX, ex.Msg.Explanation.Children[0].Kind)
	assert.Equal(t, fsav1.Status_STATUS_STOPPED, ex.Msg.Explanation.Children[0].Desired)
	assert.NotEmpty(t, ex.Msg.Explanation.Children[0].NextAction)
	assert.GreaterOrEqual(t, ex.Msg.Explanation.Revision, stop.Msg.Project.Version)

	del, err := alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, fsav1.Status_STATUS_TERMINATING, del.Msg.Project.Status)
	// The name is free again once its project is being deleted.
	_, err = alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "shop"}))
	require.NoError(t, err)
}

func TestCreateProjectIdempotent(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	first := e.project(alice, "once")
	req := &fsav1.CreateProjectRequest{Name: "keyed", IdempotencyKey: "9b7a3c2e-retry"}
	a, err := alice.Project.CreateProject(e.ctx, connect.NewRequest(req))
	require.NoError(t, err)
	b, err := alice.Project.CreateProject(e.ctx, connect.NewRequest(req))
	require.NoError(t, err, "a retry with the same key is not AlreadyExists")
	assert.Equal(t, a.Msg.Project.Id, b.Msg.Project.Id)
	assert.Equal(t, 2, projectCount(t, e), "the retry stored a second project")

	list, err := alice.Project.ListProjects(e.ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Projects, 2)
	assert.Equal(t, first.Id, list.Msg.Projects[0].Id)

	// The same key for another call is InvalidArgument.
	_, err = alice.Project.StopProject(e.ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: first.Id, IdempotencyKey: req.IdempotencyKey}))
	requireCode(t, err, connect.CodeInvalidArgument)
}

func TestListProjectsPages(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	var want []string
	for i := range 5 {
		want = append(want, e.project(alice, fmt.Sprintf("p%d", i)).Id)
	}
	var got []string
	token := ""
	pages := 0
	for {
		resp, err := alice.Project.ListProjects(e.ctx, connect.NewRequest(&fsav1.ListProjectsRequest{PageSize: 2, PageToken: token}))
		require.NoError(t, err)
		pages++
		assert.NotZero(t, resp.Msg.Revision)
		for _, p := range resp.Msg.Projects {
			got = append(got, p.Id)
		}
		token = resp.Msg.NextPageToken
		if token == "" {
			break
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages)

	for _, bad := range []string{"garbage!", "e30", strings.Repeat("A", 600)} {
		_, err := alice.Project.ListProjects(e.ctx, connect.NewRequest(&fsav1.ListProjectsRequest{PageToken: bad}))
		requireCode(t, err, connect.CodeInvalidArgument)
	}
}

func TestTerminalAccess(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "term")
	_, err := alice.Project.TerminalAccess(e.ctx, connect.NewRequest(&fsav1.TerminalAccessRequest{ProjectId: p.Id}))
	requireCode(t, err, connect.CodeFailedPrecondition)

	e.run(alice.ID, p.Id)
	ta, err := alice.Project.TerminalAccess(e.ctx, connect.NewRequest(&fsav1.TerminalAccessRequest{ProjectId: p.Id}))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ta.Msg.Url, "https://term.example.test/?arg="), ta.Msg.Url)
	assert.NotNil(t, ta.Msg.ExpiresAt)

	// The raw terminal token never leaves the server.
	env, err := alice.Env.ListEnv(e.ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: p.Id, RevealSecrets: true}))
	require.NoError(t, err)
	for _, v := range env.Msg.Vars {
		if v.Key == "TTYD_ACCESS_TOKEN" {
			assert.Empty(t, v.Value)
			assert.True(t, v.PlatformOwned)
		}
	}

	rot, err := alice.Project.RotateTerminalToken(e.ctx, connect.NewRequest(&fsav1.RotateTerminalTokenRequest{ProjectId: p.Id, IdempotencyKey: "rot-1"}))
	require.NoError(t, err)
	assert.NotEqual(t, ta.Msg.Url, rot.Msg.Url)
	before := e.revision()
	_, err = alice.Project.RotateTerminalToken(e.ctx, connect.NewRequest(&fsav1.RotateTerminalTokenRequest{ProjectId: p.Id, IdempotencyKey: "rot-1"}))
	require.NoError(t, err)
	assert.Equal(t, before, e.revision(), "a retried rotation rotated again")
}

// projectCount counts stored projects.
func projectCount(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error {
		rs, err := s.List(store.KindProject, store.Filter{})
		n = len(rs)
		return err
	}))
	return n
}

// TestProjectLimitOnTheWire: a creation over a user's limit is ResourceExhausted, with the limit
// and the use in the message, and stores nothing.
func TestProjectLimitOnTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := memstore.New()
	e := newEnvOn(t, ctx, st, func(o *api.Options) { o.Client = fsa.New(st, fsa.WithDefaultLimits(fsa.Limits{Projects: 1})) })
	alice := e.signUp("alice")
	e.project(alice, "one")
	before := e.revision()
	_, err := alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "two"}))
	requireCode(t, err, connect.CodeResourceExhausted)
	require.Contains(t, err.Error(), "you have 1 projects and may have 1")
	require.Equal(t, before, e.revision())
}
