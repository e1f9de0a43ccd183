package raftstore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// TestLinearizableReads checks the read guarantee of View while leadership moves: a read that
// starts after a write was acknowledged sees that write (or a later one), whichever node
// served it. Writers increment a counter with compare-and-swap and note when each increment
// was acknowledged; readers send View to every node in turn (non-leaders refuse) and note what
// they saw and when they started; a goroutine keeps transferring leadership.
func TestLinearizableReads(t *testing.T) {
	c := newCluster(t, 3)
	c.commit(t, store.Txn{Ops: []store.Op{put(store.KindProject, "counter", "0")}})
	nodes := c.running()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()

	type write struct {
		value int
		acked time.Time
	}
	type read struct {
		value   int
		started time.Time
	}
	var (
		mu     sync.Mutex
		writes []write
		reads  []read
		wg     sync.WaitGroup
		errs   = make(chan error, 8)
	)
	get := func(s *raftstore.Store) (int, int64, error) {
		var r store.Record
		err := s.View(ctx, func(sn store.Snapshot) error {
			var err error
			r, err = sn.Get(store.KindProject, "counter")
			return err
		})
		if err != nil {
			return 0, 0, err
		}
		n, err := strconv.Atoi(string(r.Data))
		return n, r.Version, err
	}
	// expected reports whether err is what a client sees while leadership moves.
	expected := func(err error) bool {
		return errors.Is(err, raftstore.ErrNotLeader) || errors.Is(err, store.ErrConflict) ||
			errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil
	}

	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				s := nodes[i%len(nodes)].store
				n, ver, err := get(s)
				if err == nil {
					_, err = s.Commit(ctx, store.Txn{
						Conds: []store.Cond{{Kind: store.KindProject, ID: "counter", Version: ver}},
						Ops:   []store.Op{put(store.KindProject, "counter", strconv.Itoa(n+1))},
					})
					if err == nil {
						mu.Lock()
						writes = append(writes, write{n + 1, time.Now()})
						mu.Unlock()
					}
				}
				if err != nil && !expected(err) {
					errs <- err
					return
				}
			}
		}()
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ctx.Err() == nil; i++ {
				started := time.Now()
				n, _, err := get(nodes[i%len(nodes)].store)
				if err == nil {
					mu.Lock()
					reads = append(reads, read{n, started})
					mu.Unlock()
				} else if !expected(err) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	transfers := 0
	go func() {
		defer wg.Done()
		tick := time.NewTicker(400 * time.Millisecond) // paces the chaos; nothing waits on it
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, nd := range nodes {
				if nd.store.IsLeader() && nd.store.TransferLeadership(ctx) == nil {
					transfers++
					break
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	require.NotEmpty(t, writes)
	require.NotEmpty(t, reads)
	require.Positive(t, transfers, "leadership moved during the run")
	violations := 0
	for _, r := range reads {
		floor := 0
		for _, w := range writes {
			if w.acked.Before(r.started) && w.value > floor {
				floor = w.value
			}
		}
		if r.value < floor {
			violations++
			t.Errorf("read started at %v saw %d, but %d was acknowledged before", r.started.Format(time.StampMicro), r.value, floor)
		}
	}
	t.Logf("%d acknowledged writes, %d reads, %d leadership transfers, %d violations", len(writes), len(reads), transfers, violations)
}
