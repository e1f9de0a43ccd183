package api_test

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
)

func TestSignUpLoginWhoAmI(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")

	who, err := alice.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, who.Msg.User.Id)
	assert.Equal(t, "alice", who.Msg.User.Name)
	assert.Equal(t, fsav1.Role_ROLE_USER, who.Msg.User.Role)
	assert.True(t, who.Msg.ExpiresAt.AsTime().After(e.clock.Now().Add(23*time.Hour)))

	// The password is stored only as a bcrypt hash.
	ident, err := e.c.LookupIdentity(e.ctx, fsa.ProviderPassword, "alice")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ident.Secret, "$2"), "stored secret is not a bcrypt hash")
	assert.NotContains(t, ident.Secret, alice.Password)

	login, err := e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: alice.Password}))
	require.NoError(t, err)
	assert.Equal(t, alice.ID, login.Msg.Session.User.Id)
	assert.NotEqual(t, alice.Token, login.Msg.Session.Token)
}

func TestSignUpRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	e.signUp("taken")
	anon := e.clients("")
	for _, tc := range []struct {
		name, username, password, email string
		want                            connect.Code
	}{
		{"short username", "ab", "long-enough-pw", "", connect.CodeInvalidArgument},
		{"uppercase username", "Alice", "long-enough-pw", "", connect.CodeInvalidArgument},
		{"username with space", "al ice", "long-enough-pw", "", connect.CodeInvalidArgument},
		{"long username", strings.Repeat("a", 33), "long-enough-pw", "", connect.CodeInvalidArgument},
		{"short password", "bob", "short", "", connect.CodeInvalidArgument},
		{"password over 72 bytes", "bob", strings.Repeat("p", 73), "", connect.CodeInvalidArgument},
		{"bad email", "bob", "long-enough-pw", "not an address", connect.CodeInvalidArgument},
		{"username taken", "taken", "long-enough-pw", "", connect.CodeAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			_, err := anon.Auth.SignUp(e.ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: tc.username, Password: tc.password, Email: tc.email}))
			requireCode(t, err, tc.want)
			assert.Equal(t, before, e.revision(), "something was stored")
		})
	}
}

func TestSignUpDisabled(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.Auth.DisableSignUp = true })
	_, err := e.clients("").Auth.SignUp(e.ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "bob", Password: "long-enough-pw"}))
	requireCode(t, err, connect.CodePermissionDenied)
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	anon := e.clients("")
	var msgs []string
	for _, tc := range []struct{ name, username, password string }{
		{"wrong password", "alice", alice.Password + "x"},
		{"unknown user", "nobody", alice.Password},
		{"malformed username", "NOT VALID", alice.Password},
		{"empty password", "alice", ""},
		{"overlong password", "alice", strings.Repeat("x", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := anon.Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: tc.username, Password: tc.password}))
			requireCode(t, err, connect.CodeUnauthenticated)
			msgs = append(msgs, connect.NewError(connect.CodeUnknown, err).Message())
		})
	}
	for _, m := range msgs {
		assert.Equal(t, msgs[0], m, "login errors differ and so reveal whether the user exists")
	}
}

// sign makes a session token with arbitrary claims, header and key.
var jwtHS256 = jwt.SigningMethodHS256

