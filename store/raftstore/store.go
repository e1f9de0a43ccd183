package raftstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/fullstackagent/fsa/store"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	DefaultSnapshotsRetained  = 2
)

const (
	bboltLockTimeout = 5 * time.Second
	initialMmapSize  = 64 << 20
	logCacheSize     = 512
	tcpMaxPool       = 3
	tcpTimeout       = 10 * time.Second
	// closeGrace bounds how long Close waits for calls blocked on a Raft future. Raft does not
	// answer a future that was still queued when it shut down; such a call has already
	// returned ErrClosed to its caller and only its waiting goroutine remains.
	closeGrace = 5 * time.Second
)

// Config configures one node.
type Config struct {
	// NodeID is the node's stable identity in the cluster. Required.
	NodeID string
	// Dir holds the Raft log (raft.db), snapshots (snapshots/) and the state database
	// (state.db). Required; created if missing.
	Dir string

	// Transport carries Raft traffic. If nil, Open listens on BindAddr with a TCP transport
	// advertised as Advertise (BindAddr if empty) and closes it on Close; a given Transport is
	// the caller's to close.
	Transport raft.Transport
	BindAddr  string
	Advertise string

	// Bootstrap makes a node with no Raft state start a new cluster whose configuration is
	// InitialMembers (this node alone if empty). Several nodes may bootstrap with the same
	// InitialMembers; a node that already has state ignores it. Other nodes join through the
	// leader's Join.
	Bootstrap      bool
	InitialMembers []Member

	// Raft timing; see raft.Config. Zero means the Default constants above (raft's own
	// default for CommitTimeout).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotThreshold, SnapshotInterval and TrailingLogs control log compaction (raft's
	// defaults if zero). SnapshotsRetained is how many snapshots are kept on disk.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	SnapshotsRetained int

	// Retention is how many recent events the change feed and the state database keep
	// (store.DefaultRetention if zero).
	Retention int

	// SyncEveryApply fsyncs the state database on every applied batch. By default it is not:
	// the Raft log and the snapshots are the durable record, a process crash loses nothing
	// (the page cache outlives the process), and after a machine crash the node rebuilds the
	// database from its snapshot and log (see durability.go). Set it to trade commit latency
	// for not having to rebuild, or to compare the two.
	SyncEveryApply bool

	// Logger receives Raft's and this package's logs (hclog.Default() named "raftstore" if nil).
	Logger hclog.Logger
}

