package api_test

import (
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/aiproxystandin"
)

// TestLogsCarryNoSecrets runs a full session, failures included, and checks that no secret
// value reaches the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	gh := newFakeGitHub(t)
	hub := aiproxystandin.New()
	ai := httptest.NewServer(hub)
	t.Cleanup(ai.Close)
	e := newEnv(t, withGitHub(gh.srv.URL), withSealos(ai.URL))
	alice := e.signUp("alice")
	secrets := []string{alice.Password, alice.Token, testKubeconfigToken, ghAccessToken, ghClientSecret, sealosSecret,
		base64.RawURLEncoding.EncodeToString(e.key.Secret)}

	p := e.project(alice, "logged")
	e.run(alice.ID, p.Id)
	const envSecret = "env-SECRET-value-91"
	_, err := alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "STRIPE_KEY", Value: envSecret, Secret: true}))
	require.NoError(t, err)
	_, err = alice.Env.UpdateEnv(e.ctx, connect.NewRequest(&fsav1.UpdateEnvRequest{ProjectId: p.Id, Key: "STRIPE_KEY", Value: ptr(envSecret + "2")}))
	require.NoError(t, err)
	_, err = alice.Env.ListEnv(e.ctx, connect.NewRequest(&fsav1.ListEnvRequest{ProjectId: p.Id, RevealSecrets: true}))
	require.NoError(t, err)
	const anthropicKey = "sk-ant-LOGTEST-55"
	_, err = alice.Config.SetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.SetAnthropicSettingsRequest{ApiKey: ptr(anthropicKey)}))
	require.NoError(t, err)
	_, err = alice.Config.GetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.GetAnthropicSettingsRequest{RevealSecrets: true}))
	require.NoError(t, err)
	_, err = alice.Config.GetKubeconfig(e.ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{Reveal: true}))
	require.NoError(t, err)
	const githubToken = "ghp_LOGTEST_31"
	_, err = alice.Config.SetGitHubToken(e.ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: githubToken}))
	require.NoError(t, err)
	_, err = alice.Config.SetGitHubToken(e.ctx, connect.NewRequest(&fsav1.SetGitHubTokenRequest{Token: githubToken + " bad"}))
	requireCode(t, err, connect.CodeInvalidArgument)
	_, err = alice.Config.ListConfig(e.ctx, connect.NewRequest(&fsav1.ListConfigRequest{RevealSecrets: true}))
	require.NoError(t, err)
	ta, err := alice.Project.TerminalAccess(e.ctx, connect.NewRequest(&fsav1.TerminalAccessRequest{ProjectId: p.Id}))
	require.NoError(t, err)
	u, err := url.Parse(ta.Msg.Url)
	require.NoError(t, err)
	ticket := u.Query().Get("arg")
	require.NotEmpty(t, ticket)
	rt, err := e.c.RuntimeEnv(e.ctx, p.Id)
	require.NoError(t, err)
	for _, v := range rt {
		if v.Key == fsa.EnvTTYDAccessToken {
			secrets = append(secrets, v.Value)
		}
	}
	secrets = append(secrets, envSecret, anthropicKey, githubToken, ticket)

	// Failures on the way: a wrong password, a bad kubeconfig containing a token, a bad token.
	_, err = e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: "wrong-" + alice.Password}))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: "token: " + testKubeconfigToken + "\n: ["}))
	requireCode(t, err, connect.CodeInvalidArgument)
	_, err = e.clients(alice.Token+"x").Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)

	// Other sign-in methods.
	_, err = e.clients("").Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	require.NoError(t, err)
	sealTok := sealosToken(t, sealosSecret, sealosClaims())
	_, err = e.clients("").Auth.SealosLogin(e.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: sealTok, Kubeconfig: kubeconfig("s")}))
	require.NoError(t, err)
	issued, ok := hub.Lookup("s", aiproxyToken)
	require.True(t, ok)
	secrets = append(secrets, sealTok, issued.Key)
	_, err = alice.Auth.Logout(e.ctx, connect.NewRequest(&fsav1.LogoutRequest{}))
	require.NoError(t, err)

	logs := e.logs.String()
	require.Contains(t, logs, "procedure=/fsa.v1.EnvironmentService/SetEnv", "the test saw no request logs")
	require.Contains(t, logs, "code=unauthenticated")
	for _, s := range secrets {
		require.NotEmpty(t, s)
		assert.False(t, strings.Contains(logs, s), "secret %q… appears in the logs", s[:min(6, len(s))])
	}
}
