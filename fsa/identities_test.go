package fsa_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
)

// TestIdentities links GitHub to a password account, lists both without secrets, and unlinks
// down to one method, which cannot go.
func TestIdentities(t *testing.T) {
	e := newEnv(t)
	u, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: "carol", Identity: &fsa.IdentitySpec{
		Provider: fsa.ProviderPassword, ProviderUserID: "carol", Secret: "bcrypt-hash"}})
	require.NoError(t, err)
	_, err = e.c.LinkIdentity(e.ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: "4242", Metadata: map[string]string{"login": "carol-gh"}})
	require.NoError(t, err)

	ids, err := e.c.ListIdentities(e.ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, ids, 2)
	assert.Equal(t, fsa.ProviderPassword, ids[0].Provider)
	assert.True(t, ids[0].IsPrimary)
	assert.Empty(t, ids[0].Secret, "a listing never carries the password hash")
	assert.Equal(t, fsa.ProviderGitHub, ids[1].Provider)
	assert.Equal(t, "carol-gh", ids[1].Metadata["login"])

	// A second password is refused; so is someone else's identity.
	_, err = e.c.LinkIdentity(e.ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderPassword, ProviderUserID: "carol2", Secret: "h"})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists)
	_, err = e.c.LinkIdentity(e.ctx, e.bob.ID, fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: "4242"})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists)

	// Bob cannot unlink Carol's method: it is not his.
	before := e.revision()
	require.ErrorIs(t, e.c.UnlinkIdentity(e.ctx, e.bob.ID, fsa.ProviderGitHub, "4242"), fsa.ErrNotFound)
	assert.Equal(t, before, e.revision())

	// Removing the primary (password) promotes GitHub; then GitHub, the last, stays.
	require.NoError(t, e.c.UnlinkIdentity(e.ctx, u.ID, fsa.ProviderPassword, "carol"))
	_, err = e.c.LookupIdentity(e.ctx, fsa.ProviderPassword, "carol")
	require.ErrorIs(t, err, fsa.ErrNotFound)
	ids, err = e.c.ListIdentities(e.ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	assert.True(t, ids[0].IsPrimary)
	before = e.revision()
	require.ErrorIs(t, e.c.UnlinkIdentity(e.ctx, u.ID, fsa.ProviderGitHub, "4242"), fsa.ErrFailedPrecondition)
	assert.Equal(t, before, e.revision())

	// The username is free again.
	_, err = e.c.LinkIdentity(e.ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderPassword, ProviderUserID: "carol", Secret: "h2"})
	require.NoError(t, err)
}

// TestUnlinkConcurrent unlinks a user's two methods at once, many times: never both.
func TestUnlinkConcurrent(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		name := "racer" + string(rune('a'+i))
		u, err := e.c.CreateUser(e.ctx, fsa.UserSpec{Name: name, Identity: &fsa.IdentitySpec{Provider: fsa.ProviderPassword, ProviderUserID: name}})
		require.NoError(t, err)
		_, err = e.c.LinkIdentity(e.ctx, u.ID, fsa.IdentitySpec{Provider: fsa.ProviderGitHub, ProviderUserID: name})
		require.NoError(t, err)
		var wg sync.WaitGroup
		for _, p := range []fsa.Provider{fsa.ProviderPassword, fsa.ProviderGitHub} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = e.c.UnlinkIdentity(e.ctx, u.ID, p, name)
			}()
		}
		wg.Wait()
		ids, err := e.c.ListIdentities(e.ctx, u.ID)
		require.NoError(t, err)
		require.Len(t, ids, 1, "exactly one method survives")
	}
}

func TestIdentitiesBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		err  error
		call func() error
	}{
		{"list: empty user id", fsa.ErrInvalidArgument, func() error { _, err := e.c.ListIdentities(e.ctx, ""); return err }},
		{"list: unknown user", fsa.ErrNotFound, func() error { _, err := e.c.ListIdentities(e.ctx, "nosuchuser"); return err }},
		{"unlink: unknown provider", fsa.ErrInvalidArgument, func() error { return e.c.UnlinkIdentity(e.ctx, e.alice.ID, "FACEBOOK", "x") }},
		{"unlink: empty provider user id", fsa.ErrInvalidArgument, func() error { return e.c.UnlinkIdentity(e.ctx, e.alice.ID, fsa.ProviderGitHub, "") }},
		{"unlink: a method the user lacks", fsa.ErrNotFound, func() error { return e.c.UnlinkIdentity(e.ctx, e.alice.ID, fsa.ProviderGitHub, "1") }},
		{"unlink: unknown user", fsa.ErrNotFound, func() error { return e.c.UnlinkIdentity(e.ctx, "nosuchuser", fsa.ProviderGitHub, "1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.revision()
			require.ErrorIs(t, tc.call(), tc.err)
			assert.Equal(t, before, e.revision())
		})
	}
}
