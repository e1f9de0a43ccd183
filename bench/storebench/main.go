// Command storebench measures store commits side by side in one run: memstore, boltstore, a
// 3-node raftstore over TCP on 127.0.0.1 and, when an etcd binary is given, a 3-member etcd
// cluster on 127.0.0.1 (fsync on), all under the same loads, with the disk's fsync latency
// measured in the same repetition.
//
// Loads, per target and repetition:
//   - open: an open-loop schedule of -rate writes/s for -open; each write starts at its
//     scheduled time in its own goroutine and its latency counts from that time, so a stall
//     shows up in the latency of every write scheduled during it;
//   - w1 and w64: closed loops of 1 and 64 writers for -closed each: throughput and latency.
//
// Every write is a compare-and-swap create of one 256-byte record under a fresh key: a
// store.Txn with "absent" precondition and one put; on etcd a Txn If(Version(key) = 0) Then Put.
//
// The output is a Markdown report: one row per repetition, then medians with min–max spread
// and the ratios to etcd computed per repetition.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		reps     = flag.Int("reps", 3, "repetitions (targets interleaved within each)")
		rate     = flag.Int("rate", 100, "offered writes/s of the open-loop load")
		openDur  = flag.Duration("open", 10*time.Second, "duration of the open-loop load")
		closed   = flag.Duration("closed", 5*time.Second, "duration of each closed-loop load")
		writers  = flag.String("writers", "1,64", "closed-loop writer counts")
		etcdBin  = flag.String("etcd", "", "etcd binary; empty skips etcd")
		targets  = flag.String("targets", "mem,bolt,raft,etcd", "targets to run, in order: mem, bolt, raft, raftsync (raft fsync'ing the state database on every apply), raft1s (raft with 1 s timeouts), etcd")
		dir      = flag.String("dir", "", "directory for data (a temporary directory if empty)")
		fsyncDur = flag.Duration("fsync", 3*time.Second, "duration of the fsync probe per repetition")
		raftTO   = flag.Duration("raft-timeout", 300*time.Millisecond, "raft heartbeat and election timeout (lease: half); fsad's default")
		slow     = flag.Duration("slow", 0, "log open-loop writes at least this slow, with when they were scheduled (0: off)")
		raftCT   = flag.Duration("raft-commit-timeout", 0, "raft commit timeout (0: raft's default, as fsad)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "storebench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		base = d
	}
	ws, err := parseInts(*writers)
	if err != nil {
		log.Fatalf("-writers: %v", err)
	}
	raftTimeout, raftCommitTimeout = *raftTO, *raftCT
	slowLog = *slow
	cfg := runConfig{rate: *rate, open: *openDur, closed: *closed, writers: ws, fsync: *fsyncDur}
	var names []string
	for _, t := range strings.Split(*targets, ",") {
		if t == "etcd" && *etcdBin == "" {
			continue
		}
		names = append(names, t)
	}
	res, err := run(ctx, base, *etcdBin, names, *reps, cfg)
	if err != nil {
		log.Fatal(err)
	}
	report(os.Stdout, res, names, cfg)
}

type runConfig struct {
	rate    int
	open    time.Duration
	closed  time.Duration
	writers []int
	fsync   time.Duration
}

// results[rep][target][load]
type results []map[string]map[string]stats

func run(ctx context.Context, base, etcdBin string, names []string, reps int, cfg runConfig) (results, error) {
	var out results
	for rep := 0; rep < reps; rep++ {
		m := map[string]map[string]stats{}
		dir := filepath.Join(base, fmt.Sprint("rep", rep))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		fs, err := fsyncProbe(ctx, dir, cfg.fsync)
		if err != nil {
			return nil, fmt.Errorf("fsync probe: %w", err)
		}
		m["fsync"] = map[string]stats{"fsync": fs}
		log.Printf("rep %d fsync: %s", rep, fs)
		for _, name := range names {
			tdir := filepath.Join(dir, name)
			w, err := openTarget(ctx, name, tdir, etcdBin)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			loads, err := runLoads(ctx, w, cfg)
			cerr := w.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if cerr != nil {
				return nil, fmt.Errorf("%s: close: %w", name, cerr)
			}
			m[name] = loads
			for _, l := range loadNames(cfg) {
				log.Printf("rep %d %s %s: %s", rep, name, l, loads[l])
			}
			_ = os.RemoveAll(tdir)
		}
		out = append(out, m)
	}
	return out, nil
}
