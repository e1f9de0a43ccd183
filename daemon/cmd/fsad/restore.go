package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fullstackagent/fsa/daemon"
)

// runRestore is `fsad restore`.
func runRestore(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := daemon.ParseRestoreConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad restore:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	info, err := daemon.Restore(ctx, cfg, stderr)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad restore:", err)
		return 1
	}
	var members []string
	for _, m := range info.Members {
		members = append(members, m.ID+"="+m.Address)
	}
	_, _ = fmt.Fprintf(stderr, `fsad restore: done: %s holds revision %d at Raft index %d, term %d (fencing epoch %d reset to 0); members %s.
Start it WITHOUT --bootstrap:  fsad --data-dir %s --node-id %s --raft-addr <bind host:port> --raft-advertise %s ...
Start every other member with an EMPTY data directory and --join <this node's API URL>.
`, cfg.DataDir, info.Revision, info.Index, info.Term, info.OldEpoch, strings.Join(members, ","),
		cfg.DataDir, cfg.NodeID, cfg.RaftAdvertise)
	return 0
}
