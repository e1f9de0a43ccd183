package api

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHashSlotsBoundConcurrency(t *testing.T) {
	var cur, peak atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = withHashSlot(context.Background(), func() error {
				n := cur.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				entered <- struct{}{}
				<-release
				cur.Add(-1)
				return nil
			})
		}()
	}
	for i := 0; i < cap(hashSlots); i++ {
		<-entered // the slots fill up; the others wait
	}
	close(release)
	wg.Wait()
	require.Equal(t, int32(cap(hashSlots)), peak.Load(), "never more hashing at once than slots")

	ctx, cancel := context.WithCancel(context.Background())
	for i := 0; i < cap(hashSlots); i++ {
		hashSlots <- struct{}{}
	}
	cancel()
	require.ErrorIs(t, withHashSlot(ctx, func() error { return nil }), context.Canceled, "a caller that gives up does not wait")
	for i := 0; i < cap(hashSlots); i++ {
		<-hashSlots
	}
}
