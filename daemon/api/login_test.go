package api_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/aiproxystandin"
	"github.com/fullstackagent/fsa/store/memstore"
)

// fakeGitHub stands in for GitHub's OAuth token endpoint and user API.
type fakeGitHub struct {
	srv      *httptest.Server
	tokenReq atomic.Int32
}

const (
	ghClientID     = "gh-client"
	ghClientSecret = "gh-client-secret-XYZ"
	ghCode         = "good-code"
	ghAccessToken  = "gho_ACCESS-TOKEN-123"
)

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		f.tokenReq.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Accept") != "application/json" || r.FormValue("client_id") != ghClientID || r.FormValue("client_secret") != ghClientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.FormValue("code") != ghCode {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": ghAccessToken, "token_type": "bearer"})
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ghAccessToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 4242, "login": "octocat", "email": "octo@example.com"})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func withGitHub(base string) func(*api.Options) {
	return func(o *api.Options) {
		o.Auth.GitHub = api.GitHubConfig{ClientID: ghClientID, ClientSecret: ghClientSecret,
			TokenURL: base + "/login/oauth/access_token", UserURL: base + "/user"}
	}
}

func TestGitHubLogin(t *testing.T) {
	gh := newFakeGitHub(t)
	e := newEnv(t, withGitHub(gh.srv.URL))
	anon := e.clients("")

	first, err := anon.Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode, State: "s", RedirectUri: "https://portal.test/cb"}))
	require.NoError(t, err)
	u := first.Msg.Session.User
	assert.Equal(t, "octocat", u.Name)
	assert.Equal(t, "octo@example.com", u.Email)
	ident, err := e.c.LookupIdentity(e.ctx, fsa.ProviderGitHub, "4242")
	require.NoError(t, err)
	assert.Equal(t, u.Id, ident.UserID)

	// The second login finds the same user.
	second, err := anon.Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	require.NoError(t, err)
	assert.Equal(t, u.Id, second.Msg.Session.User.Id)
	_, err = e.clients(second.Msg.Session.Token).Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)

	before := e.revision()
	_, err = anon.Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: "bad-code"}))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = anon.Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{}))
	requireCode(t, err, connect.CodeInvalidArgument)
	assert.Equal(t, before, e.revision())
	assert.NotContains(t, e.logs.String(), ghAccessToken)
	assert.NotContains(t, e.logs.String(), ghClientSecret)
}

// closedURL returns a URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestGitHubLoginUnavailableOrOff(t *testing.T) {
	e := newEnv(t, withGitHub(closedURL(t)))
	_, err := e.clients("").Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	requireCode(t, err, connect.CodeUnavailable)

	off := newEnv(t)
	_, err = off.clients("").Auth.GitHubLogin(off.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	requireCode(t, err, connect.CodeFailedPrecondition)
}

const sealosSecret = "sealos-jwt-secret-for-tests"

func sealosToken(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, "", []byte(secret), claims)
}

// slowAiproxy stands in for an Aiproxy that does not answer until the test ends.
func slowAiproxy(t *testing.T) string {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL
}

// aiproxyBaseURL is where the stand-in's keys work, as fsad is told (--aiproxy-base-url).
const aiproxyBaseURL = "https://aiproxy.sealos.test/anthropic"

func withSealos(aiproxy string) func(*api.Options) {
	return func(o *api.Options) {
		o.Auth.SealosJWTSecret = sealosSecret
		o.Auth.AiproxyEndpoint = aiproxy
		if aiproxy != "" {
			o.Auth.AiproxyBaseURL = aiproxyBaseURL
		}
		o.Auth.AiproxyTimeout = 200 * time.Millisecond
	}
}

func sealosClaims() jwt.MapClaims {
	return jwt.MapClaims{"userUid": "3f1c-uid-0001", "userCrName": "seal-user", "workspaceId": "ns-seal",
		"exp": time.Now().Add(time.Hour).Unix()}
}

// aiproxyToken is the name of the Aiproxy token of sealosClaims' user.
const aiproxyToken = api.AiproxyTokenPrefix + "3f1c-uid-0001"

