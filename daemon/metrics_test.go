package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestScopedRegistererLetsEachTermRegisterAgain(t *testing.T) {
	reg := prometheus.NewRegistry()
	for term := 0; term < 3; term++ {
		s := &scopedRegisterer{reg: reg}
		require.NoError(t, s.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "fsa_test_total", Help: "h"})), "term %d", term)
		s.unregisterAll()
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Empty(t, mfs)
}
