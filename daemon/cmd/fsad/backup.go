package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fullstackagent/fsa/daemon"
)

// backupConfig is what `fsad backup` is told.
type backupConfig struct {
	admin     string // API base URL of the node
	tokenFile string
	token     string // from tokenFile or FSA_ADMIN_TOKEN; a secret, never printed
	out       string
}

func parseBackup(args []string, getenv func(string) string, stderr io.Writer) (backupConfig, error) {
	var cfg backupConfig
	fs := flag.NewFlagSet("fsad backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprint(stderr, `Usage: fsad backup --admin URL -o FILE [--token-file F]

Asks the node at URL (its API, e.g. http://10.0.0.1:8080; prefer the leader: a follower may be a
few entries behind) for a backup (POST /admin/v1/snapshot) and writes it to FILE, which must not
exist. FILE appears only once complete. The admin token is read from --token-file, else from
FSA_ADMIN_TOKEN; it is never taken as a flag value. Restore with fsad restore.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.admin, "admin", "", "API base URL of the node to back up (http or https)")
	fs.StringVar(&cfg.tokenFile, "token-file", "", "file holding the admin token (default: $FSA_ADMIN_TOKEN)")
	fs.StringVar(&cfg.out, "o", "", "output file (must not exist)")
	if err := fs.Parse(args); err != nil {
		return backupConfig{}, err
	}
	if fs.NArg() > 0 {
		return backupConfig{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var errs []error
	if u, err := url.Parse(cfg.admin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--admin %q: want the node's API URL, e.g. http://127.0.0.1:8080", cfg.admin))
	}
	if cfg.out == "" {
		errs = append(errs, errors.New("-o is required"))
	}
	switch {
	case cfg.tokenFile != "":
		b, err := os.ReadFile(cfg.tokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--token-file: %w", err))
		}
		cfg.token = strings.TrimSpace(string(b))
	default:
		cfg.token = getenv(daemon.EnvName("admin-token"))
	}
	if cfg.token == "" && len(errs) == 0 {
		errs = append(errs, errors.New("no admin token: give --token-file or set FSA_ADMIN_TOKEN"))
	}
	return cfg, errors.Join(errs...)
}

// runBackup is `fsad backup`.
func runBackup(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseBackup(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad backup:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	info, err := backup(ctx, cfg)
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "fsad backup:", err)
		return 1
	}
	_, _ = fmt.Fprintf(stderr, "fsad backup: wrote %s: %d bytes, Raft index %d, term %d\n", cfg.out, info.Size, info.Index, info.Term)
	return 0
}

// backup downloads the snapshot into a temporary file beside cfg.out and renames it into place
// once complete and synced; cfg.out must not exist.
func backup(ctx context.Context, cfg backupConfig) (_ daemon.SnapshotInfo, err error) {
	if _, err := os.Lstat(cfg.out); err == nil {
		return daemon.SnapshotInfo{}, fmt.Errorf("%s exists", cfg.out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(cfg.out), "."+filepath.Base(cfg.out)+".partial-*")
	if err != nil {
		return daemon.SnapshotInfo{}, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	c := &daemon.AdminClient{BaseURL: cfg.admin, Token: cfg.token}
	info, err := c.Snapshot(ctx, tmp)
	if err != nil {
		return info, fmt.Errorf("snapshot from %s: %w", cfg.admin, err)
	}
	if err := tmp.Sync(); err != nil {
		return info, err
	}
	if err := tmp.Close(); err != nil {
		return info, err
	}
	// Link, not rename: fails instead of replacing a file created meanwhile.
	if err := os.Link(tmp.Name(), cfg.out); err != nil {
		return info, err
	}
	return info, os.Remove(tmp.Name())
}