func TestSealosLoginProvisionsAiproxyKey(t *testing.T) {
	hub := aiproxystandin.New()
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	e := newEnv(t, withSealos(srv.URL))
	tok := sealosToken(t, sealosSecret, sealosClaims())
	login := func(kc string) *clients {
		t.Helper()
		resp, err := e.clients("").Auth.SealosLogin(e.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: tok, Kubeconfig: kc}))
		require.NoError(t, err)
		return e.clients(resp.Msg.Session.Token)
	}
	settings := func(u *clients) *fsav1.AnthropicSettings {
		t.Helper()
		st, err := u.Config.GetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.GetAnthropicSettingsRequest{RevealSecrets: true}))
		require.NoError(t, err)
		return st.Msg.Settings
	}
	u := login(kubeconfig("ns-seal"))
	ident, err := e.c.LookupIdentity(e.ctx, fsa.ProviderSealos, "3f1c-uid-0001")
	require.NoError(t, err)
	kc, err := u.Config.GetKubeconfig(e.ctx, connect.NewRequest(&fsav1.GetKubeconfigRequest{Reveal: true}))
	require.NoError(t, err)
	assert.Equal(t, kubeconfig("ns-seal"), kc.Msg.Kubeconfig)

	// The key of token fullstackagent-<id> in the kubeconfig's workspace, with the base URL of
	// the proxy that issued it.
	issued, ok := hub.Lookup("ns-seal", aiproxyToken)
	require.True(t, ok, "the token is named after the Sealos user and asked for with the kubeconfig")
	st := settings(u)
	assert.Equal(t, issued.Key, st.ApiKey)
	assert.Equal(t, aiproxyBaseURL, st.BaseUrl)
	cfg, err := e.c.GetUserConfig(e.ctx, ident.UserID, fsa.ConfigAnthropicAPIKey, false)
	require.NoError(t, err)
	assert.Equal(t, fsa.CategoryAiproxy, cfg.Category)

	// The next sign-in (without a kubeconfig: the stored one is used) asks again and stores
	// nothing while the key is unchanged.
	before := e.revision()
	calls := hub.Calls()
	login("")
	assert.Equal(t, calls+1, hub.Calls())
	assert.Equal(t, before, e.revision(), "an unchanged key is not written again")

	// Revoked in Aiproxy: the next sign-in gets the replacement.
	require.True(t, hub.Revoke("ns-seal", aiproxyToken))
	u = login("")
	renewed, _ := hub.Lookup("ns-seal", aiproxyToken)
	require.NotEqual(t, issued.Key, renewed.Key)
	assert.Equal(t, renewed.Key, settings(u).ApiKey)

	// Revoked for good (Aiproxy answers it disabled): the dead pair is removed.
	hub.KeepRevoked = true
	require.True(t, hub.Revoke("ns-seal", aiproxyToken))
	u = login("")
	st = settings(u)
	assert.False(t, st.ApiKeySet)
	assert.Empty(t, st.BaseUrl)

	// A key the user sets is theirs: never replaced, Aiproxy not asked.
	hub.KeepRevoked = false
	_, err = u.Config.SetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.SetAnthropicSettingsRequest{ApiKey: ptr("sk-own-key")}))
	require.NoError(t, err)
	calls = hub.Calls()
	u = login("")
	assert.Equal(t, calls, hub.Calls())
	assert.Equal(t, "sk-own-key", settings(u).ApiKey)

	assert.NotContains(t, e.logs.String(), issued.Key)
	assert.NotContains(t, e.logs.String(), renewed.Key)
	assert.NotContains(t, e.logs.String(), tok)
	assert.NotContains(t, e.logs.String(), testKubeconfigToken)
}

func TestAiproxyNeedsBaseURL(t *testing.T) {
	_, err := api.NewHandler(api.Options{Client: fsa.New(memstore.New()), Auth: api.AuthConfig{
		SigningKey: mustKey(t), AiproxyEndpoint: "https://aiproxy.test"}})
	require.ErrorContains(t, err, "base URL")
}

func mustKey(t *testing.T) api.SigningKey {
	k, err := api.GenerateSigningKey()
	require.NoError(t, err)
	return k
}

func TestSealosLoginSurvivesAiproxyFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) string
	}{
		{"down", closedURL},
		{"slow", slowAiproxy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withSealos(tc.endpoint(t)))
			resp, err := e.clients("").Auth.SealosLogin(e.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{
				SealosToken: sealosToken(t, sealosSecret, sealosClaims()), Kubeconfig: kubeconfig("ns-seal")}))
			require.NoError(t, err)
			st, err := e.clients(resp.Msg.Session.Token).Config.GetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.GetAnthropicSettingsRequest{}))
			require.NoError(t, err)
			assert.False(t, st.Msg.Settings.ApiKeySet)
			assert.Contains(t, e.logs.String(), "aiproxy key not provisioned")
		})
	}
}

func TestSealosLoginRejected(t *testing.T) {
	e := newEnv(t, withSealos(""))
	expired := sealosClaims()
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	noUser := sealosClaims()
	delete(noUser, "userUid")
	for _, tc := range []struct {
		name      string
		token, kc string
		want      connect.Code
	}{
		{"wrong secret", sealosToken(t, "other-secret", sealosClaims()), "", connect.CodeUnauthenticated},
		{"expired", sealosToken(t, sealosSecret, expired), "", connect.CodeUnauthenticated},
		{"alg none", sign(t, jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, sealosClaims()), "", connect.CodeUnauthenticated},
		{"no user", sealosToken(t, sealosSecret, noUser), "", connect.CodeUnauthenticated},
		{"empty", "", "", connect.CodeUnauthenticated},
		{"bad kubeconfig", sealosToken(t, sealosSecret, sealosClaims()), "nope: [", connect.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			_, err := e.clients("").Auth.SealosLogin(e.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: tc.token, Kubeconfig: tc.kc}))
			requireCode(t, err, tc.want)
			assert.Equal(t, before, e.revision(), "something was stored")
		})
	}
	off := newEnv(t)
	_, err := off.clients("").Auth.SealosLogin(off.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: sealosToken(t, sealosSecret, sealosClaims())}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	assert.False(t, strings.Contains(err.Error(), sealosSecret))
}

// A name the SDK refuses (too long, a control character, none) does not fail a Sealos login:
// the user is named after the provider and its id.
func TestSealosLoginFallbackName(t *testing.T) {
	e := newEnv(t, withSealos(""))
	for i, name := range []string{strings.Repeat("n", fsa.MaxNameLen+1), "bad\x1bname", ""} {
		claims := sealosClaims()
		claims["userUid"] = fmt.Sprintf("uid-%d-abcdef", i)
		claims["userCrName"] = name
		resp, err := e.clients("").Auth.SealosLogin(e.ctx, connect.NewRequest(&fsav1.SealosLoginRequest{SealosToken: sealosToken(t, sealosSecret, claims)}))
		require.NoError(t, err, "%q", name)
		assert.Equal(t, fmt.Sprintf("sealos-uid-%d-ab", i), resp.Msg.Session.User.Name)
	}
}
