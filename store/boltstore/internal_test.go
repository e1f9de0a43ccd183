package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
