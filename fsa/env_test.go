package fsa_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

func ptr[T any](v T) *T { return &v }

func keys(vs []*fsa.EnvVar) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Key)
	}
	return out
}

func TestEnv(t *testing.T) {
	e := newEnv(t)
	p := e.project("envs")
	u := e.alice.ID

	_, err := e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: "PORT", Value: "3000"})
	require.NoError(t, err)
	_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: "STRIPE_KEY", Value: "sk_live_x", Category: "payment", Secret: true})
	require.NoError(t, err)

	vs, err := e.c.ListEnv(e.ctx, u, p.ID, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"PORT", "STRIPE_KEY", fsa.EnvTTYDAccessToken}, keys(vs))
	assert.Equal(t, "3000", vs[0].Value)
	assert.Equal(t, fsa.CategoryGeneral, vs[0].Category)
	assert.Empty(t, vs[1].Value, "secret withheld without reveal")
	assert.True(t, vs[1].Redacted)
	vs, err = e.c.ListEnv(e.ctx, u, p.ID, true)
	require.NoError(t, err)
	assert.Equal(t, "sk_live_x", vs[1].Value, "the owner may reveal")

	v, err := e.c.UpdateEnv(e.ctx, u, p.ID, fsa.EnvUpdate{Key: "PORT", Value: ptr("8080")})
	require.NoError(t, err)
	assert.Equal(t, "8080", v.Value)
	// Only the fields given change: here the secret flag; value and category stay.
	v, err = e.c.UpdateEnv(e.ctx, u, p.ID, fsa.EnvUpdate{Key: "STRIPE_KEY", Secret: ptr(false)})
	require.NoError(t, err)
	assert.Equal(t, fsa.EnvVar{ProjectID: p.ID, UserID: u, Key: "STRIPE_KEY", Value: "sk_live_x", Category: "payment"},
		fsa.EnvVar{ProjectID: v.ProjectID, UserID: v.UserID, Key: v.Key, Value: v.Value, Category: v.Category, Secret: v.Secret})
	v, err = e.c.UpdateEnv(e.ctx, u, p.ID, fsa.EnvUpdate{Key: "STRIPE_KEY", Category: ptr("billing"), Secret: ptr(true)})
	require.NoError(t, err)
	assert.Equal(t, []any{"sk_live_x", "billing", true}, []any{v.Value, v.Category, v.Secret})
	_, err = e.c.UpdateEnv(e.ctx, u, p.ID, fsa.EnvUpdate{Key: "MISSING", Value: ptr("x")})
	require.ErrorIs(t, err, fsa.ErrNotFound)

	require.NoError(t, e.c.DeleteEnv(e.ctx, u, p.ID, "PORT"))
	require.ErrorIs(t, e.c.DeleteEnv(e.ctx, u, p.ID, "PORT"), fsa.ErrNotFound)

	// Batch by category, replacing the category's other keys but nobody else's.
	_, err = e.c.SetEnvBatch(e.ctx, u, p.ID, "auth", []fsa.EnvSpec{{Key: "A1", Value: "1"}, {Key: "A2", Value: "2"}}, false)
	require.NoError(t, err)
	_, err = e.c.SetEnvBatch(e.ctx, u, p.ID, "auth", []fsa.EnvSpec{{Key: "A2", Value: "two"}, {Key: "A3", Value: "3"}}, true)
	require.NoError(t, err)
	vs, err = e.c.ListEnv(e.ctx, u, p.ID, true)
	require.NoError(t, err)
	assert.Equal(t, []string{"A2", "A3", "STRIPE_KEY", fsa.EnvTTYDAccessToken}, keys(vs))
	assert.Equal(t, "two", vs[0].Value)
	assert.Equal(t, "auth", vs[0].Category)

	// (The platform's keys cannot be set or deleted: daemon/api's TestBadInput.)
	rt, err := e.c.RuntimeEnv(e.ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, rt, 4)
	assert.NotEmpty(t, rt[3].Value, "the token is intact")
}

