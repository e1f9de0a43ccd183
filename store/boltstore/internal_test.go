package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/fullstackagent/fsa/store"
)

// TestSyncEnabled guards the durability promise: bbolt must fsync every commit and its freelist.
func TestSyncEnabled(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fsa.db"))
	require.NoError(t, err)
	defer s.Close()
	require.False(t, s.db.NoSync, "every commit must be fsync'd")
	require.False(t, s.db.NoGrowSync)
	require.False(t, s.db.NoFreelistSync)
}

// TestGroupCommit checks that concurrent commits share bbolt transactions, and that a group
// mixing successes and rejected transactions gives each its own answer.
func TestGroupCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fsa.db"))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	revs := map[int64]bool{}
	rejectedN := 0
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				txn := store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: fmt.Sprint(w, "-", i)})}}
				if i%4 == 3 {
					// Conflicts with the put two iterations ago: rejected, whatever its group.
					txn.Conds = []store.Cond{{Kind: store.KindUser, ID: fmt.Sprint(w, "-", i-2), Version: 0}}
				}
				rev, err := s.Commit(ctx, txn)
				mu.Lock()
				if i%4 == 3 {
					assert.ErrorIs(t, err, store.ErrConflict)
					rejectedN++
				} else if assert.NoError(t, err) {
					assert.False(t, revs[rev], "revision %d given twice", rev)
					revs[rev] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	committed := int64(writers*each - rejectedN)
	require.Len(t, revs, int(committed))
	for r := int64(1); r <= committed; r++ {
		require.True(t, revs[r], "revision %d missing: revisions must have no gaps", r)
	}
	groups := s.groups.Load()
	t.Logf("%d commits (%d rejected) in %d bbolt transactions", writers*each, rejectedN, groups)
	require.Less(t, groups, int64(writers*each), "concurrent commits must share bbolt transactions")
}

// TestGroupCommitStorageFailure injects a storage failure for some transactions: the group it
// was in is rolled back and retried one by one, so only the failing transactions report the
// error, and the others commit with contiguous revisions that watchers see in order.
func TestGroupCommitStorageFailure(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "fsa.db"))
	require.NoError(t, err)
	defer s.Close()
	errDisk := errors.New("disk on fire")
	s.applyTx = func(tx *bolt.Tx, txn store.Txn, retention int) (store.Event, error) {
		ev, err := ApplyTx(tx, txn, retention)
		if err == nil && strings.HasPrefix(txn.Ops[0].Record.ID, "bad") {
			return store.Event{}, errDisk // after writing: the group must roll back
		}
		return ev, err
	}
	ctx := context.Background()
	c, err := s.Watch(ctx, 0)
	require.NoError(t, err)

	const writers, each = 8, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	good := map[int64]string{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprint(w, "-", i)
				if i%3 == 1 {
					id = "bad" + id
				}
				rev, err := s.Commit(ctx, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: id})}})
				if strings.HasPrefix(id, "bad") {
					assert.ErrorIs(t, err, errDisk, id)
					continue
				}
				if assert.NoError(t, err, id) {
					mu.Lock()
					good[rev] = id
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, good, writers*each*2/3)
	for rev := int64(1); rev <= int64(len(good)); rev++ {
		ev, err := c.Next()
		require.NoError(t, err)
		require.Equal(t, rev, ev.Revision)
		require.Equal(t, good[rev], ev.Changes[0].Record.ID)
	}
	require.NoError(t, s.View(ctx, func(sn store.Snapshot) error {
		require.Equal(t, int64(len(good)), sn.Revision())
		users, err := sn.List(store.KindUser, store.Filter{})
		require.NoError(t, err)
		require.Len(t, users, len(good), "no write of a failed transaction may remain")
		return nil
	}))
	t.Logf("%d commits in %d bbolt transactions", writers*each, s.groups.Load())
}
