package fsa

import (
	"context"
	"errors"
	"sort"

	"github.com/fullstackagent/fsa/store"
)

// ListRetained returns the data deleted projects left behind (see PurgeData), oldest deletion
// first: every user's when userID is empty (operators), else that user's. Never serve another
// user's to a user.
func (c *Client) ListRetained(ctx context.Context, userID string) ([]*RetainedData, error) {
	if userID != "" {
		if err := validID("user id", userID); err != nil {
			return nil, err
		}
	}
	var out []*RetainedData
	err := c.view(ctx, func(s store.Snapshot) error {
		out = out[:0]
		rs, err := s.List(store.KindRetained, store.Filter{Owner: userID})
		if err != nil {
			return err
		}
		for _, r := range rs {
			rd, err := decode[RetainedData](r)
			if err != nil {
				return err
			}
			out = append(out, rd)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].DeletedAt.Equal(out[j].DeletedAt) {
			return out[i].DeletedAt.Before(out[j].DeletedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// GetRetained returns one record of retained data; ErrNotFound if there is none.
func (c *Client) GetRetained(ctx context.Context, id string) (*RetainedData, error) {
	if err := validID("retained data id", id); err != nil {
		return nil, err
	}
	var rd *RetainedData
	err := c.view(ctx, func(s store.Snapshot) error {
		r, err := s.Get(store.KindRetained, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("retained data", id)
		}
		if err != nil {
			return err
		}
		rd, err = decode[RetainedData](r)
		return err
	})
	return rd, err
}

// ForgetRetained removes the record of retained data once its objects are purged from
// Kubernetes (see reconcile.Purge); ErrNotFound if there is none.
func (c *Client) ForgetRetained(ctx context.Context, id string) error {
	if err := validID("retained data id", id); err != nil {
		return err
	}
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		r, err := s.Get(store.KindRetained, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("retained data", id)
		}
		if err != nil {
			return store.Txn{}, err
		}
		return store.Txn{Conds: []store.Cond{cond(r)}, Ops: []store.Op{store.Delete(store.KindRetained, id)}}, nil
	})
	return err
}
