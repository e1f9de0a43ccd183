package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/memstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

func openTarget(ctx context.Context, name, dir, etcdBin string) (writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	switch name {
	case "mem":
		return &storeWriter{s: memstore.New()}, nil
	case "bolt":
		s, err := boltstore.Open(filepath.Join(dir, "state.db"))
		if err != nil {
			return nil, err
		}
		return &storeWriter{s: s}, nil
	case "raft":
		return openRaft(ctx, dir, raftTimeout, false)
	case "raftsync":
		return openRaft(ctx, dir, raftTimeout, true)
	case "raft1s":
		return openRaft(ctx, dir, time.Second, false)
	case "etcd":
		return openEtcd(ctx, dir, etcdBin)
	}
	return nil, fmt.Errorf("unknown target %q", name)
}

// storeWriter writes through a store.Store.
type storeWriter struct {
	s store.Store
}

func (w *storeWriter) Write(ctx context.Context, key string, v []byte) error {
	_, err := w.s.Commit(ctx, store.Txn{
		Conds: []store.Cond{{Kind: store.KindEnvVar, ID: key, Version: 0}},
		Ops:   []store.Op{store.Put(store.Record{Kind: store.KindEnvVar, ID: key, Data: v})},
	})
	return err
}

func (w *storeWriter) Close() error {
	return w.s.Close()
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Raft timing of the raftstore target (flags).
var raftTimeout, raftCommitTimeout time.Duration

// openRaft starts three raftstore nodes on TCP 127.0.0.1 with the given heartbeat and election
// timeout (lease: half; fsad's default is 300 ms) and returns a writer that follows the leader.
// Target "raft1s" is the same with 1 s; "raftsync" fsyncs every node's state database on
// every applied batch (raftstore.Config.SyncEveryApply), as raftstore did before.
func openRaft(ctx context.Context, dir string, timeout time.Duration, syncEveryApply bool) (writer, error) {
	addrs, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	var members []raftstore.Member
	for i, a := range addrs {
		members = append(members, raftstore.Member{ID: fmt.Sprint("n", i+1), Address: a})
	}
	var nodes []*raftstore.Store
	closeAll := func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}
	for i, m := range members {
		s, err := raftstore.Open(raftstore.Config{
			NodeID: m.ID, Dir: filepath.Join(dir, m.ID), BindAddr: addrs[i],
			Bootstrap: true, InitialMembers: members,
			HeartbeatTimeout: timeout, ElectionTimeout: timeout,
			LeaderLeaseTimeout: timeout / 2, CommitTimeout: raftCommitTimeout,
			SyncEveryApply: syncEveryApply,
			Logger:         hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
		})
		if err != nil {
			closeAll()
			return nil, err
		}
		nodes = append(nodes, s)
	}
	w := &raftWriter{nodes: nodes}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := w.leader(wctx); err != nil {
		closeAll()
		return nil, err
	}
	return w, nil
}

// raftWriter commits on the node that leads, following leadership changes: a write refused
// with a NotLeaderError is retried on the new leader (safe: the write is a create whose
// "absent" precondition turns a duplicate into a conflict, counted as success because the
// first attempt committed).
type raftWriter struct {
	nodes   []*raftstore.Store
	cur     atomic.Pointer[raftstore.Store]
	changes atomic.Int64 // leader changes the writer followed
	mu      sync.Mutex
}

func (w *raftWriter) leader(ctx context.Context) (*raftstore.Store, error) {
	if s := w.cur.Load(); s != nil && s.IsLeader() {
		return s, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for _, n := range w.nodes {
			if n.IsLeader() && n.Barrier(ctx) == nil {
				if old := w.cur.Swap(n); old != nil && old != n {
					w.changes.Add(1)
				}
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no raft leader: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (w *raftWriter) Write(ctx context.Context, key string, v []byte) error {
	for attempt := 0; ; attempt++ {
		s, err := w.leader(ctx)
		if err != nil {
			return err
		}
		err = (&storeWriter{s: s}).Write(ctx, key, v)
		switch {
		case err == nil:
			return nil
		case attempt > 0 && errors.Is(err, store.ErrConflict):
			return nil // an earlier, uncertain attempt committed
		case errors.Is(err, raftstore.ErrNotLeader):
			continue
		}
		return err
	}
}

func (w *raftWriter) Close() error {
	var errs []error
	for _, n := range w.nodes {
		errs = append(errs, n.Close())
	}
	if n := w.changes.Load(); n > 0 {
		log.Printf("raft: the writer followed %d leader changes", n)
	}
	return errors.Join(errs...)
}

// etcdWriter writes to a 3-member etcd cluster through its leader's client URL.
type etcdWriter struct {
	cli   *clientv3.Client
	procs []*exec.Cmd
	done  []chan struct{}
}

func openEtcd(ctx context.Context, dir, bin string) (writer, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := 0; i < 3; i++ {
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i+1, ports[2*i+1]))
	}
	w := &etcdWriter{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprint("m", i+1)
		client, peer := "http://"+ports[2*i], "http://"+ports[2*i+1]
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			_ = w.Close()
			return nil, err
		}
		cmd := exec.Command(bin,
			"--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "storebench", "--log-level", "warn",
			"--listen-metrics-urls", "", "--quota-backend-bytes", fmt.Sprint(8<<30))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			_ = logf.Close()
			_ = w.Close()
			return nil, fmt.Errorf("start etcd: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
		w.procs, w.done = append(w.procs, cmd), append(w.done, done)
	}
	endpoints := []string{"http://" + ports[0], "http://" + ports[2], "http://" + ports[4]}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		leader, err := etcdLeader(wctx, endpoints)
		if err == nil {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{leader}, DialTimeout: 5 * time.Second})
			if err != nil {
				_ = w.Close()
				return nil, err
			}
			w.cli = cli
			return w, nil
		}
		select {
		case <-wctx.Done():
			_ = w.Close()
			return nil, fmt.Errorf("etcd leader: %w (last: %v)", wctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// etcdLeader returns the client URL of the member that leads.
func etcdLeader(ctx context.Context, endpoints []string) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ids := map[uint64]string{}
	var leader uint64
	for _, ep := range endpoints {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			return "", err
		}
		ids[st.Header.MemberId] = ep
		leader = st.Leader
	}
	if ep, ok := ids[leader]; ok && leader != 0 {
		return ep, nil
	}
	return "", errors.New("no leader yet")
}

func (w *etcdWriter) Write(ctx context.Context, key string, v []byte) error {
	resp, err := w.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, string(v))).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd: %s exists", key)
	}
	return nil
}

func (w *etcdWriter) Close() error {
	var err error
	if w.cli != nil {
		err = w.cli.Close()
	}
	for i, p := range w.procs {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		select {
		case <-w.done[i]:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-w.done[i]
		}
	}
	return err
}
