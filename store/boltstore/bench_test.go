package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/memstore"
)

// The benchmarks compare boltstore with memstore side by side and measure the machine's fsync,
// which bounds a single writer's boltstore commit rate:
//
//	go test -run='^$' -bench=. -benchtime=2s -count=3 ./store/boltstore/

type benchStore struct {
	name string
	open func(b *testing.B) store.Store
}

func benchStores() []benchStore {
	return []benchStore{
		{"bolt", func(b *testing.B) store.Store {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"mem", func(b *testing.B) store.Store {
			s := memstore.New()
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

// payload is a project-sized JSON document.
var payload = []byte(`{"name":"my-project","description":"a project created by the benchmark","image":"ghcr.io/fullstackagent/runtime:latest","created_at":"2026-11-27T18:00:00Z","env":{"PORT":"3000"}}`)

// createProject is shaped like fsa's CreateProject: the user must exist, the project, sandbox
// and database must not, and four records are written.
func createProject(i int64) store.Txn {
	p := fmt.Sprint("p-", i)
	return store.Txn{
		Conds: []store.Cond{
			{Kind: store.KindUser, ID: "u", Version: store.AnyVersion},
			{Kind: store.KindProject, ID: p, Version: 0},
			{Kind: store.KindSandbox, ID: p, Version: 0},
			{Kind: store.KindDatabase, ID: p, Version: 0},
		},
		Ops: []store.Op{
			store.Put(store.Record{Kind: store.KindProject, ID: p, Owner: "u", Status: "CREATING", Data: payload}),
			store.Put(store.Record{Kind: store.KindSandbox, ID: p, Owner: "u", Parent: p, Status: "CREATING", Data: payload}),
			store.Put(store.Record{Kind: store.KindDatabase, ID: p, Owner: "u", Parent: p, Status: "CREATING", Data: payload}),
			store.Put(store.Record{Kind: store.KindEnvVar, ID: p + "/PORT", Owner: "u", Parent: p, Data: []byte(`{"value":"3000"}`)}),
		},
	}
}

func seedUser(b *testing.B, s store.Store) {
	b.Helper()
	if _, err := s.Commit(context.Background(), store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "u", Data: payload})}}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			seedUser(b, s)
			ctx := context.Background()
			var i int64
			for b.Loop() {
				i++
				if _, err := s.Commit(ctx, createProject(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/commit")
		})
	}
}

func BenchmarkCommitParallel(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			seedUser(b, s)
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(4) // 4 writers per core
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Commit(ctx, createProject(next.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			if bs, ok := s.(*boltstore.Store); ok {
				b.ReportMetric(float64(b.N+1)/float64(boltstore.Groups(bs)), "commits/group")
			}
		})
	}
}

// BenchmarkView reads one project and lists its children by the parent index, in a store of
// 1000 projects.
func BenchmarkView(b *testing.B) {
	const projects = 1000
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			seedUser(b, s)
			ctx := context.Background()
			for i := int64(1); i <= projects; i += 100 {
				txn := store.Txn{}
				for j := i; j < i+100; j++ {
					c := createProject(j)
					txn.Ops = append(txn.Ops, c.Ops...)
				}
				if _, err := s.Commit(ctx, txn); err != nil {
					b.Fatal(err)
				}
			}
			var i int64
			for b.Loop() {
				i++
				p := fmt.Sprint("p-", i%projects+1)
				err := s.View(ctx, func(sn store.Snapshot) error {
					if _, err := sn.Get(store.KindProject, p); err != nil {
						return err
					}
					rs, err := sn.List(store.KindSandbox, store.Filter{Parent: p})
					if err == nil && len(rs) != 1 {
						err = fmt.Errorf("listed %d sandboxes of %s, want 1", len(rs), p)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFsync measures what one durable commit must wait for at least: a 4 KiB write and an
// fsync (and an fdatasync, which bbolt uses on Linux) to a file in the benchmark's temp
// directory. Each iteration is one write+sync; p50 and p99 are reported in µs.
func BenchmarkFsync(b *testing.B) {
	syncs := []struct {
		name string
		sync func(*os.File) error
	}{
		{"fsync", (*os.File).Sync},
		{"fdatasync", func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }},
	}
	for _, sc := range syncs {
		b.Run(sc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 4096)
			lat := make([]time.Duration, 0, 1024)
			var i int64
			for b.Loop() {
				i++
				buf[0] = byte(i)
				start := time.Now()
				if _, err := f.WriteAt(buf, (i%16)*4096); err != nil {
					b.Fatal(err)
				}
				if err := sc.sync(f); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
