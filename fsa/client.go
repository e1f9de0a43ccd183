package fsa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// Client is the fsa SDK. It is safe for concurrent use. Every operation reads a consistent
// snapshot, checks the business rules, and commits a compare-and-swap transaction, retrying
// when a concurrent writer got there first.
type Client struct {
	st store.Store
	// leaderLocal reads the leader's local state without a quorum round (nil if st cannot).
	leaderLocal func(context.Context, func(store.Snapshot) error) error
	now         func() time.Time
	rand        io.Reader
	maxRetries  int
	limits      Limits // of users without their own
	sizes       SizePolicy
	// lifecycle holds the default lifecycle policies; active the activity known stored.
	lifecycle LifecycleDefaults
	active    activity
	// sealer seals secret values before they enter a transaction (nil: stored in the clear,
	// for tests; see WithKeys).
	sealer *sealer
	// kube caches the users' Kubernetes clients for the sandbox operations (sandbox.go).
	kube     *k8s.Clients
	kubeOnce sync.Once
}

// Option configures a Client.
type Option func(*Client)

// WithClock sets the clock used for timestamps (time.Now by default).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRandom sets the source of ids, names and tokens (crypto/rand by default). Tokens are only
// as strong as this source: use it in tests only.
func WithRandom(r io.Reader) Option { return func(c *Client) { c.rand = r } }

// New returns a Client over st. The caller keeps ownership of st and closes it after the Client
// is no longer used.
func New(st store.Store, opts ...Option) *Client {
	c := &Client{st: st, now: time.Now, rand: defaultRand, maxRetries: 16, sizes: SizePolicy{}.withDefaults()}
	if lv, ok := st.(leaderLocalViewer); ok {
		c.leaderLocal = lv.ViewLeaderLocal
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// leaderLocalViewer is a store whose leader can read its local state without a quorum round
// (raftstore.Store.ViewLeaderLocal): the state holds every write the leader acknowledged and
// can miss only what a newer leader committed since.
type leaderLocalViewer interface {
	ViewLeaderLocal(ctx context.Context, fn func(store.Snapshot) error) error
}

type leaderLocalKey struct{}

// WithLeaderLocalRead returns a context under which GetUser, GetUserConfig, ListUserConfig,
// ProjectByID, RuntimeEnv and Epoch answer from the leader's local state without confirming
// leadership with a quorum (on raftstore; other stores read as usual, and a follower still
// answers with the store's not-leader error). The answer, found or ErrNotFound, can be stale
// only on a leader that was deposed without noticing yet: use it for checks followed by an
// operation that is itself linearizable (a commit, a linearizable read), and confirm without
// this context an answer that would refuse the request, as the daemon's session check does;
// or for reads whose consequences are fenced, as reconcile's (its writes commit only under its
// fencing token, which a deposed leader's no longer is).
func WithLeaderLocalRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, leaderLocalKey{}, true)
}

func leaderLocalRead(ctx context.Context) bool {
	v, _ := ctx.Value(leaderLocalKey{}).(bool)
	return v
}

type nodeLocalKey struct{}

// WithNodeLocalRead returns a context under which the SDK's reads (not its writes) answer from
// this node's local state, on any node, without the leader (raftstore.Store.ViewStale; other
// stores read as usual). A follower's state may lag the leader's by what it has not applied
// yet. Use it for work that only prepares for the leader's, whose results a stale answer cannot
// make wrong: reconcile.Caches warms a follower's informer caches with it, so that the node
// starts with them synced if it is elected.
func WithNodeLocalRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, nodeLocalKey{}, true)
}

func nodeLocalRead(ctx context.Context) bool {
	v, _ := ctx.Value(nodeLocalKey{}).(bool)
	return v
}

func (c *Client) timestamp() time.Time { return c.now().UTC() }

// plan builds a transaction from a snapshot.
type plan func(store.Snapshot) (store.Txn, error)

// commit runs build against a snapshot and commits the transaction it returns, retrying on
// store conflicts. A build that returns a transaction with no operations commits nothing.
//
// On a store that offers leader-local reads (raftstore), the first build reads the leader's
// local state without a quorum round. That is safe because everything build reads is either
// covered by the transaction's Conds or, as before, only as fresh as any snapshot taken before
// the commit: a local read is an earlier snapshot, the same as a slow writer, and a stale one
// makes the commit fail with ErrConflict (a deposed leader cannot commit at all). Outcomes
// that commit nothing (an error from build, a replayed call, no operations) are decided on a
// linearizable snapshot only: the build runs again on one before they are returned. Retries
// after a conflict read linearizably.
func (c *Client) commit(ctx context.Context, build plan) (int64, error) {
	local := c.leaderLocal != nil
	for attempt := 0; ; {
		view := c.st.View
		if local {
			view = c.leaderLocal
		}
		var txn store.Txn
		err := view(ctx, c.opening(ctx, func(s store.Snapshot) error {
			var err error
			txn, err = build(s)
			return err
		}))
		noop := err == nil && len(txn.Ops) == 0 && txn.SetEpoch == 0
		if local && (err != nil || noop) && ctx.Err() == nil {
			local = false // decide on a linearizable snapshot
			continue
		}
		local = false
		if err != nil {
			return 0, mapStoreErr(err)
		}
		if noop {
			return 0, nil
		}
		if err := c.sealer.sealTxn(ctx, &txn); err != nil {
			return 0, err
		}
		rev, err := c.st.Commit(ctx, txn)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= c.maxRetries {
			return 0, mapStoreErr(err)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		attempt++
	}
}

// view runs fn on a snapshot and maps store errors: this node's local state under
// WithNodeLocalRead where the store has one, else a linearizable snapshot.
func (c *Client) view(ctx context.Context, fn func(store.Snapshot) error) error {
	if sv, ok := c.st.(staleViewer); ok && nodeLocalRead(ctx) {
		return mapStoreErr(sv.ViewStale(ctx, c.opening(ctx, fn)))
	}
	return mapStoreErr(c.st.View(ctx, c.opening(ctx, fn)))
}

// viewLocalOK is view for the reads that honour WithLeaderLocalRead: under it, fn runs on the
// leader's local state, and again on a linearizable snapshot only if that fails for another
// reason than a missing record.
func (c *Client) viewLocalOK(ctx context.Context, fn func(store.Snapshot) error) error {
	if c.leaderLocal != nil && leaderLocalRead(ctx) {
		err := mapStoreErr(c.leaderLocal(ctx, c.opening(ctx, fn)))
		if err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
	return c.view(ctx, fn)
}

// mapStoreErr translates store sentinels to SDK sentinels, keeping the message.
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrInvalidArgument),
		errors.Is(err, ErrFailedPrecondition), errors.Is(err, ErrPermissionDenied), errors.Is(err, ErrConflict),
		errors.Is(err, ErrFenced):
		return err
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, store.ErrFenced):
		return fmt.Errorf("%w: %v", ErrFenced, err)
	case errors.Is(err, store.ErrInvalidTxn):
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return err
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

func notFound(what, id string) error { return fmt.Errorf("%w: %s %q", ErrNotFound, what, id) }

// cond requires r to be unchanged since it was read.
func cond(r store.Record) store.Cond { return store.Cond{Kind: r.Kind, ID: r.ID, Version: r.Version} }

// absent requires kind/id not to exist.
func absent(kind store.Kind, id string) store.Cond { return store.Cond{Kind: kind, ID: id, Version: 0} }
