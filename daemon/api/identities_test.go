package api_test

import (
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
)

func linkGitHub(code string) *fsav1.LinkIdentityRequest {
	return &fsav1.LinkIdentityRequest{Method: &fsav1.LinkIdentityRequest_Github{Github: &fsav1.GitHubLink{Code: code, State: "s", RedirectUri: "https://portal.test/cb"}}}
}

func linkPassword(username, password string) *fsav1.LinkIdentityRequest {
	return &fsav1.LinkIdentityRequest{Method: &fsav1.LinkIdentityRequest_Password{Password: &fsav1.PasswordLink{Username: username, Password: password}}}
}

// TestLinkGitHubToPasswordAccount: a password user links GitHub, then GitHub login reaches the
// same user and projects; unlinking leaves at least one method.
func TestLinkGitHubToPasswordAccount(t *testing.T) {
	gh := newFakeGitHub(t)
	e := newEnv(t, withGitHub(gh.srv.URL))
	alice := e.signUp("alice")
	p := e.project(alice, "alpha")

	list, err := alice.Auth.ListIdentities(e.ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Identities, 1)
	assert.Equal(t, fsav1.Provider_PROVIDER_PASSWORD, list.Msg.Identities[0].Provider)
	assert.True(t, list.Msg.Identities[0].Primary)
	assert.Equal(t, ghClientID, list.Msg.GithubClientId)
	assert.Equal(t, "https://github.com/login/oauth/authorize", list.Msg.GithubAuthorizeUrl)

	linked, err := alice.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkGitHub(ghCode)))
	require.NoError(t, err)
	assert.Equal(t, fsav1.Provider_PROVIDER_GITHUB, linked.Msg.Identity.Provider)
	assert.Equal(t, "4242", linked.Msg.Identity.ProviderUserId)
	assert.Equal(t, "octocat", linked.Msg.Identity.DisplayName)

	// GitHub login now reaches alice, with her project; no second user was created.
	login, err := e.clients("").Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, login.Msg.Session.User.Id)
	viaGH := e.clients(login.Msg.Session.Token)
	got, err := viaGH.Project.GetProject(e.ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	assert.Equal(t, "alpha", got.Msg.Project.Name)

	// Linking it again is AlreadyExists and stores nothing.
	before := e.revision()
	_, err = alice.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkGitHub(ghCode)))
	requireCode(t, err, connect.CodeAlreadyExists)
	assert.Equal(t, before, e.revision())

	// Drop the password: GitHub is left and becomes primary; the password no longer logs in.
	_, err = viaGH.Auth.UnlinkIdentity(e.ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_PASSWORD, ProviderUserId: "alice"}))
	require.NoError(t, err)
	_, err = e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: alice.Password}))
	requireCode(t, err, connect.CodeUnauthenticated)
	list, err = viaGH.Auth.ListIdentities(e.ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Identities, 1)
	assert.True(t, list.Msg.Identities[0].Primary)

	// The last method stays.
	before = e.revision()
	_, err = viaGH.Auth.UnlinkIdentity(e.ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_GITHUB, ProviderUserId: "4242"}))
	requireCode(t, err, connect.CodeFailedPrecondition)
	assert.Equal(t, before, e.revision())

	// A password can be added back (the username is free again), and logs in.
	_, err = viaGH.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkPassword("alice2", "a-new-long-password")))
	require.NoError(t, err)
	back, err := e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice2", Password: "a-new-long-password"}))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, back.Msg.Session.User.Id)
	assert.NotContains(t, e.logs.String(), ghAccessToken)
	assert.NotContains(t, e.logs.String(), "a-new-long-password")
}

// TestIdentityTenantIsolation: bob can neither take nor remove alice's methods, and sees only
// his own.
func TestIdentityTenantIsolation(t *testing.T) {
	gh := newFakeGitHub(t)
	e := newEnv(t, withGitHub(gh.srv.URL))
	alice, bob := e.signUp("alice"), e.signUp("bob")
	_, err := alice.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkGitHub(ghCode)))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		call func() error
		want connect.Code
	}{
		{"UnlinkIdentity of alice's password", func() error {
			_, err := bob.Auth.UnlinkIdentity(e.ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_PASSWORD, ProviderUserId: "alice"}))
			return err
		}, connect.CodeNotFound},
		{"UnlinkIdentity of alice's GitHub", func() error {
			_, err := bob.Auth.UnlinkIdentity(e.ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_GITHUB, ProviderUserId: "4242"}))
			return err
		}, connect.CodeNotFound},
		{"LinkIdentity of alice's GitHub", func() error {
			_, err := bob.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkGitHub(ghCode)))
			return err
		}, connect.CodeAlreadyExists},
		{"LinkIdentity of alice's username", func() error {
			_, err := bob.Auth.LinkIdentity(e.ctx, connect.NewRequest(linkPassword("alice", "bobs-long-password")))
			return err
		}, connect.CodeAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			requireCode(t, tc.call(), tc.want)
			assert.Equal(t, before, e.revision(), "the call changed the store")
		})
	}
	list, err := bob.Auth.ListIdentities(e.ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.Identities, 1)
	assert.Equal(t, "bob", list.Msg.Identities[0].ProviderUserId)
	// Alice still logs in both ways.
	_, err = e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: alice.Password}))
	require.NoError(t, err)
	login, err := e.clients("").Auth.GitHubLogin(e.ctx, connect.NewRequest(&fsav1.GitHubLoginRequest{Code: ghCode}))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, login.Msg.Session.User.Id)
}

