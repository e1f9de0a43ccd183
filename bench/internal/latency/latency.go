// Package latency summarises the latency samples of the benchmark programs: count, errors,
// rate, nearest-rank p50 and p99, min and max.
package latency

import (
	"fmt"
	"slices"
	"time"
)

// Stats summarises one load's samples.
type Stats struct {
	N, Errors int
	Rate      float64
	P50, P99  time.Duration
	Min, Max  time.Duration
}

// Summarize sorts lat in place and summarises it; wall is the load's duration (for Rate).
func Summarize(lat []time.Duration, errs int, wall time.Duration) Stats {
	slices.Sort(lat)
	s := Stats{N: len(lat), Errors: errs}
	if wall > 0 {
		s.Rate = float64(len(lat)) / wall.Seconds()
	}
	if len(lat) > 0 {
		s.P50, s.P99 = Pct(lat, 50), Pct(lat, 99)
		s.Min, s.Max = lat[0], lat[len(lat)-1]
	}
	return s
}

// Pct is the nearest-rank percentile p of sorted samples (which must not be empty).
func Pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// String is one line: count, errors, rate, p50, p99 and max.
func (s Stats) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
	return fmt.Sprintf("n=%d err=%d %.0f/s p50=%s p99=%s max=%s", s.N, s.Errors, s.Rate, ms(s.P50), ms(s.P99), ms(s.Max))
}
