package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fullstackagent/fsa/fsa"
)

// settingsCache keeps each user's settings (secrets revealed: the kubeconfig, API keys) for the
// syncs of the user's children, so that a sync does not read and open them from the store
// again: an entry holds while the change feed has counted no change of the user's settings
// since it was read (the memo's counters, taken before the read, as upToDate does), and for
// at most ttl. It lives in the leader's memory only, like the clients built from it.
type settingsCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]settingsEntry
}

type settingsEntry struct {
	listings, user uint64
	cfgs           []*fsa.UserConfig
	expires        time.Time
}

func newSettingsCache(ttl time.Duration, now func() time.Time) *settingsCache {
	return &settingsCache{ttl: ttl, now: now, m: map[string]settingsEntry{}}
}

// get returns user's settings as of tok (taken before the sync read anything), reading them
// with read when what is kept is older.
func (c *settingsCache) get(ctx context.Context, user string, tok memoToken, read func(context.Context) ([]*fsa.UserConfig, error)) ([]*fsa.UserConfig, error) {
	if !baseline.Load() {
		c.mu.Lock()
		e, ok := c.m[user]
		c.mu.Unlock()
		if ok && e.listings == tok.listings && e.user == tok.user && c.now().Before(e.expires) {
			return e.cfgs, nil
		}
	}
	cfgs, err := read(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[user] = settingsEntry{listings: tok.listings, user: tok.user, cfgs: cfgs, expires: c.now().Add(c.ttl)}
	c.mu.Unlock()
	return cfgs, nil
}

// settings returns the user's settings, secrets revealed, as of tok: shared, read only.
func (r *Runner) settings(ctx context.Context, user string, tok memoToken) ([]*fsa.UserConfig, error) {
	return r.userSettings.get(ctx, user, tok, func(ctx context.Context) ([]*fsa.UserConfig, error) {
		return r.c.ListUserConfig(ctx, user, true)
	})
}

// setting returns one of the user's settings as of tok; fsa.ErrNotFound when it is not set.
func (r *Runner) setting(ctx context.Context, user, key string, tok memoToken) (*fsa.UserConfig, error) {
	cfgs, err := r.settings(ctx, user, tok)
	if err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		if c.Key == key {
			return c, nil
		}
	}
	return nil, fmt.Errorf("config %s: %w", key, fsa.ErrNotFound)
}
