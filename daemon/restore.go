package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// This file is `fsad restore`: the offline command that makes a backup (POST
// /admin/v1/snapshot, `fsad backup`) the data directory of the first node of a new cluster.

// RestoreConfig is what `fsad restore` is told.
type RestoreConfig struct {
	// DataDir is the new node's data directory: missing or empty.
	DataDir string
	// Snapshot is the path of the backup file.
	Snapshot string
	// NodeID and RaftAdvertise are the --node-id and --raft-advertise (the Raft address peers
	// dial) the node will be started with.
	NodeID        string
	RaftAdvertise string
	// Members is the new cluster's configuration; empty means the node alone (the others then
	// join it with --join).
	Members []raftstore.Member
}

// ParseRestoreConfig parses the arguments of `fsad restore` (without the subcommand). Each flag
// may also be given as its environment variable (EnvName: --data-dir is FSA_DATA_DIR); the
// command line wins. It returns flag.ErrHelp for -h.
func ParseRestoreConfig(args []string, getenv func(string) string, out io.Writer) (RestoreConfig, error) {
	var cfg RestoreConfig
	var members string
	fs := flag.NewFlagSet("fsad restore", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		_, _ = fmt.Fprint(out, `Usage: fsad restore --data-dir DIR --snapshot FILE --node-id ID --raft-advertise HOST:PORT [--members ID=HOST:PORT,...]

Prepares DIR, which must be missing or empty, as the data directory of the first node of a NEW
cluster holding the state of FILE: a backup taken with POST /admin/v1/snapshot or fsad backup.
Nothing is contacted and nothing is written to DIR if FILE is not such a backup.

Then start fsad on DIR with the same --node-id and a --raft-addr/--raft-advertise giving the
same Raft address, WITHOUT --bootstrap: it elects itself and leads the new cluster. Start the
other members with empty data directories and --join pointing at it; they receive the state
as a Raft snapshot. The backup's fencing epoch is reset (the new leader takes its own term) and
its node records, which describe the old cluster, are deleted.

Flags (each also read from FSA_<NAME>, e.g. FSA_DATA_DIR):
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data directory of the new node (missing or empty)")
	fs.StringVar(&cfg.Snapshot, "snapshot", "", "backup file (from POST /admin/v1/snapshot or fsad backup)")
	fs.StringVar(&cfg.NodeID, "node-id", "", "node id the node will run with")
	fs.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "Raft address peers will dial (the node's --raft-advertise, or its --raft-addr)")
	fs.StringVar(&members, "members", "", "new cluster configuration id=host:port,... including this node (default: this node alone)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return RestoreConfig{}, err
	}
	var errs []error
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if cfg.Snapshot == "" {
		errs = append(errs, errors.New("--snapshot is required"))
	}
	if cfg.NodeID == "" {
		errs = append(errs, errors.New("--node-id is required"))
	}
	if err := checkHostPort("raft advertise", cfg.RaftAdvertise); err != nil {
		errs = append(errs, fmt.Errorf("--raft-advertise: %w", err))
	}
	ms, err := ParseMembers(members)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Members = ms
	if err := errors.Join(errs...); err != nil {
		return RestoreConfig{}, err
	}
	return cfg, nil
}

// ParseMembers parses "id=host:port,id=host:port" (empty: none).
func ParseMembers(s string) ([]raftstore.Member, error) {
	var out []raftstore.Member
	for _, item := range splitList(s) {
		id, addr, ok := strings.Cut(item, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" {
			return nil, fmt.Errorf("--members: %q: want id=host:port", item)
		}
		if err := checkHostPort("member "+id, addr); err != nil {
			return nil, fmt.Errorf("--members: %w", err)
		}
		out = append(out, raftstore.Member{ID: id, Address: addr})
	}
	return out, nil
}

// Restore runs `fsad restore`: it reads cfg.Snapshot and prepares cfg.DataDir (see
// raftstore.RestoreBackup), writing progress to progress. Besides what raftstore does, it
// deletes the backup's node records (kind store.KindNode): they give the old cluster's API
// addresses, which no longer answer; the new leader records its own when it leads, and each
// joiner's when it joins.
func Restore(ctx context.Context, cfg RestoreConfig, progress io.Writer) (raftstore.RestoreInfo, error) {
	f, err := os.Open(cfg.Snapshot)
	if err != nil {
		return raftstore.RestoreInfo{}, fmt.Errorf("restore: %w", err)
	}
	defer func() { _ = f.Close() }()
	logger := hclog.New(&hclog.LoggerOptions{Name: "fsad restore", Output: progress, Level: hclog.Info})
	info, err := raftstore.RestoreBackup(ctx, cfg.DataDir, f, raftstore.RestoreConfig{
		NodeID:  cfg.NodeID,
		Address: cfg.RaftAdvertise,
		Members: cfg.Members,
		Edit:    deleteNodeRecords,
		Logger:  logger,
	})
	if err != nil {
		return raftstore.RestoreInfo{}, fmt.Errorf("restore %s: %w", cfg.Snapshot, err)
	}
	return info, nil
}

func deleteNodeRecords(s store.Snapshot) (store.Txn, error) {
	recs, err := s.List(store.KindNode, store.Filter{})
	if err != nil {
		return store.Txn{}, err
	}
	var txn store.Txn
	for _, r := range recs {
		txn.Ops = append(txn.Ops, store.Delete(store.KindNode, r.ID))
	}
	return txn, nil
}
