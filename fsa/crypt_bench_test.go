package fsa_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/fsa"
)

// BenchmarkSealing measures CreateProject and SetEnv with secrets stored in the clear ("plain",
// as before sealing) and sealed ("sealed"), side by side on each store. Besides ns/op it
// reports each call's latency percentiles (p50-µs, p99-µs) and the process's CPU time per call
// (cpu-µs/op: user and system, the GC included; steadier than latencies on a shared machine).
// Run with -count to interleave the two modes:
//
//	go test -run='^$' -bench=Sealing -benchtime=400x -count=6 ./fsa/
func BenchmarkSealing(b *testing.B) {
	kr := testKeyring(b, testKEK(b, "bench"))
	modes := []struct {
		name string
		opts []fsa.Option
	}{{"plain", nil}, {"sealed", []fsa.Option{fsa.WithKeys(kr)}}}
	for _, storeName := range []string{"memstore", "boltstore"} {
		for _, op := range []string{"CreateProject", "SetEnv"} {
			for _, m := range modes {
				b.Run(fmt.Sprintf("%s/%s/%s", op, storeName, m.name), func(b *testing.B) {
					ctx := context.Background()
					st := benchStores[storeName](b)
					defer st.Close()
					c := fsa.New(st, m.opts...)
					// CreateProject checks the names of the user's projects: spread the projects
					// over 32 users so that the cost does not grow with b.N.
					var users []*fsa.User
					for i := 0; i < 32; i++ {
						u, err := c.CreateUser(ctx, fsa.UserSpec{Name: "bench"})
						if err != nil {
							b.Fatal(err)
						}
						setKubeconfig(b, ctx, c, u.ID)
						users = append(users, u)
					}
					u := users[0]
					p, err := c.CreateProject(ctx, u.ID, fsa.ProjectSpec{Name: "env"})
					if err != nil {
						b.Fatal(err)
					}
					value := "s3cr3t-" + fmt.Sprint(time.Now().UnixNano()) + "-0123456789abcdef0123456789abcdef"
					lat := make([]time.Duration, 0, b.N)
					b.ReportAllocs()
					b.ResetTimer()
					cpu0 := processCPU()
					for i := 0; i < b.N; i++ {
						start := time.Now()
						switch op {
						case "CreateProject":
							_, err = c.CreateProject(ctx, users[i%len(users)].ID, fsa.ProjectSpec{Name: fmt.Sprint("p", i)})
						case "SetEnv":
							_, err = c.SetEnv(ctx, u.ID, p.ID, fsa.EnvSpec{Key: fmt.Sprint("K", i%20), Value: value, Secret: true})
						}
						lat = append(lat, time.Since(start))
						if err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/op")
					slices.Sort(lat)
					pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e3 }
					b.ReportMetric(pct(0.50), "p50-µs")
					b.ReportMetric(pct(0.99), "p99-µs")
				})
			}
		}
	}
}
