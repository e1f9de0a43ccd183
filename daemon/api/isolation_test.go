package api_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

func ptr[T any](v T) *T { return &v }

// TestTenantIsolation calls every RPC that addresses a resource as user B on user A's
// resources: each fails with NotFound (or PermissionDenied for admin RPCs) and nothing changes.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.signUp("alice"), e.signUp("bob")
	p := e.project(alice, "alpha")
	e.run(alice.ID, p.Id)
	_, err := alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "DB_PASSWORD", Value: "alice-secret-value", Secret: true}))
	require.NoError(t, err)
	e.project(bob, "bravo") // bob is a full user with his own project
	_, err = alice.Config.SetGitHubToken(e.ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: "ghp_alice"}))
	require.NoError(t, err)
	// Alice deleted a project and kept its data.
	gone := e.project(alice, "gone")
	_, err = alice.Project.DeleteProject(e.ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: gone.Id}))
	require.NoError(t, err)
	e.terminate(alice.ID, gone.Id)
	kept := gone.Sandbox.Id

	id := p.Id
	ctx := e.ctx
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
		want connect.Code
	}{
		{"GetProject", func(ctx context.Context) error {
			_, err := bob.Project.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
			return err
		}, connect.CodeNotFound},
		{"StartProject", func(ctx context.Context) error {
			_, err := bob.Project.StartProject(ctx, connect.NewRequest(&fsav1.StartProjectRequest{Id: id}))
			return err
		}, connect.CodeNotFound},
		{"StopProject", func(ctx context.Context) error {
			_, err := bob.Project.StopProject(ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: id, IdempotencyKey: "k1"}))
			return err
		}, connect.CodeNotFound},
		{"ResizeProject", func(ctx context.Context) error {
			_, err := bob.Project.ResizeProject(ctx, connect.NewRequest(&fsav1.ResizeProjectRequest{Id: id, Size: &fsav1.SizeRequest{Cpu: "1"}}))
			return err
		}, connect.CodeNotFound},
		{"GetUserLimits", func(ctx context.Context) error {
			_, err := bob.Quota.GetUserLimits(ctx, connect.NewRequest(&fsav1.GetUserLimitsRequest{UserId: alice.ID}))
			return err
		}, connect.CodePermissionDenied},
		{"SetUserLimits", func(ctx context.Context) error {
			_, err := bob.Quota.SetUserLimits(ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: alice.ID, Limits: &fsav1.Limits{Projects: 1}}))
			return err
		}, connect.CodePermissionDenied},
		{"SetUserLimits of himself", func(ctx context.Context) error {
			_, err := bob.Quota.SetUserLimits(ctx, connect.NewRequest(&fsav1.SetUserLimitsRequest{UserId: bob.ID, Limits: &fsav1.Limits{Projects: 100}}))
			return err
		}, connect.CodePermissionDenied},
		{"DeleteProject", func(ctx context.Context) error {
			_, err := bob.Project.DeleteProject(ctx, connect.NewRequest(&fsav1.DeleteProjectRequest{Id: id}))
			return err
		}, connect.CodeNotFound},
		{"ExplainProject", func(ctx context.Context) error {
			_, err := bob.Project.ExplainProject(ctx, connect.NewRequest(&fsav1.ExplainProjectRequest{Id: id}))
			return err
		}, connect.CodeNotFound},
		{"TerminalAccess", func(ctx context.Context) error {
			_, err := bob.Project.TerminalAccess(ctx, connect.NewRequest(&fsav1.TerminalAccessRequest{ProjectId: id}))
			return err
		}, connect.CodeNotFound},
		{"SetProjectLifecycle", func(ctx context.Context) error {
			_, err := bob.Project.SetProjectLifecycle(ctx, connect.NewRequest(&fsav1.SetProjectLifecycleRequest{Id: id,
				Policy: &fsav1.LifecyclePolicy{IdleTimeout: durationpb.New(time.Minute)}}))
			return err
		}, connect.CodeNotFound},
		{"ExtendProject", func(ctx context.Context) error {
			_, err := bob.Project.ExtendProject(ctx, connect.NewRequest(&fsav1.ExtendProjectRequest{Id: id, By: durationpb.New(time.Hour)}))
			return err
		}, connect.CodeNotFound},
		{"KeepAlive", func(ctx context.Context) error {
			_, err := bob.Project.KeepAlive(ctx, connect.NewRequest(&fsav1.KeepAliveRequest{Id: id}))
			return err
		}, connect.CodeNotFound},
		{"RotateTerminalToken", func(ctx context.Context) error {
			_, err := bob.Project.RotateTerminalToken(ctx, connect.NewRequest(&fsav1.RotateTerminalTokenRequest{ProjectId: id}))
			return err
		}, connect.CodeNotFound},
		{"SetPublicApp", func(ctx context.Context) error {
			_, err := bob.Project.SetPublicApp(ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: id, PublicApp: true}))
			return err
		}, connect.CodeNotFound},
		{"ListEnv", func(ctx context.Context) error {
			_, err := bob.Env.ListEnv(ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: id, RevealSecrets: true}))
			return err
		}, connect.CodeNotFound},
		{"SetEnv", func(ctx context.Context) error {
			_, err := bob.Env.SetEnv(ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: id, Key: "X", Value: "y"}))
			return err
		}, connect.CodeNotFound},
		{"SetEnv existing", func(ctx context.Context) error {
			_, err := bob.Env.SetEnv(ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: id, Key: "DB_PASSWORD", Value: "bob"}))
			return err
		}, connect.CodeNotFound},
		{"UpdateEnv", func(ctx context.Context) error {
			_, err := bob.Env.UpdateEnv(ctx, connect.NewRequest(&fsav1.UpdateEnvRequest{ProjectId: id, Key: "DB_PASSWORD", Secret: ptr(false)}))
			return err
		}, connect.CodeNotFound},
		{"DeleteEnv", func(ctx context.Context) error {
			_, err := bob.Env.DeleteEnv(ctx, connect.NewRequest(&fsav1.DeleteEnvRequest{ProjectId: id, Key: "DB_PASSWORD"}))
			return err
		}, connect.CodeNotFound},
		{"SetEnvBatch", func(ctx context.Context) error {
			_, err := bob.Env.SetEnvBatch(ctx, connect.NewRequest(&fsav1.SetEnvBatchRequest{ProjectId: id, Replace: true, Vars: []*fsav1.EnvVarSpec{{Key: "A", Value: "b"}}}))
			return err
		}, connect.CodeNotFound},
		{"Exec", func(ctx context.Context) error {
			return drainExec(bob.Sandbox.Exec(ctx, connect.NewRequest(&fsav1.ExecRequest{ProjectId: id, Command: []string{"id"}})))
		}, connect.CodeNotFound},
		{"ExecInteractive", func(ctx context.Context) error {
			st := bob.Sandbox.ExecInteractive(ctx)
			if err := st.Send(&fsav1.ExecInteractiveRequest{Event: &fsav1.ExecInteractiveRequest_Start{
				Start: &fsav1.ExecRequest{ProjectId: id, Command: []string{"id"}}}}); err != nil {
				return err
			}
			_ = st.CloseRequest()
			for {
				if _, err := st.Receive(); err != nil {
					return err
				}
			}
		}, connect.CodeNotFound},
		{"ReadFile", func(ctx context.Context) error {
			st, err := bob.Sandbox.ReadFile(ctx, connect.NewRequest(&fsav1.ReadFileRequest{ProjectId: id, Path: "/etc/hostname"}))
			if err != nil {
				return err
			}
			for st.Receive() {
			}
			return st.Err()
		}, connect.CodeNotFound},
		{"WriteFile", func(ctx context.Context) error {
			st := bob.Sandbox.WriteFile(ctx)
			_ = st.Send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Start{Start: &fsav1.WriteFileStart{ProjectId: id, Path: "x", Size: 1}}})
			_ = st.Send(&fsav1.WriteFileRequest{Event: &fsav1.WriteFileRequest_Data{Data: []byte("x")}})
			_, err := st.CloseAndReceive()
			return err
		}, connect.CodeNotFound},
		{"PutFile", func(ctx context.Context) error {
			_, err := bob.Sandbox.PutFile(ctx, connect.NewRequest(&fsav1.PutFileRequest{ProjectId: id, Path: "x", Content: []byte("x")}))
			return err
		}, connect.CodeNotFound},
		{"StatFile", func(ctx context.Context) error {
			_, err := bob.Sandbox.StatFile(ctx, connect.NewRequest(&fsav1.StatFileRequest{ProjectId: id, Path: "/"}))
			return err
		}, connect.CodeNotFound},
		{"ListDir", func(ctx context.Context) error {
			_, err := bob.Sandbox.ListDir(ctx, connect.NewRequest(&fsav1.ListDirRequest{ProjectId: id, Path: "/"}))
			return err
		}, connect.CodeNotFound},
		{"MakeDir", func(ctx context.Context) error {
			_, err := bob.Sandbox.MakeDir(ctx, connect.NewRequest(&fsav1.MakeDirRequest{ProjectId: id, Path: "d"}))
			return err
		}, connect.CodeNotFound},
		{"RemoveFile", func(ctx context.Context) error {
			_, err := bob.Sandbox.RemoveFile(ctx, connect.NewRequest(&fsav1.RemoveFileRequest{ProjectId: id, Path: "d", Recursive: true}))
			return err
		}, connect.CodeNotFound},
		{"StreamLogs", func(ctx context.Context) error {
			st, err := bob.Sandbox.StreamLogs(ctx, connect.NewRequest(&fsav1.StreamLogsRequest{ProjectId: id, Follow: true}))
			if err != nil {
				return err
			}
			for st.Receive() {
			}
			return st.Err()
		}, connect.CodeNotFound},
		{"PreviewAccess", func(ctx context.Context) error {
			_, err := bob.Sandbox.PreviewAccess(ctx, connect.NewRequest(&fsav1.PreviewAccessRequest{ProjectId: id}))
			return err
		}, connect.CodeNotFound},
		{"UnlinkIdentity", func(ctx context.Context) error {
			_, err := bob.Auth.UnlinkIdentity(ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_PASSWORD, ProviderUserId: "alice"}))
			return err
		}, connect.CodeNotFound},
		{"LinkIdentity", func(ctx context.Context) error {
			_, err := bob.Auth.LinkIdentity(ctx, connect.NewRequest(linkPassword("alice", "bobs-long-password")))
			return err
		}, connect.CodeAlreadyExists},
		{"ListRetainedData", func(ctx context.Context) error {
			_, err := bob.Cluster.ListRetainedData(ctx, connect.NewRequest(&fsav1.ListRetainedDataRequest{}))
			return err
		}, connect.CodePermissionDenied},
		{"PurgeRetainedData", func(ctx context.Context) error {
			_, err := bob.Cluster.PurgeRetainedData(ctx, connect.NewRequest(&fsav1.PurgeRetainedDataRequest{Id: kept}))
			return err
		}, connect.CodePermissionDenied},
		{"GetClusterStatus", func(ctx context.Context) error {
			_, err := bob.Cluster.GetClusterStatus(ctx, connect.NewRequest(&fsav1.GetClusterStatusRequest{}))
			return err
		}, connect.CodePermissionDenied},
		{"JoinNode", func(ctx context.Context) error {
			_, err := bob.Cluster.JoinNode(ctx, connect.NewRequest(&fsav1.JoinNodeRequest{Id: "n9", RaftAddress: "127.0.0.1:9"}))
			return err
		}, connect.CodePermissionDenied},
		{"RemoveNode", func(ctx context.Context) error {
			_, err := bob.Cluster.RemoveNode(ctx, connect.NewRequest(&fsav1.RemoveNodeRequest{Id: "single"}))
			return err
		}, connect.CodePermissionDenied},
		{"TransferLeadership", func(ctx context.Context) error {
			_, err := bob.Cluster.TransferLeadership(ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{}))
			return err
		}, connect.CodePermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			requireCode(t, tc.call(ctx), tc.want)
			assert.Equal(t, before, e.revision(), "the call changed the store")
		})
	}

	// Calls scoped to the caller by construction show bob nothing of alice's.
	t.Run("self-scoped reads", func(t *testing.T) {
		list, err := bob.Project.ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
		require.NoError(t, err)
		require.Len(t, list.Msg.Projects, 1)
		assert.Equal(t, "bravo", list.Msg.Projects[0].Name)
		cfg, err := bob.Config.ListConfig(ctx, connect.NewRequest(&fsav1.ListConfigRequest{RevealSecrets: true}))
		require.NoError(t, err)
		for _, c := range cfg.Msg.Entries {
			assert.NotContains(t, c.Value, "ns-alice")
		}
		ids, err := bob.Auth.ListIdentities(ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
		require.NoError(t, err)
		require.Len(t, ids.Msg.Identities, 1)
		assert.Equal(t, "bob", ids.Msg.Identities[0].ProviderUserId)
		q, err := bob.Quota.GetQuota(ctx, connect.NewRequest(&fsav1.GetQuotaRequest{}))
		require.NoError(t, err)
		assert.EqualValues(t, 1, q.Msg.Quota.Usage.Projects, "bob's own project only")
		kc, err := bob.Config.GetKubeconfig(ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{Reveal: true}))
		require.NoError(t, err)
		assert.Equal(t, "ns-bob", kc.Msg.Namespace)
	})

	// SetGitHubToken names no user: bob's call sets bob's token, alice's stays.
	t.Run("SetGitHubToken", func(t *testing.T) {
		_, err := bob.Config.SetGitHubToken(ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: "ghp_bob"}))
		require.NoError(t, err)
		_, err = bob.Config.SetGitHubToken(ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{}))
		require.NoError(t, err)
		cfg, err := alice.Config.ListConfig(ctx, connect.NewRequest(&fsav1.ListConfigRequest{RevealSecrets: true}))
		require.NoError(t, err)
		var token string
		for _, c := range cfg.Msg.Entries {
			if c.Key == "github.token" {
				token = c.Value
			}
		}
		assert.Equal(t, "ghp_alice", token)
	})

	// SetLifecycleDefaults names no user: bob's call sets bob's defaults; alice's stay, and
	// GetLifecycleDefaults shows bob his own.
	t.Run("SetLifecycleDefaults", func(t *testing.T) {
		_, err := alice.Config.SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: ptr("45m")}))
		require.NoError(t, err)
		set, err := bob.Config.SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: ptr("5m"), DeleteStoppedAfter: ptr("1h")}))
		require.NoError(t, err)
		assert.Equal(t, 5*time.Minute, set.Msg.Defaults.IdleTimeout.AsDuration())
		a, err := alice.Config.GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
		require.NoError(t, err)
		assert.Equal(t, 45*time.Minute, a.Msg.Defaults.IdleTimeout.AsDuration())
		assert.False(t, a.Msg.Defaults.DeleteStoppedAfterSet)
		_, err = bob.Config.SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: ptr(""), DeleteStoppedAfter: ptr("")}))
		require.NoError(t, err)
		b, err := bob.Config.GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
		require.NoError(t, err)
		assert.False(t, b.Msg.Defaults.IdleTimeoutSet, "bob's own removed")
		a, err = alice.Config.GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
		require.NoError(t, err)
		assert.True(t, a.Msg.Defaults.IdleTimeoutSet, "alice's untouched by bob's removal")
		assert.Equal(t, 45*time.Minute, a.Msg.Defaults.IdleTimeout.AsDuration())
	})

	// Alice's project and secret are as she left them.
	got, err := alice.Env.ListEnv(ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: id, RevealSecrets: true}))
	require.NoError(t, err)
	var found bool
	for _, v := range got.Msg.Vars {
		if v.Key == "DB_PASSWORD" {
			found = true
			assert.Equal(t, "alice-secret-value", v.Value)
			assert.True(t, v.Secret)
		}
	}
	assert.True(t, found)
	gp, err := alice.Project.GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: id}))
	require.NoError(t, err)
	assert.Equal(t, fsav1.Status_STATUS_RUNNING, gp.Msg.Project.Status)
}