// TestIdentityBadInput: the inputs LinkIdentity and UnlinkIdentity refuse, with nothing stored.
// Unlink's rules are the SDK's and are also in TestBadInput (both ways); the password rules are
// SignUp's, which live in this package.
func TestIdentityBadInput(t *testing.T) {
	gh := newFakeGitHub(t)
	e := newEnv(t, withGitHub(gh.srv.URL))
	off := newEnv(t)
	alice := e.signUp("alice")
	offUser := off.signUp("olga")
	for _, tc := range []struct {
		name string
		env  *env
		u    *user
		req  *fsav1.LinkIdentityRequest
		want connect.Code
	}{
		{"no method", e, alice, &fsav1.LinkIdentityRequest{}, connect.CodeInvalidArgument},
		{"empty GitHub link", e, alice, &fsav1.LinkIdentityRequest{Method: &fsav1.LinkIdentityRequest_Github{}}, connect.CodeInvalidArgument},
		{"empty code", e, alice, linkGitHub(""), connect.CodeInvalidArgument},
		{"oversize code", e, alice, linkGitHub(string(make([]byte, 513))), connect.CodeInvalidArgument},
		{"code GitHub rejects", e, alice, linkGitHub("bad-code"), connect.CodeUnauthenticated},
		{"GitHub not configured", off, offUser, linkGitHub(ghCode), connect.CodeFailedPrecondition},
		{"empty password link", e, alice, &fsav1.LinkIdentityRequest{Method: &fsav1.LinkIdentityRequest_Password{}}, connect.CodeInvalidArgument},
		{"bad username", e, alice, linkPassword("Not Valid", "long-enough-pw"), connect.CodeInvalidArgument},
		{"short password", e, alice, linkPassword("alice-two", "short"), connect.CodeInvalidArgument},
		{"second password", e, alice, linkPassword("alice-two", "long-enough-pw"), connect.CodeAlreadyExists},
	} {
		t.Run("link: "+tc.name, func(t *testing.T) {
			before := tc.env.revision()
			_, err := tc.u.Auth.LinkIdentity(tc.env.ctx, connect.NewRequest(tc.req))
			requireCode(t, err, tc.want)
			assert.Equal(t, before, tc.env.revision())
		})
	}
	for _, tc := range []struct {
		name string
		req  *fsav1.UnlinkIdentityRequest
		want connect.Code
	}{
		{"unspecified provider", &fsav1.UnlinkIdentityRequest{ProviderUserId: "alice"}, connect.CodeInvalidArgument},
		{"unknown provider number", &fsav1.UnlinkIdentityRequest{Provider: 99, ProviderUserId: "alice"}, connect.CodeInvalidArgument},
		{"empty provider user id", &fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_GITHUB}, connect.CodeInvalidArgument},
		{"a method alice lacks", &fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_GITHUB, ProviderUserId: "1"}, connect.CodeNotFound},
		{"alice's only method", &fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_PASSWORD, ProviderUserId: "alice"}, connect.CodeFailedPrecondition},
	} {
		t.Run("unlink: "+tc.name, func(t *testing.T) {
			before := e.revision()
			_, err := alice.Auth.UnlinkIdentity(e.ctx, connect.NewRequest(tc.req))
			requireCode(t, err, tc.want)
			assert.Equal(t, before, e.revision())
		})
	}
	// Without a session, none of them answers.
	_, err := e.clients("").Auth.ListIdentities(e.ctx, connect.NewRequest(&fsav1.ListIdentitiesRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = e.clients("").Auth.LinkIdentity(e.ctx, connect.NewRequest(linkGitHub(ghCode)))
	requireCode(t, err, connect.CodeUnauthenticated)
	_, err = e.clients("").Auth.UnlinkIdentity(e.ctx, connect.NewRequest(&fsav1.UnlinkIdentityRequest{Provider: fsav1.Provider_PROVIDER_PASSWORD, ProviderUserId: "alice"}))
	requireCode(t, err, connect.CodeUnauthenticated)
}
