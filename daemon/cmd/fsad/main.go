// Command fsad is the fsa daemon: the SDK behind a Connect/gRPC/gRPC-Web API, with the
// reconcile loops, on one node (embedded bbolt) or as a Raft cluster. Configuration comes from
// flags and FSA_* environment variables (`fsad -h`); see package daemon.
//
// Subcommands (each with -h):
//
//	fsad backup  --admin URL -o FILE     download a backup of a running node (POST /admin/v1/snapshot)
//	fsad restore --data-dir D --snapshot FILE --node-id ID --raft-advertise ADDR [--members ...]
//	                                      make a backup the data directory of a new cluster's first node
//	fsad kek generate [--id ID]           print a new key-encryption key (keyring line)
//	fsad version                          print the version
//
// Exit codes: 0 after a clean shutdown (SIGINT, SIGTERM) or a successful subcommand, 1 when the
// daemon or a subcommand fails, 2 for bad configuration or arguments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/fullstackagent/fsa/daemon"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Getenv, os.Stderr)) }

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		_, _ = fmt.Fprintln(stderr, "fsad", version)
		return 0
	}
	if len(args) > 0 {
		switch args[0] {
		case "restore":
			return runRestore(args[1:], getenv, stderr)
		case "backup":
			return runBackup(args[1:], getenv, stderr)
		case "kek":
			return runKEK(args[1:], os.Stdout, stderr)
		}
	}
	cfg, err := daemon.ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		_, _ = fmt.Fprintln(stderr, "\nSubcommands: fsad backup -h, fsad restore -h, fsad kek generate -h, fsad version.")
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad:", err)
		return 2
	}
	cfg.Log.Logger = newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, cfg); err != nil {
		cfg.Log.Logger.Error("fsad failed", "err", err)
		return 1
	}
	return 0
}

// newLogger returns the daemon's logger, and routes client-go's reports (watch failures, errors
// it handles itself, all through klog) into it: one log in one format, rather than klog's own
// lines among the daemon's.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	l := daemon.NewLogger(w, level, format).With("version", version)
	klog.SetSlogLogger(l.With("component", "client-go"))
	return l
}
