package fsa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// Client is the fsa SDK. It is safe for concurrent use. Every operation reads a consistent
// snapshot, checks the business rules, and commits a compare-and-swap transaction, retrying
// when a concurrent writer got there first.
type Client struct {
	st         store.Store
	now        func() time.Time
	rand       io.Reader
	maxRetries int
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
	c := &Client{st: st, now: time.Now, rand: defaultRand, maxRetries: 16}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Store returns the store the client works on, for components built on the SDK (reconcile).
func (c *Client) Store() store.Store { return c.st }

func (c *Client) timestamp() time.Time { return c.now().UTC() }

// plan builds a transaction from a snapshot.
type plan func(store.Snapshot) (store.Txn, error)

// commit runs build against a fresh snapshot and commits the transaction it returns, retrying on
// store conflicts. A build that returns a transaction with no operations commits nothing.
func (c *Client) commit(ctx context.Context, build plan) (int64, error) {
	for attempt := 0; ; attempt++ {
		var txn store.Txn
		err := c.st.View(ctx, func(s store.Snapshot) error {
			var err error
			txn, err = build(s)
			return err
		})
		if err != nil {
			return 0, mapStoreErr(err)
		}
		if len(txn.Ops) == 0 && txn.SetEpoch == 0 {
			return 0, nil
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
	}
}

// view runs fn on a snapshot and maps store errors.
func (c *Client) view(ctx context.Context, fn func(store.Snapshot) error) error {
	return mapStoreErr(c.st.View(ctx, fn))
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
