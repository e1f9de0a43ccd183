// Command rpcbench measures fsad's API on a 3-node cluster of real fsad processes on
// 127.0.0.1 (or, with -nodes 1, on one fsad without Raft, to separate Raft's share):
//
//   - CreateProject through the generated Connect client (clients/go, which follows the
//     leader): an open loop at -rate requests/s (latency counted from each request's scheduled
//     time) and a closed loop of -clients concurrent clients (throughput and latency), each
//     request with a distinct project name, repeated -reps times;
//   - Watch fan-out: -watchers users each with one WatchProjects stream (spread over the three
//     nodes), and a writer creating one project per user at -rate requests/s; the lag of each
//     delivery is its receive time minus the time the writer's CreateProject returned (the
//     commit acknowledgement), and also minus the time the request was sent.
//
// Users sign up with a password and store a syntactically valid kubeconfig pointing at an
// address nothing listens on: CreateProject requires a kubeconfig; reconcile then fails to
// reach the cluster and records that, which is part of the load.
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

	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"
)

func main() {
	var (
		bin      = flag.String("fsad", ".cache/bin/fsad", "fsad binary (make fsad)")
		dir      = flag.String("dir", "", "data directory (temporary if empty)")
		reps     = flag.Int("reps", 3, "repetitions of the CreateProject loads")
		rate     = flag.Int("rate", 100, "offered CreateProject requests/s (open loop and watch writer)")
		openDur  = flag.Duration("open", 10*time.Second, "duration of the open-loop load")
		closed   = flag.Duration("closed", 10*time.Second, "duration of the closed-loop load")
		clients  = flag.Int("clients", 64, "concurrent clients of the closed-loop load")
		watchers = flag.Int("watchers", 1000, "watchers (one user each) of the fan-out test")
		watchRep = flag.Int("watch-reps", 3, "rounds of the fan-out test (one project per user each)")
		perUser  = flag.Int("watchers-per-user", 1, "watchers per user (users = watchers / this)")
		extra    = flag.String("fsad-args", "", "extra fsad flags, space-separated (e.g. --pprof)")
		nodes    = flag.Int("nodes", 3, "fsad processes: 3 (Raft) or 1 (single node, no Raft)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	base := *dir
	if base == "" {
		d, err := os.MkdirTemp("", "rpcbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		base = d
	}
	c, err := startCluster(ctx, *bin, base, *nodes, strings.Fields(*extra))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, n := range c.Nodes {
		log.Printf("node %s: API %s, log %s", n.ID, n.URL(), filepath.Join(base, n.ID+".log"))
	}
	b := &bench{c: c}
	if err := b.run(ctx, *reps, *rate, *openDur, *closed, *clients, *watchers, *perUser, *watchRep); err != nil {
		c.Close()
		log.Fatal(err)
	}
	fmt.Println(b.report(*rate, *openDur, *closed, *clients, *watchers))
	fmt.Println(elections(c, base))
}

// elections counts, from the nodes' logs, the elections started and the leaders that stepped
// down for lack of quorum contact during the whole run.
func elections(c *fsadtest.Cluster, base string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "Raft leadership churn over the whole run (from the node logs):\n\n| node | elections started | leader stepped down (no quorum contact) |\n|---|---:|---:|\n")
	for _, n := range c.Nodes {
		b, err := os.ReadFile(filepath.Join(base, n.ID+".log"))
		if err != nil {
			fmt.Fprintf(&w, "| %s | ? | ? |\n", n.ID)
			continue
		}
		s := string(b)
		fmt.Fprintf(&w, "| %s | %d | %d |\n", n.ID, strings.Count(s, "heartbeat timeout reached, starting election"),
			strings.Count(s, "failed to contact quorum of nodes, stepping down"))
	}
	return w.String()
}
