package daemon_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

const nowhereKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: ns-nowhere}
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-real-token}
`

// TestGoClientLifecycleDefaults: with the Go client against three fsad processes (fsad's
// default idle limit 1h), a user sets their own default idle limit and auto-delete, reads
// them back through any node, and their new projects get them; a bad value is InvalidArgument
// and changes nothing; an empty value goes back to fsad's default.
func TestGoClientLifecycleDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: fsadBin(t), Dir: t.TempDir(), Args: []string{"--idle-timeout=1h"},
		Env: []string{"FSA_SIGNING_KEY=" + key.Encode()}}) // one key for every node: a session is good on any
	require.NoError(t, err)
	closeOnCleanup(t, c)
	var endpoints []string
	for _, n := range c.Nodes {
		endpoints = append(endpoints, n.URL())
	}
	cl, err := fsaclient.New(endpoints)
	require.NoError(t, err)
	res, err := cl.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "alice", Password: "password-alice"}))
	require.NoError(t, err)
	cl.SetToken(res.Msg.GetSession().GetToken())
	_, err = cl.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: nowhereKubeconfig}))
	require.NoError(t, err)

	got, err := cl.UserConfig().GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
	require.NoError(t, err)
	d := got.Msg.GetDefaults()
	assert.Equal(t, time.Hour, d.GetIdleTimeout().AsDuration())
	assert.Equal(t, time.Hour, d.GetServerIdleTimeout().AsDuration())
	assert.False(t, d.GetIdleTimeoutSet())
	assert.Zero(t, d.GetDeleteStoppedAfter().AsDuration())

	idle, del := "25m", "96h"
	set, err := cl.UserConfig().SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: &idle, DeleteStoppedAfter: &del}))
	require.NoError(t, err)
	assert.Equal(t, 25*time.Minute, set.Msg.GetDefaults().GetIdleTimeout().AsDuration())
	assert.True(t, set.Msg.GetDefaults().GetIdleTimeoutSet())
	assert.Equal(t, 96*time.Hour, set.Msg.GetDefaults().GetDeleteStoppedAfter().AsDuration())

	// Every node reads the same (a follower forwards or reads the applied state).
	for _, n := range c.Nodes {
		one, err := fsaclient.New([]string{n.URL()}, fsaclient.WithToken(res.Msg.GetSession().GetToken()))
		require.NoError(t, err)
		require.NoError(t, fsadtest.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
			g, err := one.UserConfig().GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
			if err != nil {
				return false, err
			}
			return g.Msg.GetDefaults().GetIdleTimeout().AsDuration() == 25*time.Minute, nil
		}), "node %s", n.ID)
	}

	p, err := cl.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "chain"}))
	require.NoError(t, err)
	assert.Equal(t, 25*time.Minute, p.Msg.GetProject().GetLifecycle().GetIdleTimeout().AsDuration())
	assert.Equal(t, 96*time.Hour, p.Msg.GetProject().GetLifecycle().GetDeleteStoppedAfter().AsDuration())

	for _, v := range []string{"-1m", "tomorrow", "2161h"} {
		v := v
		_, err := cl.UserConfig().SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: &v}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%q: %v", v, err)
	}
	got, err = cl.UserConfig().GetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
	require.NoError(t, err)
	assert.Equal(t, 25*time.Minute, got.Msg.GetDefaults().GetIdleTimeout().AsDuration(), "unchanged by the refused calls")

	empty := ""
	set, err = cl.UserConfig().SetLifecycleDefaults(ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: &empty}))
	require.NoError(t, err)
	assert.False(t, set.Msg.GetDefaults().GetIdleTimeoutSet())
	assert.Equal(t, time.Hour, set.Msg.GetDefaults().GetIdleTimeout().AsDuration())
	p, err = cl.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "fsad default"}))
	require.NoError(t, err)
	assert.Equal(t, time.Hour, p.Msg.GetProject().GetLifecycle().GetIdleTimeout().AsDuration())
}
