package api_test

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
)

func TestEnvironment(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	p := e.project(alice, "envs")
	set, err := alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "API_SECRET", Value: "s3cr3t-value", Secret: true, Category: "app"}))
	require.NoError(t, err)
	assert.Empty(t, set.Msg.EnvVar.Value, "a secret is echoed back")
	assert.True(t, set.Msg.EnvVar.Redacted)
	_, err = alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "MODE", Value: "dev"}))
	require.NoError(t, err)

	list := func(reveal bool) map[string]*fsav1.EnvVar {
		resp, err := alice.Env.ListEnv(e.ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: p.Id, RevealSecrets: reveal}))
		require.NoError(t, err)
		out := map[string]*fsav1.EnvVar{}
		for _, v := range resp.Msg.Vars {
			out[v.Key] = v
		}
		return out
	}
	hidden := list(false)
	assert.Empty(t, hidden["API_SECRET"].Value)
	assert.True(t, hidden["API_SECRET"].Redacted)
	assert.Equal(t, "dev", hidden["MODE"].Value)
	assert.Equal(t, "s3cr3t-value", list(true)["API_SECRET"].Value)

	// UpdateEnv changes only the fields sent: the secret flag, keeping the value.
	_, err = alice.Env.UpdateEnv(e.ctx, connect.NewRequest(&fsav1.UpdateEnvRequest{ProjectId: p.Id, Key: "API_SECRET", Secret: ptr(false)}))
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t-value", list(false)["API_SECRET"].Value)
	assert.Equal(t, "app", list(false)["API_SECRET"].Category)

	// (Bad keys, values, categories and batches: TestBadInput.)
	batch, err := alice.Env.SetEnvBatch(e.ctx, connect.NewRequest(&fsav1.SetEnvBatchRequest{ProjectId: p.Id, Category: "app", Replace: true,
		Vars: []*fsav1.EnvVarSpec{{Key: "A", Value: "1"}, {Key: "B", Value: "hidden-b", Secret: true}}}))
	require.NoError(t, err)
	keys := []string{}
	for _, v := range batch.Msg.Vars {
		keys = append(keys, v.Key)
		if v.Key == "B" {
			assert.Empty(t, v.Value)
		}
	}
	assert.Equal(t, []string{"A", "B", "MODE", "TTYD_ACCESS_TOKEN"}, keys, "API_SECRET (category app) was replaced")
	_, err = alice.Env.DeleteEnv(e.ctx, connect.NewRequest(&fsav1.DeleteEnvRequest{ProjectId: p.Id, Key: "MODE"}))
	require.NoError(t, err)
	_, err = alice.Env.DeleteEnv(e.ctx, connect.NewRequest(&fsav1.DeleteEnvRequest{ProjectId: p.Id, Key: "MODE"}))
	requireCode(t, err, connect.CodeNotFound)
}

func TestUserConfig(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	kc, err := alice.Config.GetKubeconfig(e.ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{Reveal: true}))
	require.NoError(t, err)
	assert.False(t, kc.Msg.Configured)

	set, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-a")}))
	require.NoError(t, err)
	assert.Equal(t, "dev-ctx", set.Msg.Context)
	assert.Equal(t, "ns-a", set.Msg.Namespace)
	assert.Equal(t, "https://127.0.0.1:6443", set.Msg.Server)

	kc, err = alice.Config.GetKubeconfig(e.ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{}))
	require.NoError(t, err)
	assert.True(t, kc.Msg.Configured)
	assert.True(t, kc.Msg.Redacted)
	assert.Empty(t, kc.Msg.Kubeconfig)
	assert.Equal(t, "ns-a", kc.Msg.Namespace)
	kc, err = alice.Config.GetKubeconfig(e.ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{Reveal: true}))
	require.NoError(t, err)
	assert.Equal(t, kubeconfig("ns-a"), kc.Msg.Kubeconfig)

	for _, bad := range []string{"", "not: [yaml", "apiVersion: v1\nkind: Config\n", strings.Replace(kubeconfig("x"), "current-context: dev-ctx", "", 1)} {
		before := e.revision()
		_, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: bad}))
		requireCode(t, err, connect.CodeInvalidArgument)
		assert.NotContains(t, err.Error(), testKubeconfigToken)
		assert.Equal(t, before, e.revision())
	}

	st, err := alice.Config.SetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.SetAnthropicSettingsRequest{ApiKey: ptr("sk-ant-SECRET"), Model: ptr("claude-x")}))
	require.NoError(t, err)
	assert.True(t, st.Msg.Settings.ApiKeySet)
	assert.Empty(t, st.Msg.Settings.ApiKey)
	assert.Equal(t, "claude-x", st.Msg.Settings.Model)
	got, err := alice.Config.GetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.GetAnthropicSettingsRequest{RevealSecrets: true}))
	require.NoError(t, err)
	assert.Equal(t, "sk-ant-SECRET", got.Msg.Settings.ApiKey)
	// An empty value clears a setting; absent fields stay.
	st, err = alice.Config.SetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.SetAnthropicSettingsRequest{Model: ptr("")}))
	require.NoError(t, err)
	assert.Empty(t, st.Msg.Settings.Model)
	assert.True(t, st.Msg.Settings.ApiKeySet)

	list, err := alice.Config.ListConfig(e.ctx, connect.NewRequest(&fsav1.ListConfigRequest{}))
	require.NoError(t, err)
	byKey := map[string]*fsav1.ConfigEntry{}
	for _, c := range list.Msg.Entries {
		byKey[c.Key] = c
	}
	require.Contains(t, byKey, "kubeconfig")
	require.Contains(t, byKey, "anthropic.api_key")
	assert.Equal(t, "kubernetes", byKey["kubeconfig"].Category)
	for _, c := range list.Msg.Entries {
		assert.Empty(t, c.Value, c.Key)
		assert.True(t, c.Redacted, c.Key)
	}
}

