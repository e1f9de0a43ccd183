package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
)

// terminate records both children of a project placed and TERMINATED, as reconcile does once a
// delete is done.
func (e *env) terminate(userID, projectID string) {
	e.t.Helper()
	p, err := e.c.ProjectByID(e.ctx, projectID)
	require.NoError(e.t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		_, err := e.c.Record(e.ctx, 0, k, p.Child(k).Common().ID, fsa.Observation{Status: fsa.StatusTerminated,
			Namespace: "ns-" + userID, Server: "https://127.0.0.1:6443"})
		require.NoError(e.t, err)
	}
}

// TestDeleteRetention: DeleteProject keeps data unless purge_data; the kept data is listed for
// admins only, and purging needs a reachable owner's cluster (here none: FailedPrecondition,
// nothing forgotten).
func TestDeleteRetention(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	kept, purged := e.project(alice, "kept"), e.project(alice, "purged")

	_, err := alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: kept.Id}))
	require.NoError(t, err)
	_, err = alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: purged.Id, PurgeData: true}))
	require.NoError(t, err)
	for id, want := range map[string]bool{kept.Id: false, purged.Id: true} {
		p, err := e.c.ProjectByID(e.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want, p.Sandbox.Purge)
		assert.Equal(t, want, p.Database.Purge)
	}
	e.terminate(alice.ID, kept.Id)
	e.terminate(alice.ID, purged.Id)

	admin := e.clients(sessionFor(t, e, mustAdmin(t, e)))
	list, err := admin.Cluster.ListRetainedData(e.ctx, connect.NewRequest(&fsav1.ListRetainedDataRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Items, 2)
	kinds := map[fsav1.ResourceKind]bool{}
	for _, it := range list.Msg.Items {
		kinds[it.Kind] = true
		assert.Equal(t, kept.Id, it.ProjectId)
		assert.Equal(t, alice.ID, it.UserId)
		assert.NotNil(t, it.DeletedAt)
	}
	assert.True(t, kinds[fsav1.ResourceKind_RESOURCE_KIND_SANDBOX] && kinds[fsav1.ResourceKind_RESOURCE_KIND_DATABASE])

	// The test kubeconfig points at no cluster: the purge cannot reach it.
	before := e.revision()
	_, err = admin.Cluster.PurgeRetainedData(e.ctx, connect.NewRequest(&fsav1.PurgeRetainedDataRequest{Id: list.Msg.Items[0].Id}))
	require.Error(t, err)
	assert.NotEqual(t, connect.CodeInternal, connect.CodeOf(err))
	assert.Equal(t, before, e.revision(), "nothing is forgotten that was not purged")

	for _, tc := range []struct {
		name string
		id   string
		want connect.Code
	}{
		{"empty id", "", connect.CodeInvalidArgument},
		{"unknown id", "nosuchdata", connect.CodeNotFound},
		{"id with a slash", "a/b", connect.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			_, err := admin.Cluster.PurgeRetainedData(e.ctx, connect.NewRequest(&fsav1.PurgeRetainedDataRequest{Id: tc.id}))
			requireCode(t, err, tc.want)
			assert.Equal(t, before, e.revision())
		})
	}
}

// TestPurgeOnDelete: fsad --delete-volumes makes every delete purge.
func TestPurgeOnDelete(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.PurgeOnDelete = true })
	alice := e.signUp("alice")
	p := e.project(alice, "p")
	_, err := alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	got, err := e.c.ProjectByID(e.ctx, p.Id)
	require.NoError(t, err)
	assert.True(t, got.Sandbox.Purge)
	assert.True(t, got.Database.Purge)
}
