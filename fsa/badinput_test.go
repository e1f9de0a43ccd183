package fsa_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// TestBadInput checks that malformed calls fail with a typed error and store nothing. It holds
// the inputs the wire cannot carry (a caller's user id, invalid UTF-8, users, identities and
// arbitrary settings, which only the SDK takes); every input the RPC can carry is in the one
// table that daemon/api's TestBadInput sends through both the SDK and the RPC.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	p := e.project("target")
	a := e.alice.ID
	tests := []struct {
		name string
		want error
		call func() error
	}{
		{"invalid utf-8 name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "bad\xff"})
			return err
		}},
		{"invalid utf-8 idempotency key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(fsa.WithIdempotencyKey(e.ctx, "k\xff"), a, fsa.ProjectSpec{Name: "ok"})
			return err
		}},
		{"unknown user", fsa.ErrNotFound, func() error {
			_, err := e.c.CreateProject(e.ctx, "nosuchuser", fsa.ProjectSpec{Name: "ok"})
			return err
		}},
		{"empty user id", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, "", fsa.ProjectSpec{Name: "ok"})
			return err
		}},
		{"malformed user id", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.ListProjects(e.ctx, "a/b")
			return err
		}},
		{"another user's project", fsa.ErrNotFound, func() error {
			_, err := e.c.DeleteProject(e.ctx, e.bob.ID, p.ID)
			return err
		}},
		{"bad email", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "x", Email: "not an email"})
			return err
		}},
		{"unknown provider", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "x", Identity: &fsa.IdentitySpec{Provider: "MAGIC", ProviderUserID: "x"}})
			return err
		}},
		{"unknown role", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "x", Role: "root"})
			return err
		}},
		{"config for unknown user", fsa.ErrNotFound, func() error {
			_, err := e.c.SetUserConfig(e.ctx, "nosuchuser", fsa.UserConfig{Key: "K", Value: "v"})
			return err
		}},
		{"bad config key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetUserConfig(e.ctx, a, fsa.UserConfig{Key: "k e y", Value: "v"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			err := tc.call()
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, before, e.revision(), "bad input must leave the store untouched")
		})
	}
}
