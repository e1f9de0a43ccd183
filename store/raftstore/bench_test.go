package raftstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// BenchmarkCommit measures Commit on the leader of a 3-node in-memory cluster: each commit is a
// log append fsync'd by raft-boltdb on the leader and a follower, then an fsync'd bbolt apply
// batch. Concurrent writers share both fsyncs (Raft batches appends, the FSM batches applies).
// Reports p50 and p99 latency of single commits besides ns/op (throughput).
func BenchmarkCommit(b *testing.B) {
	data := strings.Repeat("x", 256)
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := newCluster(b, 3, withStableTimeouts())
			s := c.Leader().store
			ctx := context.Background()
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						start := time.Now()
						_, err := s.Commit(ctx, store.Txn{Ops: []store.Op{put(store.KindEnvVar, fmt.Sprint("k", i), data)}})
						lat[i] = time.Since(start)
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
