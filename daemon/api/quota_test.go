package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// TestQuotaService: a user sees their own quota and the size classes; an admin reads and sets
// a user's limits; a create over a limit is ResourceExhausted naming the limit and the use; bad
// limits store nothing.
func TestQuotaService(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	admin := e.clients(sessionFor(t, e, mustAdmin(t, e)))
	p := e.project(alice, "one")
	s := fsa.BuiltinSize

	q, err := alice.Quota.GetQuota(e.ctx, connect.NewRequest(&fsav1.GetQuotaRequest{}))
	require.NoError(t, err)
	assert.False(t, q.Msg.Quota.Custom)
	assert.Equal(t, &fsav1.Usage{Projects: 1, Running: 1, CpuMillis: s.CPU + s.DatabaseCPU, MemoryBytes: s.Memory + s.DatabaseMemory,
		StorageBytes: s.Home + s.Database}, q.Msg.Quota.Usage)
	assert.Equal(t, s.Home, p.Size.HomeBytes, "the project carries its size")
	assert.Equal(t, fsa.DefaultSizeClass, p.Size.Class)

	classes, err := alice.Quota.ListSizeClasses(e.ctx, connect.NewRequest(&fsav1.ListSizeClassesRequest{}))
	require.NoError(t, err)
	assert.Equal(t, fsa.DefaultSizeClass, classes.Msg.DefaultClass)
	require.Len(t, classes.Msg.Classes, 1)
	assert.Equal(t, fsa.MaxSize.Home, classes.Msg.Max.HomeBytes)

	// Bad limits: nothing stored.
	before := e.revision()
	for name, tc := range map[string]struct {
		req  *fsav1.SetUserLimitsRequest
		want connect.Code
	}{
		"negative":       {&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{CpuMillis: -1}}, connect.CodeInvalidArgument},
		"absurd":         {&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{StorageBytes: 1 << 62}}, connect.CodeInvalidArgument},
		"nothing":        {&fsav1.SetUserLimitsRequest{UserId: alice.ID}, connect.CodeInvalidArgument},
		"no user":        {&fsav1.SetUserLimitsRequest{Limits: &fsav1.Limits{Projects: 1}}, connect.CodeInvalidArgument},
		"unknown user":   {&fsav1.SetUserLimitsRequest{UserId: "nosuchuser", Limits: &fsav1.Limits{Projects: 1}}, connect.CodeNotFound},
		"below the use":  {&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{StorageBytes: 1 << 30}}, connect.CodeFailedPrecondition},
		"below cpu used": {&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{CpuMillis: 100}}, connect.CodeFailedPrecondition},
	} {
		_, err := admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(tc.req))
		requireCode(t, err, tc.want)
		if name == "below the use" {
			assert.Contains(t, err.Error(), "limit storage = 1Gi is below the user's current use, 13Gi")
		}
	}
	_, err = admin.Quota.GetUserLimits(e.ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: "a/b"}))
	requireCode(t, err, connect.CodeInvalidArgument)
	require.Equal(t, before, e.revision())

	// The admin sets alice's storage to what she holds: her next project is refused.
	set, err := admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID,
		Limits: &fsav1.Limits{StorageBytes: s.Home + s.Database}}))
	require.NoError(t, err)
	assert.True(t, set.Msg.Quota.Custom)
	_, err = alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "two"}))
	requireCode(t, err, connect.CodeResourceExhausted)
	assert.Contains(t, err.Error(), "storage limit reached: your projects hold 13Gi of your 13Gi storage")
	got, err := admin.Quota.GetUserLimits(e.ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: alice.ID}))
	require.NoError(t, err)
	assert.Equal(t, s.Home+s.Database, got.Msg.Quota.Limits.StorageBytes)

	// Back to the defaults (none): the create goes through.
	back, err := admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID, UseDefaults: true}))
	require.NoError(t, err)
	assert.False(t, back.Msg.Quota.Custom)
	_, err = alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "two", Size: &fsav1.SizeRequest{Home: "20Gi"}}))
	require.NoError(t, err)
}

// TestUseDefaultsBelowUse: putting a user back on the daemon's defaults is a change of limits
// like any other: below the user's current use it is FailedPrecondition naming the default
// limit and the use, and nothing is stored; once the use fits, it goes through.
func TestUseDefaultsBelowUse(t *testing.T) {
	e := newEnvWith(t, fsa.WithDefaultLimits(fsa.Limits{Projects: 1}))
	alice := e.signUp("alice")
	admin := e.clients(sessionFor(t, e, mustAdmin(t, e)))
	_, err := admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{Projects: 3}}))
	require.NoError(t, err)
	one, two := e.project(alice, "one"), e.project(alice, "two")
	require.NotEqual(t, one.Id, two.Id)

	before := e.revision()
	_, err = admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID, UseDefaults: true}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	assert.Contains(t, err.Error(), "default limit projects = 1 is below the user's current use, 2")
	require.Equal(t, before, e.revision(), "nothing stored")
	got, err := admin.Quota.GetUserLimits(e.ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: alice.ID}))
	require.NoError(t, err)
	assert.True(t, got.Msg.Quota.Custom)
	assert.EqualValues(t, 3, got.Msg.Quota.Limits.Projects)

	_, err = alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: two.Id}))
	require.NoError(t, err)
	back, err := admin.Quota.SetUserLimits(e.ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID, UseDefaults: true}))
	require.NoError(t, err)
	assert.False(t, back.Msg.Quota.Custom)
	assert.EqualValues(t, 1, back.Msg.Quota.Limits.Projects)
}