func TestUserConfigAndIdentities(t *testing.T) {
	e := newEnv(t)
	u, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "carol", Identity: &fsa.IdentitySpec{
		Provider: fsa.ProviderPassword, ProviderUserID: "carol", Secret: "$hash$"}})
	require.NoError(t, err)
	before := e.revision()
	_, err = e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "carol again", Identity: &fsa.IdentitySpec{
		Provider: fsa.ProviderPassword, ProviderUserID: "carol"}})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists)
	require.Equal(t, before, e.revision(), "no orphan user")

	id, err := e.c.LookupIdentity(e.ctx, fsa.ProviderPassword, "carol")
	require.NoError(t, err)
	assert.Equal(t, u.ID, id.UserID)
	assert.Equal(t, "$hash$", id.Secret)
	_, err = e.c.LinkIdentity(e.ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: "12345"})
	require.NoError(t, err)
	_, err = e.c.LinkIdentity(e.ctx, e.bob.ID, fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: "12345"})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists, "unique per provider and provider user id")
	_, err = e.c.LookupIdentity(e.ctx, fsa.ProviderSealos, "12345")
	require.ErrorIs(t, err, fsa.ErrNotFound)

	_, err = e.c.SetUserConfig(e.ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: "apiVersion: v1", Category: fsa.CategoryKubeconfig, Secret: true})
	require.NoError(t, err)
	_, err = e.c.SetUserConfig(e.ctx, u.ID, fsa.UserConfig{Key: fsa.ConfigAnthropicBaseURL, Value: "https://api.example", Category: fsa.CategoryAnthropic})
	require.NoError(t, err)
	cfg, err := e.c.GetUserConfig(e.ctx, u.ID, fsa.ConfigKubeconfig, false)
	require.NoError(t, err)
	assert.Empty(t, cfg.Value)
	assert.True(t, cfg.Redacted)
	cfg, err = e.c.GetUserConfig(e.ctx, u.ID, fsa.ConfigKubeconfig, true)
	require.NoError(t, err)
	assert.Equal(t, "apiVersion: v1", cfg.Value)
	all, err := e.c.ListUserConfig(e.ctx, u.ID, false)
	require.NoError(t, err)
	require.Len(t, all, 2)
	_, err = e.c.GetUserConfig(e.ctx, e.bob.ID, fsa.ConfigAnthropicBaseURL, true)
	require.ErrorIs(t, err, fsa.ErrNotFound, "another user's config is not visible")
	require.NoError(t, e.c.DeleteUserConfig(e.ctx, u.ID, fsa.ConfigKubeconfig))
	_, err = e.c.GetUserConfig(e.ctx, u.ID, fsa.ConfigKubeconfig, true)
	require.ErrorIs(t, err, fsa.ErrNotFound)
}

// UpdateUserConfig validates every setting before it writes any, and writes them in one
// transaction.
func TestUpdateUserConfigAllOrNothing(t *testing.T) {
	e := newEnv(t)
	u := e.alice.ID
	model := fsa.UserConfig{Key: fsa.ConfigAnthropicModel, Value: "claude-x", Category: fsa.CategoryAnthropic}
	before := e.revision()
	for _, bad := range []fsa.UserConfig{
		{Key: fsa.ConfigAnthropicBaseURL, Value: "ftp://example.com"},
		{Key: fsa.ConfigAnthropicBaseURL, Value: ""},
		{Key: "not a key", Value: "x"},
		{Key: fsa.ConfigAnthropicSmallModel, Value: strings.Repeat("v", fsa.MaxConfigValueLen+1)},
		model, // twice
	} {
		_, err := e.c.UpdateUserConfig(e.ctx, u, []fsa.UserConfig{model, bad}, nil)
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, bad.Key)
	}
	require.Equal(t, before, e.revision(), "nothing stored")

	url := fsa.UserConfig{Key: fsa.ConfigAnthropicBaseURL, Value: "https://api.example", Category: fsa.CategoryAnthropic}
	out, err := e.c.UpdateUserConfig(e.ctx, u, []fsa.UserConfig{model, url}, nil)
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, before+1, e.revision(), "one transaction")
	_, err = e.c.UpdateUserConfig(e.ctx, u, []fsa.UserConfig{{Key: fsa.ConfigAnthropicModel, Value: "claude-y"}}, []string{fsa.ConfigAnthropicBaseURL, "NEVER_SET"})
	require.NoError(t, err)
	all, err := e.c.ListUserConfig(e.ctx, u, false)
	require.NoError(t, err)
	got := map[string]string{}
	for _, c := range all {
		got[c.Key] = c.Value
	}
	assert.Equal(t, map[string]string{fsa.ConfigKubeconfig: "", fsa.ConfigAnthropicModel: "claude-y"}, got, "the kubeconfig is secret")
	_, err = e.c.UpdateUserConfig(e.ctx, "nosuchuser", nil, []string{fsa.ConfigAnthropicModel})
	require.ErrorIs(t, err, fsa.ErrNotFound)
}

