package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

// TestKubeconfigAppliesToNewProjects: projects show where they live, and a new kubeconfig
// says how many existing projects stay elsewhere.
func TestKubeconfigAppliesToNewProjects(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "alpha") // kubeconfig for ns-alice
	e.project(alice, "unplaced")   // not synced yet: goes wherever the kubeconfig points
	sdk, err := e.c.GetProject(e.ctx, alice.ID, p.Id)
	require.NoError(t, err)
	for _, k := range []fsa.ResourceKind{fsa.ResourceSandbox, fsa.ResourceDatabase} {
		ch := sdk.Child(k).Common()
		_, err = e.c.Record(e.ctx, 0, k, ch.ID, fsa.Observation{Version: ch.Version, Status: ch.Status,
			Namespace: "ns-alice", Server: "https://127.0.0.1:6443"})
		require.NoError(t, err)
	}
	got, err := alice.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, "ns-alice", got.Msg.Project.Sandbox.Namespace)
	assert.Equal(t, "https://127.0.0.1:6443", got.Msg.Project.Database.Server)

	same, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-alice")}))
	require.NoError(t, err)
	assert.Zero(t, same.Msg.ProjectsElsewhere)
	moved, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-other")}))
	require.NoError(t, err)
	assert.Equal(t, "ns-other", moved.Msg.Namespace)
	assert.Equal(t, int32(1), moved.Msg.ProjectsElsewhere, "alpha stays in ns-alice")
	got, err = alice.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, "ns-alice", got.Msg.Project.Sandbox.Namespace, "a kubeconfig change moves nothing")
}