// Store is a store.Store replicated by Raft. Every node applies the same log to its own bbolt
// state database and feeds its own change feed, so revisions, records and events are identical
// on every node. Commit and linearizable View are served by the leader; ViewStale and Watch by
// any node.
type Store struct {
	id, addr string
	raft     *raft.Raft
	fsm      *fsm
	logs     *logStore      // raft.db
	cached   *raft.LogCache // logs as Raft sees them
	snaps    raft.SnapshotStore
	dir      string
	scrubMu  sync.Mutex // one Scrub at a time
	trans    raft.Transport
	ownTrans *raft.NetworkTransport // closed by Close when Open created it
	logger   hclog.Logger

	// readyTerm is the term in which this node, as leader, completed a barrier: from then on
	// its state holds every entry committed before its term, and a read confirmed by
	// VerifyLeader is linearizable.
	readyTerm atomic.Uint64

	leadership chan bool
	mu         sync.RWMutex // guards closed against Add on the wait groups
	closed     bool
	done       chan struct{}
	routines   sync.WaitGroup // the leadership forwarder
	waiters    sync.WaitGroup // goroutines waiting on Raft futures
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the node's state in cfg.Dir and starts Raft.
func Open(cfg Config) (_ *Store, err error) {
	if cfg.NodeID == "" {
		return nil, errors.New("raftstore: Config.NodeID is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("raftstore: Config.Dir is required")
	}
	if cfg.Transport == nil && cfg.BindAddr == "" {
		return nil, errors.New("raftstore: Config.Transport or Config.BindAddr is required")
	}
	setDefaults(&cfg)
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	logger := cfg.Logger.Named("raftstore")

	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	f, err := openFSM(cfg.Dir, cfg.Retention, logger, cfg.SyncEveryApply)
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	closers = append(closers, f.close)

	logs, err := openLogStore(filepath.Join(cfg.Dir, logFile))
	if err != nil {
		return nil, fmt.Errorf("raftstore: open raft log: %w", err)
	}
	closers = append(closers, logs.Close)

	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotsRetained, cfg.Logger.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raftstore: open snapshot store: %w", err)
	}

	// Raft is told not to restore a snapshot on start (the state database is durable and
	// already holds everything it applied); restore one here only if the database is behind
	// it, as when state.db was lost.
	if err := restoreIfBehind(f, snaps); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}

	trans := cfg.Transport
	var ownTrans *raft.NetworkTransport
	if trans == nil {
		var adv net.Addr
		if cfg.Advertise != "" {
			if adv, err = net.ResolveTCPAddr("tcp", cfg.Advertise); err != nil {
				return nil, fmt.Errorf("raftstore: advertise address: %w", err)
			}
		}
		ownTrans, err = raft.NewTCPTransportWithLogger(cfg.BindAddr, adv, tcpMaxPool, tcpTimeout, cfg.Logger.Named("transport"))
		if err != nil {
			return nil, fmt.Errorf("raftstore: listen: %w", err)
		}
		trans = ownTrans
		closers = append(closers, ownTrans.Close)
	}

	notify := make(chan bool, 16)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	rc.NotifyCh = notify
	rc.NoSnapshotRestoreOnStart = true
	rc.Logger = cfg.Logger.Named("raft")
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(logs, logs, snaps)
		if err != nil {
			return nil, fmt.Errorf("raftstore: %w", err)
		}
		if !has {
			members := cfg.InitialMembers
			if len(members) == 0 {
				members = []Member{{ID: cfg.NodeID, Address: string(trans.LocalAddr())}}
			}
			var conf raft.Configuration
			for _, m := range members {
				conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Address)})
			}
			if err := raft.BootstrapCluster(rc, logs, logs, snaps, trans, conf); err != nil {
				return nil, fmt.Errorf("raftstore: bootstrap: %w", err)
			}
		}
	}

	// The cache serves recent entries to replication without reading raft.db.
	cached, err := raft.NewLogCache(logCacheSize, logs)
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	r, err := raft.NewRaft(rc, f, cached, logs, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("raftstore: start raft: %w", err)
	}
	s := &Store{
		id:         cfg.NodeID,
		addr:       string(trans.LocalAddr()),
		raft:       r,
		fsm:        f,
		logs:       logs,
		cached:     cached,
		snaps:      snaps,
		dir:        cfg.Dir,
		trans:      trans,
		ownTrans:   ownTrans,
		logger:     logger,
		leadership: make(chan bool, 1),
		done:       make(chan struct{}),
	}
	s.routines.Add(1)
	go s.forwardLeadership(notify)
	return s, nil
}

func setDefaults(cfg *Config) {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	}
	if cfg.SnapshotsRetained == 0 {
		cfg.SnapshotsRetained = DefaultSnapshotsRetained
	}
	if cfg.Retention <= 0 {
		cfg.Retention = store.DefaultRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.Default()
	}
}

// restoreIfBehind restores the newest snapshot into f if f's state is older than it.
func restoreIfBehind(f *fsm, snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= f.appliedIndex.Load() {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	return f.Restore(rc)
}

// forwardLeadership drains Raft's notify channel so Raft never blocks on it, and keeps the
// latest value in s.leadership for the reader of Leadership.
func (s *Store) forwardLeadership(notify <-chan bool) {
	defer s.routines.Done()
	for {
		select {
		case v := <-notify:
			if !v {
				s.readyTerm.Store(0)
			}
			select {
			case s.leadership <- v:
			default:
				select {
				case <-s.leadership:
				default:
				}
				select {
				case s.leadership <- v:
				default:
				}
			}
		case <-s.done:
			return
		}
	}
}

// View implements store.Store with a linearizable read: only the leader serves it (others
// return a *NotLeaderError). The leader confirms it still leads (raft VerifyLeader) and reads
// its local state; once per term it first waits for a barrier so that its state includes
// every entry committed by earlier leaders. Use ViewStale to read a node's local state without
// that round trip.
func (s *Store) View(ctx context.Context, fn func(store.Snapshot) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.verifyLeader(ctx); err != nil {
		return err
	}
	return s.fsm.view(fn)
}

// ViewStale calls fn with a snapshot of this node's local state, on any node, without
// contacting the leader. The state may lag the leader's, but it is always a state the cluster
// committed, and it never goes backwards on one node except through a snapshot restore.
func (s *Store) ViewStale(ctx context.Context, fn func(store.Snapshot) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.fsm.view(fn)
}

// ViewLeaderLocal calls fn with this node's local state if this node is the leader, without
// the quorum round of View: only a leader serves it (others return a *NotLeaderError), and once
// per term it first waits, as View does, for a barrier so that its state includes every entry
// committed by earlier leaders. The state holds every write this leader acknowledged; what it
// can miss is what a newer leader, elected while this node has not yet noticed, committed
// since. Use it for reads whose result a later linearizable step confirms: building a
// transaction whose Conds make a stale read fail with store.ErrConflict (a deposed leader
// cannot commit at all), or a positive check before a linearizable operation.
func (s *Store) ViewLeaderLocal(ctx context.Context, fn func(store.Snapshot) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return store.ErrClosed
	}
	if s.raft.State() != raft.Leader {
		return s.notLeader(false)
	}
	if s.readyTerm.Load() != s.raft.CurrentTerm() {
		if err := s.verifyLeader(ctx); err != nil {
			return err
		}
	}
	return s.fsm.view(fn)
}

