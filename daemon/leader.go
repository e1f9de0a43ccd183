package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// LeaderWork is what the leader runs: the reconcile loops with fence as their token. It returns
// nil when ctx ends and an error wrapping fsa.ErrFenced when fence is no longer current.
type LeaderWork func(ctx context.Context, fence uint64) error

// raftNode is what the monitor needs of a Raft store (raftstore.Store implements it).
type raftNode interface {
	Leadership() <-chan bool
	Barrier(ctx context.Context) error
	Term() uint64
}

var _ raftNode = (*raftstore.Store)(nil)

// monitor runs the leader work exactly while this node leads, one goroutine owning it.
//
// In cluster mode it follows the store's leadership channel (buffered, latest value). On gaining
// leadership it starts, on a child context: Barrier (so the state holds everything earlier
// leaders committed), AcquireEpoch(term) (the fence), onLead (record this node's addresses),
// then the work with the term as its token. On losing leadership it cancels the child and
// waits for it; a flap (true, false, true, or a second true: lost and regained in a new term)
// restarts everything with the new term. When AcquireEpoch reports the epoch already at or
// above the term, or the work reports ErrFenced, the leadership is not usable: the monitor
// waits for the next change.
type monitor struct {
	client  *fsa.Client
	work    LeaderWork
	onLead  func(ctx context.Context) error
	log     *slog.Logger
	backoff time.Duration
	m       *daemonMetrics

	mu      sync.Mutex
	running bool
	fence   uint64
}

func (m *monitor) status() api.ReconcileStatus {
	if m == nil {
		return api.ReconcileStatus{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return api.ReconcileStatus{Running: m.running, Fence: m.fence}
}

func (m *monitor) setRunning(running bool, fence uint64) {
	m.mu.Lock()
	m.running, m.fence = running, fence
	m.mu.Unlock()
	if m.m != nil {
		v := 0.0
		if running {
			v = 1
		}
		m.m.reconcileRunning.Set(v)
		m.m.fence.Set(float64(fence))
	}
}

// runRaft follows node's leadership until ctx ends; the leader work has stopped when it returns.
func (m *monitor) runRaft(ctx context.Context, node raftNode) {
	type term struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cur *term
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case leading := <-node.Leadership():
			stop()
			if m.m != nil {
				m.m.leadershipChanges.Inc()
			}
			if !leading {
				m.log.Info("leadership lost; reconcile stopped")
				continue
			}
			child, cancel := context.WithCancel(ctx)
			cur = &term{cancel: cancel, done: make(chan struct{})}
			go func(done chan struct{}) {
				defer close(done)
				m.lead(child, node)
			}(cur.done)
		}
	}
}

// lead is one term of leadership.
func (m *monitor) lead(ctx context.Context, node raftNode) {
	term := node.Term()
	log := m.log.With("term", term)
	log.Info("leadership gained")
	start := time.Now()
	if !m.retry(ctx, log, "barrier", func() error { return node.Barrier(ctx) }) {
		return
	}
	if !m.retry(ctx, log, "acquire epoch", func() error { return m.client.AcquireEpoch(ctx, term) }) {
		return
	}
	if m.onLead != nil && !m.retry(ctx, log, "record node", func() error { return m.onLead(ctx) }) {
		return
	}
	log.Info("leader ready; starting reconcile", "ready_after", time.Since(start))
	m.runWork(ctx, log, term)
}

// runWork runs the work with fence until ctx ends or the fence goes stale, restarting it
// after a backoff when it fails otherwise.
func (m *monitor) runWork(ctx context.Context, log *slog.Logger, fence uint64) {
	for {
		m.setRunning(true, fence)
		err := m.work(ctx, fence)
		m.setRunning(false, 0)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, fsa.ErrFenced):
			log.Warn("reconcile fenced off: another leader holds a newer epoch; waiting for the next leadership change", "err", err)
			return
		case err == nil:
			log.Warn("reconcile returned early; restarting")
		default:
			log.Error("reconcile failed; restarting", "err", err, "after", m.backoff)
		}
		if !m.wait(ctx) {
			return
		}
	}
}

// retry calls fn until it succeeds (true), or returns false when ctx ends, this node is no
// longer the leader, or the epoch is already past the term.
func (m *monitor) retry(ctx context.Context, log *slog.Logger, what string, fn func() error) bool {
	for {
		err := fn()
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, raftstore.ErrNotLeader):
			log.Info(what+": no longer the leader", "err", err)
			return false
		case errors.Is(err, fsa.ErrFenced):
			log.Warn(what+": the epoch is already at or past this term; leadership not usable until the next change", "err", err)
			return false
		}
		log.Warn(what+" failed; retrying", "err", err, "after", m.backoff)
		if !m.wait(ctx) {
			return false
		}
	}
}

func (m *monitor) wait(ctx context.Context) bool {
	t := time.NewTimer(m.backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runSingle is the single-node mode: always the leader. It raises the store's epoch by one
// (fsa.Client.RunLeader) and runs the work with it until ctx ends, restarting it after a backoff
// when it fails.
func (m *monitor) runSingle(ctx context.Context) {
	for {
		var fence uint64
		err := m.client.RunLeader(ctx, func(ctx context.Context, f uint64) error {
			fence = f
			m.log.Info("single node: starting reconcile", "fence", f)
			m.setRunning(true, f)
			defer m.setRunning(false, 0)
			return m.work(ctx, f)
		})
		if ctx.Err() != nil {
			return
		}
		m.log.Error("reconcile stopped; restarting", "err", err, "fence", fence, "after", m.backoff)
		if !m.wait(ctx) {
			return
		}
	}
}