// SetGitHubToken keeps the caller's GitHub token as a secret: never in a response unless
// revealed by ListConfig, removed by an empty token.
func TestGitHubToken(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	res, err := alice.Config.SetGitHubToken(e.ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: "ghp_SECRET123"}))
	require.NoError(t, err)
	assert.True(t, res.Msg.Configured)
	entry := func(reveal bool) *fsav1.ConfigEntry {
		list, err := alice.Config.ListConfig(e.ctx, connect.NewRequest(&fsav1.ListConfigRequest{RevealSecrets: reveal}))
		require.NoError(t, err)
		for _, c := range list.Msg.Entries {
			if c.Key == "github.token" {
				return c
			}
		}
		return nil
	}
	hidden := entry(false)
	require.NotNil(t, hidden)
	assert.True(t, hidden.Secret)
	assert.True(t, hidden.Redacted)
	assert.Empty(t, hidden.Value)
	assert.Equal(t, "github", hidden.Category)
	assert.Equal(t, "ghp_SECRET123", entry(true).Value)

	res, err = alice.Config.SetGitHubToken(e.ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{}))
	require.NoError(t, err)
	assert.False(t, res.Msg.Configured)
	assert.Nil(t, entry(true), "removed")
}

// TestLifecycleDefaults: a user reads and sets their own default idle limit and auto-delete;
// fsad's defaults show where the user has none; new projects get them; an empty value goes
// back to fsad's; a bad value is InvalidArgument with nothing stored.
func TestLifecycleDefaults(t *testing.T) {
	e := newEnvWith(t, fsa.WithLifecycleDefaults(fsa.LifecycleDefaults{IdleTimeout: time.Hour, DeleteStoppedAfter: 72 * time.Hour}))
	alice := e.signUp("alice")
	got, err := alice.Config.GetLifecycleDefaults(e.ctx, connect.NewRequest(&fsav1.GetLifecycleDefaultsRequest{}))
	require.NoError(t, err)
	d := got.Msg.Defaults
	assert.Equal(t, time.Hour, d.IdleTimeout.AsDuration())
	assert.Equal(t, 72*time.Hour, d.DeleteStoppedAfter.AsDuration())
	assert.False(t, d.IdleTimeoutSet)
	assert.False(t, d.DeleteStoppedAfterSet)
	assert.Equal(t, time.Hour, d.ServerIdleTimeout.AsDuration())
	assert.Equal(t, 72*time.Hour, d.ServerDeleteStoppedAfter.AsDuration())

	set, err := alice.Config.SetLifecycleDefaults(e.ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: ptr("20m"), DeleteStoppedAfter: ptr("0")}))
	require.NoError(t, err)
	d = set.Msg.Defaults
	assert.Equal(t, 20*time.Minute, d.IdleTimeout.AsDuration())
	assert.True(t, d.IdleTimeoutSet)
	assert.Zero(t, d.DeleteStoppedAfter.AsDuration())
	assert.True(t, d.DeleteStoppedAfterSet)
	assert.Equal(t, time.Hour, d.ServerIdleTimeout.AsDuration())
	p := e.project(alice, "chain")
	assert.Equal(t, 20*time.Minute, p.Lifecycle.IdleTimeout.AsDuration(), "the user's default")
	assert.Zero(t, p.Lifecycle.DeleteStoppedAfter.AsDuration())
	cfg, err := alice.Config.ListConfig(e.ctx, connect.NewRequest(&fsav1.ListConfigRequest{}))
	require.NoError(t, err)
	entries := map[string]*fsav1.ConfigEntry{}
	for _, c := range cfg.Msg.Entries {
		entries[c.Key] = c
	}
	require.Contains(t, entries, "lifecycle.idle_timeout")
	assert.Equal(t, "20m", entries["lifecycle.idle_timeout"].Value)
	assert.Equal(t, "lifecycle", entries["lifecycle.idle_timeout"].Category)
	assert.Equal(t, "0", entries["lifecycle.delete_stopped_after"].Value)

	// Bad values: nothing stored, both settings as they were.
	before := e.revision()
	for _, req := range []*fsav1.SetLifecycleDefaultsRequest{
		{IdleTimeout: ptr("-1m")},
		{IdleTimeout: ptr("soon")},
		{IdleTimeout: ptr("2161h")},
		{IdleTimeout: ptr("1h"), DeleteStoppedAfter: ptr("forever")},
	} {
		_, err := alice.Config.SetLifecycleDefaults(e.ctx, connect.NewRequest(req))
		requireCode(t, err, connect.CodeInvalidArgument)
	}
	require.Equal(t, before, e.revision())

	// An empty value removes the setting: fsad's default applies again; an absent one stays.
	set, err = alice.Config.SetLifecycleDefaults(e.ctx, connect.NewRequest(&fsav1.SetLifecycleDefaultsRequest{IdleTimeout: ptr("")}))
	require.NoError(t, err)
	d = set.Msg.Defaults
	assert.False(t, d.IdleTimeoutSet)
	assert.Equal(t, time.Hour, d.IdleTimeout.AsDuration())
	assert.True(t, d.DeleteStoppedAfterSet)
	p = e.project(alice, "fsad default")
	assert.Equal(t, time.Hour, p.Lifecycle.IdleTimeout.AsDuration())
}
