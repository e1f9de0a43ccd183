package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fullstackagent/fsa/bench/internal/latency"
)

// writer is one target under test.
type writer interface {
	// Write creates key with value, failing if it exists; it returns once durable.
	Write(ctx context.Context, key string, value []byte) error
	Close() error
}

var value = []byte(strings.Repeat("v", 256))

// slowLog, if positive, logs every open-loop write at least this slow, with its scheduled
// time: a tail is easier to explain once you see whether it is one stall or many (flag -slow).
var slowLog time.Duration

// stats summarises one load.
// stats summarises one load (latency.Stats).
type stats = latency.Stats

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func summarize(lat []time.Duration, errs int, wall time.Duration) stats {
	return latency.Summarize(lat, errs, wall)
}

func loadNames(cfg runConfig) []string {
	out := []string{"open"}
	for _, w := range cfg.writers {
		out = append(out, "w"+strconv.Itoa(w))
	}
	return out
}

var keySeq atomic.Int64

func nextKey() string { return "k" + strconv.FormatInt(keySeq.Add(1), 36) }

func runLoads(ctx context.Context, w writer, cfg runConfig) (map[string]stats, error) {
	out := map[string]stats{}
	// A short warm-up: connections, first fsyncs, leader caches.
	if _, err := closedLoop(ctx, w, 4, 500*time.Millisecond); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	s, err := openLoop(ctx, w, cfg.rate, cfg.open)
	if err != nil {
		return nil, err
	}
	out["open"] = s
	for _, n := range cfg.writers {
		s, err := closedLoop(ctx, w, n, cfg.closed)
		if err != nil {
			return nil, err
		}
		out["w"+strconv.Itoa(n)] = s
	}
	return out, nil
}

// openLoop issues rate writes per second for d, each from its scheduled start time.
func openLoop(ctx context.Context, w writer, rate int, d time.Duration) (stats, error) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				wg.Wait()
				return stats{}, ctx.Err()
			case <-time.After(wait):
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := w.Write(wctx, nextKey(), value)
			lat[i] = time.Since(at)
			failed[i] = err != nil
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var ok []time.Duration
	errs := 0
	for i := range lat {
		if failed[i] {
			errs++
			continue
		}
		ok = append(ok, lat[i])
	}
	if errs > n/10 {
		return stats{}, fmt.Errorf("open loop: %d of %d writes failed", errs, n)
	}
	if slowLog > 0 {
		for i := range lat {
			if lat[i] >= slowLog {
				log.Printf("open loop: write %d scheduled at +%s took %s", i, time.Duration(i)*interval, ms(lat[i]))
			}
		}
	}
	return summarize(ok, errs, wall), nil
}

// closedLoop runs writers goroutines writing back to back for d.
func closedLoop(ctx context.Context, w writer, writers int, d time.Duration) (stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			var ferr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
				t0 := time.Now()
				err := w.Write(wctx, nextKey(), value)
				wcancel()
				if err != nil {
					bad++
					if ferr == nil {
						ferr = err
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if errs > (len(lat)+errs)/10 {
		return stats{}, fmt.Errorf("%d writers: %d of %d writes failed, first: %w", writers, errs, len(lat)+errs, firstErr)
	}
	return summarize(lat, errs, wall), nil
}

// fsyncProbe times 4 KiB appends each followed by fdatasync (what bbolt and raft-boltdb call on
// Linux) in dir for d.
func fsyncProbe(ctx context.Context, dir string, d time.Duration) (stats, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fsync.probe"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return stats{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	start := time.Now()
	for off := int64(0); time.Since(start) < d && ctx.Err() == nil; off += int64(len(buf)) {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, off%(64<<20)); err != nil {
			return stats{}, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return stats{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	return summarize(lat, 0, time.Since(start)), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
