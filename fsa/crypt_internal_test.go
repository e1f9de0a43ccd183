package fsa

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// BenchmarkSealRecord measures what sealing adds to a write and opening to a read, per
// record: a terminal token (an environment variable) and a 5 KiB kubeconfig (a setting).
//
//	go test -run='^$' -bench=SealRecord -benchmem ./fsa/
func BenchmarkSealRecord(b *testing.B) {
	k, err := GenerateKEK("bench")
	if err != nil {
		b.Fatal(err)
	}
	kr, err := NewKeyring(k)
	if err != nil {
		b.Fatal(err)
	}
	s := newSealer(kr)
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    store.Record
	}{
		{"token", envRecord(&EnvVar{ProjectID: "p1", UserID: "u1", Key: EnvTTYDAccessToken, Value: strings.Repeat("t", 43),
			Category: CategoryTTYD, Secret: true, Platform: true, UpdatedAt: now})},
		{"kubeconfig-5KiB", configRecord(&UserConfig{UserID: "u1", Key: ConfigKubeconfig, Value: strings.Repeat("k", 5<<10),
			Category: CategoryKubeconfig, Secret: true, UpdatedAt: now})},
	} {
		sealed, err := s.sealRecord(ctx, tc.r)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("seal/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.sealRecord(ctx, tc.r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("open/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.openRecord(ctx, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