func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func TestSessionTokensRejected(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	now := e.clock.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "fsad", "sub": alice.ID, "sid": "s1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "fsa_iat_ns": now.UnixNano()}
	}
	with := func(k string, v any) jwt.MapClaims { c := valid(); c[k] = v; return c }
	other, err := api.GenerateSigningKey()
	require.NoError(t, err)
	none := sign(t, jwt.SigningMethodNone, e.key.ID, jwt.UnsafeAllowNoneSignatureType, valid())

	// A token the test forges correctly is accepted: the failures below are for their reason.
	good := sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, valid())
	_, err = e.clients(good).Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)

	for _, tc := range []struct{ name, token string }{
		{"missing", ""},
		{"garbage", "not-a-jwt"},
		{"forged signature", sign(t, jwt.SigningMethodHS256, e.key.ID, other.Secret, valid())},
		{"unknown key id", sign(t, jwt.SigningMethodHS256, other.ID, other.Secret, valid())},
		{"no key id", sign(t, jwt.SigningMethodHS256, "", e.key.Secret, valid())},
		{"alg none", none},
		{"alg none without signature", strings.TrimSuffix(none, ".") + "."},
		{"HS512", sign(t, jwt.SigningMethodHS512, e.key.ID, e.key.Secret, valid())},
		{"expired", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("exp", now.Add(-time.Second).Unix()))},
		{"no expiry", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("exp", nil))},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("iat", now.Add(time.Hour).Unix()))},
		{"other issuer", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("iss", "someone"))},
		{"unknown user", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("sub", "no-such-user"))},
		{"no session id", sign(t, jwt.SigningMethodHS256, e.key.ID, e.key.Secret, with("sid", nil))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := e.clients(tc.token)
			before := e.revision()
			_, err := u.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
			requireCode(t, err, connect.CodeUnauthenticated)
			_, err = u.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "x"}))
			requireCode(t, err, connect.CodeUnauthenticated)
			_, err = u.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("x")}))
			requireCode(t, err, connect.CodeUnauthenticated)
			assert.Equal(t, before, e.revision(), "something was stored")
		})
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	_, err := alice.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)
	e.clock.Advance(24*time.Hour + time.Second)
	_, err = alice.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
}

func TestLogoutEndsEverySessionOnEveryNode(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	second, err := e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: alice.Password}))
	require.NoError(t, err)

	// A second node over the same store: revocation is data, not node memory.
	node2, err := api.NewHandler(api.Options{Client: e.c, Auth: e.opts.Auth})
	require.NoError(t, err)
	require.NotNil(t, node2)

	_, err = alice.Auth.Logout(e.ctx, connect.NewRequest(&fsav1.LogoutRequest{}))
	require.NoError(t, err)
	for _, tok := range []string{alice.Token, second.Msg.Session.Token} {
		_, err = e.clients(tok).Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
		requireCode(t, err, connect.CodeUnauthenticated)
		assert.Contains(t, err.Error(), "logout")
	}
	// A login after the logout works, and the bookkeeping entry is not shown as a setting.
	again, err := e.clients("").Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "alice", Password: alice.Password}))
	require.NoError(t, err)
	u := e.clients(again.Msg.Session.Token)
	_, err = u.Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)
	cfg, err := u.Config.ListConfig(e.ctx, connect.NewRequest(&fsav1.ListConfigRequest{RevealSecrets: true}))
	require.NoError(t, err)
	assert.Empty(t, cfg.Msg.Entries)
}

func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	newKey, err := api.GenerateSigningKey()
	require.NoError(t, err)

	// The new node signs with the new key and still accepts the old one.
	rotated := newEnvOn(t, e.ctx, e.st, func(o *api.Options) {
		o.Auth.SigningKey, o.Auth.VerificationKeys = newKey, []api.SigningKey{e.key}
		o.Auth.Now = e.clock.Now
	})
	rotated.c, rotated.clock = e.c, e.clock
	_, err = rotated.clients(alice.Token).Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)

	// Once the old key is dropped, its tokens stop working.
	dropped := newEnvOn(t, e.ctx, e.st, func(o *api.Options) { o.Auth.SigningKey = newKey; o.Auth.Now = e.clock.Now })
	_, err = dropped.clients(alice.Token).Auth.WhoAmI(e.ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	requireCode(t, err, connect.CodeUnauthenticated)
}

func TestSigningKeyEncoding(t *testing.T) {
	k, err := api.GenerateSigningKey()
	require.NoError(t, err)
	got, err := api.ParseSigningKey(k.Encode())
	require.NoError(t, err)
	assert.Equal(t, k, got)
	assert.NotContains(t, k.String(), k.Encode()[len(k.ID)+1:])
	for _, bad := range []string{"", "nokey", "id:!!!", "id:" + "c2hvcnQ"} {
		_, err := api.ParseSigningKey(bad)
		assert.Error(t, err, "%q", bad)
	}
	_, err = api.NewHandler(api.Options{Client: fsa.New(nil), Auth: api.AuthConfig{SigningKey: api.SigningKey{ID: "k", Secret: []byte("short")}}})
	assert.Error(t, err)
	_, err = api.NewHandler(api.Options{Auth: api.AuthConfig{SigningKey: k}})
	assert.Error(t, err, "a handler without a client")
}
