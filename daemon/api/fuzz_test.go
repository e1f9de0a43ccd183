package api_test

import (
	"context"
	"testing"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/memstore"
)

// checkOutcome fails on server errors; an invalid request must have stored nothing.
func checkOutcome(t *testing.T, e *env, before int64, err error) {
	t.Helper()
	switch code := connect.CodeOf(err); {
	case err == nil:
	case code == connect.CodeInternal || code == connect.CodeUnknown || code == connect.CodeUnavailable:
		t.Fatalf("server error: %v", err)
	case code == connect.CodeInvalidArgument || code == connect.CodeResourceExhausted:
		assert.Equal(t, before, revisionOf(t, e), "an invalid request stored something")
	}
}

// The fuzz targets send each input through the SDK and through the RPC, as TestBadInput's
// rows (bothWays.check): the outcomes must agree, and a refused input stores nothing.

func FuzzCreateProject(f *testing.F) {
	for _, s := range [][3]string{{"shop", "", ""}, {"", "", ""}, {"---", "d", "k"}, {"a\x00b", "", ""}, {"ü日本", "\n", "key with space"},
		{"x", "", "\x7f"}, {string(make([]byte, 70)), "", ""}} {
		f.Add(s[0], s[1], s[2])
	}
	b := newBothWays(newEnvOn(f, context.Background(), memstore.New()))
	f.Fuzz(func(t *testing.T, name, desc, key string) {
		if !utf8.ValidString(name) || !utf8.ValidString(desc) || !utf8.ValidString(key) {
			t.Skip("protobuf strings are UTF-8; the client refuses to send others")
		}
		b.check(t, func(ctx context.Context, c caller, tn *tenant) error {
			return c.createProject(ctx, tn.user, name, desc, key)
		})
	})
}

func FuzzSetEnv(f *testing.F) {
	for _, s := range [][3]string{{"KEY", "v", ""}, {"1X", "", ""}, {"DATABASE_URL", "x", "app"}, {"K", "a\x00b", "Cat"}, {"", "", ""}} {
		f.Add(s[0], s[1], s[2], false)
	}
	b := newBothWays(newEnvOn(f, context.Background(), memstore.New()))
	f.Fuzz(func(t *testing.T, key, value, category string, secret bool) {
		if !utf8.ValidString(key) || !utf8.ValidString(value) || !utf8.ValidString(category) {
			t.Skip("protobuf strings are UTF-8")
		}
		b.check(t, func(ctx context.Context, c caller, tn *tenant) error {
			return c.setEnv(ctx, tn.user, tn.project, fsa.EnvSpec{Key: key, Value: value, Category: category, Secret: secret}, "")
		})
		b.check(t, func(ctx context.Context, c caller, tn *tenant) error {
			return c.updateEnv(ctx, tn.user, tn.project, fsa.EnvUpdate{Key: key, Category: &category}, "")
		})
	})
}

func FuzzSignUp(f *testing.F) {
	for _, s := range [][3]string{{"alice", "long-enough", ""}, {"A", "x", "bad"}, {"bob_1", "pässwörd-ü", "b@example.com"}} {
		f.Add(s[0], s[1], s[2])
	}
	e := newEnvOn(f, context.Background(), memstore.New())
	anon := e.clients("")
	f.Fuzz(func(t *testing.T, username, password, email string) {
		if !utf8.ValidString(username) || !utf8.ValidString(password) || !utf8.ValidString(email) {
			t.Skip("protobuf strings are UTF-8")
		}
		before := revisionOf(t, e)
		_, err := anon.Auth.SignUp(e.ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: username, Password: password, Email: email}))
		checkOutcome(t, e, before, err)
		_, err = anon.Auth.Login(e.ctx, connect.NewRequest(&fsav1.LoginRequest{Username: username, Password: password}))
		checkOutcome(t, e, before, err)
	})
}
