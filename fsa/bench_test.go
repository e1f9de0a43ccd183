package fsa_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/memstore"
)

// benchStores lists the stores the SDK benchmarks run on, side by side in one run.
var benchStores = map[string]func(b *testing.B) store.Store{
	"memstore": func(*testing.B) store.Store { return memstore.New() },
	"boltstore": func(b *testing.B) store.Store {
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		return st
	},
}

func BenchmarkCreateProject(b *testing.B) {
	for name, open := range benchStores {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st := open(b)
			defer st.Close()
			c := fsa.New(st)
			u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			setKubeconfig(b, ctx, c, u.ID)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: fmt.Sprint("p", i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStatusUpdate measures reconcile's write path: one observed status change of a
// sandbox, with the project's status recomputed in the same transaction.
func BenchmarkStatusUpdate(b *testing.B) {
	for name, open := range benchStores {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st := open(b)
			defer st.Close()
			c := fsa.New(st)
			u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			setKubeconfig(b, ctx, c, u.ID)
			p, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: "p"})
			if err != nil {
				b.Fatal(err)
			}
			states := []fsa.Status{fsa.StatusStarting, fsa.StatusRunning}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Record(ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Status: states[i%2]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