func (s *Store) verifyLeader(ctx context.Context) error {
	term := s.raft.CurrentTerm()
	if s.readyTerm.Load() != term {
		if err := s.Barrier(ctx); err != nil {
			return err
		}
		if s.raft.CurrentTerm() == term {
			s.readyTerm.Store(term)
		}
	}
	if err := s.await(ctx, s.raft.VerifyLeader()); err != nil {
		return s.raftError(err)
	}
	return nil
}

// Commit implements store.Store. It proposes txn to the Raft log on the leader and returns once
// a quorum has committed it and this node has applied it. On a follower it returns a
// *NotLeaderError naming the leader. If ctx ends first, Commit returns ctx's error and the
// transaction may still commit.
func (s *Store) Commit(ctx context.Context, txn store.Txn) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := txn.Validate(); err != nil {
		return 0, err
	}
	cmd, err := encodeTxn(txn)
	if err != nil {
		return 0, fmt.Errorf("raftstore: %w", err)
	}
	if s.isClosed() {
		return 0, store.ErrClosed
	}
	fut := s.raft.Apply(cmd, enqueueTimeout(ctx))
	if err := s.await(ctx, fut); err != nil {
		return 0, s.raftError(err)
	}
	res, ok := fut.Response().(applyResult)
	if !ok {
		return 0, fmt.Errorf("raftstore: unexpected apply response %T", fut.Response())
	}
	if res.err != nil {
		return 0, res.err
	}
	return res.rev, nil
}

// Watch implements store.Store on the node's own change feed, on any node.
func (s *Store) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	if s.isClosed() {
		return nil, store.ErrClosed
	}
	return s.fsm.feed.Watch(ctx, after)
}

// Close implements store.Store: it shuts Raft down, ends every cursor and closes the
// databases. It is idempotent. The node stays a member: a leader that is going away for good
// should TransferLeadership first, and the leader should Remove a node that will not return.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	errs := []error{s.raft.Shutdown().Error()}
	close(s.done)
	s.routines.Wait()
	if !waitTimeout(&s.waiters, closeGrace) {
		s.logger.Warn("raft futures left unanswered at shutdown")
	}
	if s.ownTrans != nil {
		errs = append(errs, s.ownTrans.Close())
	}
	errs = append(errs, s.logs.Close(), s.fsm.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raftstore: close: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// await waits for a Raft future, for ctx, or for Close, whichever comes first.
func (s *Store) await(ctx context.Context, fut raft.Future) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	s.waiters.Add(1)
	s.mu.RUnlock()
	ch := make(chan error, 1)
	go func() {
		defer s.waiters.Done()
		ch <- fut.Error()
	}()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		// Raft answers most futures on shutdown; prefer its answer when it is ready.
		select {
		case err := <-ch:
			return err
		default:
			return store.ErrClosed
		}
	}
}

// raftError maps an error from a Raft future to this package's errors.
func (s *Store) raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeader(false)
	case errors.Is(err, raft.ErrLeadershipLost):
		return s.notLeader(true)
	case errors.Is(err, raft.ErrRaftShutdown):
		return store.ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		// The enqueue timeout is the time left on ctx (enqueueTimeout), so this is ctx's
		// deadline, noticed by raft a moment before ctx itself.
		return fmt.Errorf("raftstore: %w: %w", context.DeadlineExceeded, err)
	case errors.Is(err, store.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("raftstore: %w", err)
}

func (s *Store) notLeader(uncertain bool) *NotLeaderError {
	addr, id := s.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddress: string(addr), Uncertain: uncertain}
}

// enqueueTimeout is how long raft may wait to accept a proposal: the time left on ctx, or
// forever without a deadline (ctx cancellation is still honoured by await).
func enqueueTimeout(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	if t := time.Until(d); t > time.Millisecond {
		return t
	}
	return time.Millisecond
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
