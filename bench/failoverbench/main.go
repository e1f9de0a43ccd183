// Command failoverbench measures fsad failover on a three-node cluster of real processes on
// 127.0.0.1 (test-only program; run by `make bench-failover`):
//
//   - unplanned: SIGKILL the leader, then time until a write through a client that follows
//     leader hints (and moves on from nodes that do not answer) first succeeds; the killed node
//     is restarted and caught up before the next trial;
//   - planned: ask the leader to transfer leadership, then time until the first successful
//     write through the same kind of client (still pointed at the old leader).
//
// Each Raft timing profile (-profiles) gets its own fresh cluster, one after the other in the same
// run. It prints a Markdown table of p50, p99 (nearest rank) and max per profile and kind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "failoverbench:", err)
		os.Exit(1)
	}
}

// profiles are the Raft timings compared in one run, so that their ratios hold on one machine
// under one load.
var profiles = map[string][]string{
	"default": nil, // fsad's defaults: heartbeat and election 300 ms, lease 150 ms
	"500ms":   {"--raft-heartbeat-timeout", "500ms", "--raft-election-timeout", "500ms", "--raft-lease-timeout", "250ms"},
}

func run(out io.Writer) error {
	var (
		bin     = flag.String("bin", "", "fsad binary (built into a temporary directory when empty)")
		trials  = flag.Int("trials", 20, "unplanned failovers (SIGKILL of the leader) per profile")
		planned = flag.Int("planned", 20, "planned handovers (TransferLeadership) per profile")
		keep    = flag.Bool("keep", false, "keep the work directory (data and logs)")
		names   = flag.String("profiles", "default", "comma-separated Raft timing profiles to measure: default, 500ms")
	)
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "failoverbench-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "work directory:", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	if *bin == "" {
		if *bin, err = fsadtest.Build(ctx, dir); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "| profile | measurement | trials | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, name := range strings.Split(*names, ",") {
		args, ok := profiles[name]
		if !ok {
			return fmt.Errorf("unknown profile %q", name)
		}
		if err := measure(ctx, out, name, *bin, filepath.Join(dir, name), args, *trials, *planned); err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
	}
	return nil
}

func measure(ctx context.Context, out io.Writer, profile, bin, dir string, args []string, trials, planned int) error {
	c, err := fsadtest.Start(ctx, fsadtest.Options{Bin: bin, Dir: dir, Args: args})
	if err != nil {
		return err
	}
	defer c.Close()
	var kills, handovers, transfers []time.Duration
	for i := 0; i < trials; i++ {
		d, err := unplanned(ctx, c, i)
		if err != nil {
			return fmt.Errorf("unplanned trial %d: %w", i, err)
		}
		kills = append(kills, d)
		fmt.Fprintf(os.Stderr, "%s unplanned %2d: %v\n", profile, i, d.Round(time.Millisecond))
	}
	for i := 0; i < planned; i++ {
		call, d, err := handover(ctx, c, i)
		if err != nil {
			return fmt.Errorf("planned trial %d: %w", i, err)
		}
		handovers = append(handovers, d)
		transfers = append(transfers, call)
		fmt.Fprintf(os.Stderr, "%s planned   %2d: %v (transfer call %v)\n", profile, i, d.Round(time.Millisecond), call.Round(time.Millisecond))
	}
	row(out, profile, "unplanned: SIGKILL leader → first successful write", kills)
	row(out, profile, "planned: TransferLeadership → first successful write", handovers)
	row(out, profile, "planned: TransferLeadership call alone", transfers)
	return nil
}

// unplanned kills the leader and times the first write acknowledged after it.
func unplanned(ctx context.Context, c *fsadtest.Cluster, i int) (time.Duration, error) {
	if err := c.WaitHealthy(ctx, len(c.Nodes)); err != nil {
		return 0, err
	}
	leader, _, err := c.Leader(ctx)
	if err != nil {
		return 0, err
	}
	w := &fsadtest.Writer{C: c}
	if _, err := w.CreateUser(ctx, fmt.Sprintf("warm-%d", i)); err != nil { // the client knows the leader
		return 0, err
	}
	start := time.Now()
	if err := leader.Kill(); err != nil {
		return 0, err
	}
	if _, err := w.CreateUser(ctx, fmt.Sprintf("after-kill-%d", i)); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := leader.Start(); err != nil {
		return 0, err
	}
	return d, nil
}

// handover transfers leadership and times the call and the first write acknowledged after it.
func handover(ctx context.Context, c *fsadtest.Cluster, i int) (call, total time.Duration, err error) {
	if err := c.WaitHealthy(ctx, len(c.Nodes)); err != nil {
		return 0, 0, err
	}
	leader, _, err := c.Leader(ctx)
	if err != nil {
		return 0, 0, err
	}
	w := &fsadtest.Writer{C: c}
	if _, err := w.CreateUser(ctx, fmt.Sprintf("warm-planned-%d", i)); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if _, err := leader.Cluster().TransferLeadership(ctx, connect.NewRequest(&fsav1.TransferLeadershipRequest{})); err != nil {
		return 0, 0, err
	}
	call = time.Since(start)
	if _, err := w.CreateUser(ctx, fmt.Sprintf("after-transfer-%d", i)); err != nil {
		return 0, 0, err
	}
	return call, time.Since(start), nil
}

func row(out io.Writer, profile, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	fmt.Fprintf(out, "| %s | %s | %d | %s | %s | %s |\n", profile, name, len(s), ms(pct(s, 50)), ms(pct(s, 99)), ms(s[len(s)-1]))
}

// pct is the nearest-rank percentile of sorted durations.
func pct(s []time.Duration, p int) time.Duration {
	k := (p*len(s) + 99) / 100
	if k < 1 {
		k = 1
	}
	return s[k-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
