package fsa_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// TestBadInput checks that every malformed call fails with a typed error and stores nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	p := e.project("target")
	a := e.alice.ID
	huge := strings.Repeat("x", fsa.MaxEnvValueLen+1)
	nokube, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "no kubeconfig"})
	require.NoError(t, err)
	tests := []struct {
		name string
		want error
		call func() error
	}{
		{"empty project name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "   "})
			return err
		}},
		{"huge project name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: strings.Repeat("n", fsa.MaxProjectNameLen+1)})
			return err
		}},
		{"project name without a letter or digit", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "---"})
			return err
		}},
		{"invalid utf-8 name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "bad\xff"})
			return err
		}},
		{"control chars in name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "a\x1bb"})
			return err
		}},
		{"multi-line name", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "a\nb"})
			return err
		}},
		{"huge description", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.CreateProject(e.ctx, a, fsa.ProjectSpec{Name: "ok", Description: strings.Repeat("d", fsa.MaxDescriptionLen+1)})
			return err
		}},
		{"user without a kubeconfig", fsa.ErrFailedPrecondition, func() error {
			_, err := e.c.CreateProject(e.ctx, nokube.ID, fsa.ProjectSpec{Name: "ok"})
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
		{"malformed project id", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.GetProject(e.ctx, a, "a/b")
			return err
		}},
		{"unknown project", fsa.ErrNotFound, func() error {
			_, err := e.c.StopProject(e.ctx, a, "nosuchproject")
			return err
		}},
		{"another user's project", fsa.ErrNotFound, func() error {
			_, err := e.c.DeleteProject(e.ctx, e.bob.ID, p.ID)
			return err
		}},
		{"invalid env key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "1ABC", Value: "x"})
			return err
		}},
		{"env key with dash", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "MY-KEY", Value: "x"})
			return err
		}},
		{"unicode env key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "CLÉ", Value: "x"})
			return err
		}},
		{"empty env key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "", Value: "x"})
			return err
		}},
		{"reserved env key", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: fsa.EnvDatabaseURL, Value: "x"})
			return err
		}},
		{"huge env value", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "BIG", Value: huge})
			return err
		}},
		{"NUL in env value", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "N", Value: "a\x00b"})
			return err
		}},
		{"bad category", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnv(e.ctx, a, p.ID, fsa.EnvSpec{Key: "K", Value: "v", Category: "Bad Cat"})
			return err
		}},
		{"duplicate keys in batch", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnvBatch(e.ctx, a, p.ID, "", []fsa.EnvSpec{{Key: "D", Value: "1"}, {Key: "D", Value: "2"}}, false)
			return err
		}},
		{"one bad key spoils the batch", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnvBatch(e.ctx, a, p.ID, "", []fsa.EnvSpec{{Key: "GOOD", Value: "1"}, {Key: "bad key", Value: "2"}}, false)
			return err
		}},
		{"empty batch", fsa.ErrInvalidArgument, func() error {
			_, err := e.c.SetEnvBatch(e.ctx, a, p.ID, "", nil, false)
			return err
		}},
		{"env on unknown project", fsa.ErrNotFound, func() error {
			_, err := e.c.SetEnv(e.ctx, a, "nosuchproject", fsa.EnvSpec{Key: "K", Value: "v"})
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
