package fsa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// IdempotencyTTL is how long a call made with an idempotency key is remembered.
const IdempotencyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen bounds an idempotency key.
const MaxIdempotencyKeyLen = 128

type idemCtxKey struct{}

// WithIdempotencyKey returns a context under which the next mutating call (CreateProject,
// Start/Stop/DeleteProject, SetEnv, UpdateEnv, SetEnvBatch, DeleteEnv, RotateTerminalToken) is
// idempotent: the first call with the key records its outcome in the same transaction as its
// effect; a retried call with the same key, by the same user, within IdempotencyTTL, has no
// effect and returns the current state of what the first call produced. Reusing a key for a
// different call is ErrInvalidArgument.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemCtxKey{}, key)
}

// idempotencyKey returns the key in ctx, validated.
func idempotencyKey(ctx context.Context) (string, error) {
	key, _ := ctx.Value(idemCtxKey{}).(string)
	if key == "" {
		return "", nil
	}
	if len(key) > MaxIdempotencyKeyLen {
		return "", invalid("idempotency key longer than %d bytes", MaxIdempotencyKeyLen)
	}
	if err := validText("idempotency key", key, MaxIdempotencyKeyLen, true); err != nil {
		return "", err
	}
	return key, nil
}

// idemRecord is what a keyed call left behind.
type idemRecord struct {
	UserID    string    `json:"user_id"`
	Key       string    `json:"key"`
	Method    string    `json:"method"`
	Target    string    `json:"target"` // the project the call was about
	CreatedAt time.Time `json:"created_at"`
}

// replayed is returned from a plan when the call was already made.
type replayed struct{ rec *idemRecord }

func (r *replayed) Error() string { return "idempotent call already made" }

func idemID(userID, key string) string { return userID + "/" + key }

// idem is the idempotency state of one call in flight.
type idem struct {
	key, userID, method string
	now                 time.Time
}

func (c *Client) idem(ctx context.Context, userID, method string) (*idem, error) {
	key, err := idempotencyKey(ctx)
	if err != nil || key == "" {
		return nil, err
	}
	return &idem{key: key, userID: userID, method: method, now: c.timestamp()}, nil
}

// check looks the key up in s: it returns a *replayed error when the call was made already, an
// invalid-argument error when the key was used for another call, and otherwise adds the
// record's write to txn.
// A non-empty match must equal the earlier call's target (a key reused on another project is
// an error); creations pass "" since their target is new.
func (i *idem) check(s store.Snapshot, txn *store.Txn, target, match string) error {
	if i == nil {
		return nil
	}
	id := idemID(i.userID, i.key)
	r, err := s.Get(store.KindIdempotency, id)
	switch {
	case err == nil:
		prev, derr := decode[idemRecord](r)
		if derr != nil {
			return derr
		}
		if i.now.Sub(prev.CreatedAt) < IdempotencyTTL {
			if prev.Method != i.method || (match != "" && prev.Target != match) {
				return invalid("idempotency key %q was used for another call (%s)", i.key, prev.Method)
			}
			return &replayed{prev}
		}
		txn.Conds = append(txn.Conds, cond(r)) // expired: take it over
	case errors.Is(err, store.ErrNotFound):
		txn.Conds = append(txn.Conds, absent(store.KindIdempotency, id))
	default:
		return err
	}
	rec := &idemRecord{UserID: i.userID, Key: i.key, Method: i.method, Target: target, CreatedAt: i.now}
	txn.Ops = append(txn.Ops, store.Put(store.Record{Kind: store.KindIdempotency, ID: id, Owner: i.userID, Data: encode(rec)}))
	return nil
}

// asReplay reports whether err says the call was already made, and returns its record.
func asReplay(err error) (*idemRecord, bool) {
	var r *replayed
	if errors.As(err, &r) {
		return r.rec, true
	}
	return nil, false
}

// replayProject returns the current state of the project an earlier keyed call was about.
func (c *Client) replayProject(ctx context.Context, rec *idemRecord) (*Project, error) {
	p, err := c.GetProject(ctx, rec.UserID, rec.Target)
	if errors.Is(err, ErrNotFound) {
		// The project the first call made is gone since (deleted): say so plainly.
		return nil, fmt.Errorf("%w: project %s from the earlier call with this idempotency key no longer exists", ErrNotFound, rec.Target)
	}
	return p, err
}