// A GitHub token granted by the user is kept as a secret whatever the caller says, and must
// look like a token; the terminal start setting takes one of its two values.
func TestGitHubTokenAndTerminalStart(t *testing.T) {
	e := newEnv(t)
	u := e.alice.ID
	before := e.revision()
	for _, bad := range []string{"", "ghp with space", "ghp\ttab", "ghp\x7f"} {
		_, err := e.c.SetUserConfig(e.ctx, u, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: bad})
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, "%q", bad)
	}
	require.Equal(t, before, e.revision(), "nothing stored")
	cfg, err := e.c.SetUserConfig(e.ctx, u, fsa.UserConfig{Key: fsa.ConfigGitHubToken, Value: "ghp_abc123"})
	require.NoError(t, err)
	assert.True(t, cfg.Secret, "a credential is always secret")
	got, err := e.c.GetUserConfig(e.ctx, u, fsa.ConfigGitHubToken, false)
	require.NoError(t, err)
	assert.True(t, got.Redacted)
	assert.Empty(t, got.Value)

	p := e.project("term")
	for _, v := range []string{fsa.TerminalStartShell, fsa.TerminalStartClaude} {
		_, err := e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: fsa.EnvTerminalStart, Value: v})
		require.NoError(t, err, v)
	}
	_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: fsa.EnvTerminalStart, Value: "zsh"})
	require.ErrorIs(t, err, fsa.ErrInvalidArgument)
	for _, k := range []string{fsa.EnvProjectName, fsa.EnvGitHubToken} {
		_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: k, Value: "x"})
		require.ErrorIs(t, err, fsa.ErrInvalidArgument, "%s is the platform's", k)
	}
}

// TestEnvCountLimit: a project holds at most MaxEnvVars variables of its own (the platform's
// terminal token besides). Replacing or changing existing variables at the limit is allowed;
// adding one more is refused with nothing stored.
func TestEnvCountLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st)
		p := e.project("full")
		u := e.alice.ID
		batch := func(prefix string, n int) []fsa.EnvSpec {
			out := make([]fsa.EnvSpec, n)
			for i := range out {
				out[i] = fsa.EnvSpec{Key: fmt.Sprintf("%s%03d", prefix, i), Value: "v", Secret: i%2 == 0}
			}
			return out
		}
		_, err := e.c.SetEnvBatch(e.ctx, u, p.ID, "a", batch("A", fsa.MaxEnvVars-1), false)
		require.NoError(t, err)
		_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: "LAST", Value: "v"})
		require.NoError(t, err, "the limit is reached, not passed")

		_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: "ONE_MORE", Value: "v", Secret: true})
		require.ErrorIs(t, err, fsa.ErrFailedPrecondition)
		_, err = e.c.SetEnvBatch(e.ctx, u, p.ID, "b", batch("B", 1), false)
		require.ErrorIs(t, err, fsa.ErrFailedPrecondition)

		// At the limit, existing variables still change, and a replace may swap them.
		_, err = e.c.SetEnv(e.ctx, u, p.ID, fsa.EnvSpec{Key: "A000", Value: "changed", Category: "a", Secret: true})
		require.NoError(t, err)
		_, err = e.c.UpdateEnv(e.ctx, u, p.ID, fsa.EnvUpdate{Key: "LAST", Value: ptr("changed too")})
		require.NoError(t, err)
		_, err = e.c.SetEnvBatch(e.ctx, u, p.ID, "a", batch("C", fsa.MaxEnvVars-1), true)
		require.NoError(t, err, "the category's %d variables are replaced by as many", fsa.MaxEnvVars-1)

		vs, err := e.c.ListEnv(e.ctx, u, p.ID, true)
		require.NoError(t, err)
		require.Len(t, vs, fsa.MaxEnvVars+1, "the terminal token besides")
		assert.NotContains(t, keys(vs), "ONE_MORE")
		assert.NotContains(t, keys(vs), "B000")
		assert.NotContains(t, keys(vs), "A000", "replaced")
		assert.Contains(t, keys(vs), "C000")
		byKey := map[string]string{}
		for _, v := range vs {
			byKey[v.Key] = v.Value
		}
		assert.Equal(t, "changed too", byKey["LAST"])
	})
}
