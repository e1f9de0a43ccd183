package fsa_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/fsa"
)

// BenchmarkCreateProjectByUserSize measures CreateProject for a user who has 1 or 1,000
// projects, in a store of 1,000 projects either way (the others belong to another user), so
// that only the user's count differs: each iteration creates one project (timed), then deletes
// it and records its children gone (untimed), so the counts stay put. It reports the median and
// p99 of the timed creations besides ns/op.
//
//	go test ./fsa -run '^$' -bench CreateProjectByUserSize -benchtime 2000x
func BenchmarkCreateProjectByUserSize(b *testing.B) {
	for _, storeName := range []string{"memstore", "boltstore"} {
		for _, owned := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/projects=%d", storeName, owned), func(b *testing.B) {
				ctx := context.Background()
				st := benchStores[storeName](b)
				defer st.Close()
				c := fsa.New(st)
				u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				setKubeconfig(b, ctx, c, u.ID)
				other, err := c.CreateUser(ctx, fsa.UserSpec{Name: "other"})
				if err != nil {
					b.Fatal(err)
				}
				setKubeconfig(b, ctx, c, other.ID)
				for i := 0; i < 999; i++ {
					owner := other.ID
					if i < owned-1 {
						owner = u.ID
					}
					if _, err := c.CreateProject(ctx, owner, fsa.ProjectSpec{Name: fmt.Sprint("owned-", i)}); err != nil {
						b.Fatal(err)
					}
				}
				took := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					p, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: fmt.Sprint("new-", i)})
					if err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
					b.StopTimer()
					if _, err := c.DeleteProject(ctx, u.ID, p.ID); err != nil {
						b.Fatal(err)
					}
					cur, err := c.GetProject(ctx, u.ID, p.ID)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Record(ctx, 0, fsa.ResourceSandbox, cur.Sandbox.ID, fsa.Observation{Version: cur.Sandbox.Version, Status: fsa.StatusTerminated}); err != nil {
						b.Fatal(err)
					}
					if _, err := c.Record(ctx, 0, fsa.ResourceDatabase, cur.Database.ID, fsa.Observation{Version: cur.Database.Version, Status: fsa.StatusTerminated}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.StopTimer()
				sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
				b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
			})
		}
	}
}
