package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key (a user id, or a client address before login).
// Buckets idle for longer than limiterIdle are dropped when the map grows, so memory stays
// bounded by the number of recently active keys.
type limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const (
	limiterIdle  = 10 * time.Minute
	limiterPrune = 10000
)

// newLimiter returns nil (no limit) when rl disables the limit.
func newLimiter(rl RateLimit, now func() time.Time) *limiter {
	if rl.PerSecond < 0 {
		return nil
	}
	return &limiter{limit: rate.Limit(rl.PerSecond), burst: rl.Burst, now: now, buckets: map[string]*bucket{}}
}

// allow reports whether key may make one more request now.
func (l *limiter) allow(key string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= limiterPrune {
			for k, v := range l.buckets {
				if now.Sub(v.seen) > limiterIdle {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}
