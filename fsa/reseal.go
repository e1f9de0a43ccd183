package fsa

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// KeyReport says how the store's secret values are held (see CheckKeys).
type KeyReport struct {
	// Records is the number of records with secret fields; Plain of those with one in the
	// clear (written before encryption was turned on).
	Records, Plain int
	// ByKey counts sealed fields by the id of the key-encryption key that wraps their data key.
	ByKey map[string]int
}

// Pending is the number of records Reseal would rewrite under primary: in the clear or sealed
// under another key-encryption key.
func (r KeyReport) Pending(primary string) int {
	n := r.Plain
	for kid, c := range r.ByKey {
		if kid != primary {
			n += c
		}
	}
	return n
}

func (r KeyReport) String() string {
	ids := make([]string, 0, len(r.ByKey))
	for kid, n := range r.ByKey {
		ids = append(ids, fmt.Sprintf("%s: %d", kid, n))
	}
	sort.Strings(ids)
	return fmt.Sprintf("%d records with secrets, %d in the clear, sealed by key {%s}", r.Records, r.Plain, strings.Join(ids, ", "))
}

// secretKinds are the kinds with secret fields, in a fixed order.
var secretKinds = []store.Kind{store.KindEnvVar, store.KindIdentity, store.KindUserConfig}

// CheckKeys reads every record holding secret values and reports how they are held. It opens
// each distinct data key once, so it returns an error wrapping ErrKeyUnavailable when a
// key-encryption key the data needs is missing from the client's keyring (or the client has
// none), and one wrapping ErrDecrypt when a key under the right id is not the right key. On
// raftstore it reads this node's local state without the leader, so a node can check at start
// that it holds the keys of what it already has, before serving.
func (c *Client) CheckKeys(ctx context.Context) (KeyReport, error) {
	view := c.st.View
	if sv, ok := c.st.(staleViewer); ok {
		view = sv.ViewStale
	}
	rep := KeyReport{ByKey: map[string]int{}}
	type dk struct{ kid, wrapped string }
	keys := map[dk]bool{}
	err := view(ctx, func(s store.Snapshot) error {
		for _, kind := range secretKinds {
			rs, err := s.List(kind, store.Filter{})
			if err != nil {
				return err
			}
			for _, r := range rs {
				plain, hs, err := sealedState(r)
				if err != nil {
					return err
				}
				rep.Records++
				if plain {
					rep.Plain++
				}
				for _, h := range hs {
					rep.ByKey[h.kid]++
					keys[dk{h.kid, string(h.wrapped)}] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return rep, mapStoreErr(err)
	}
	for k := range keys {
		if c.sealer == nil {
			return rep, fmt.Errorf("%w: the store holds values sealed by key-encryption key %q and %v", ErrKeyUnavailable, k.kid, errNoKeys)
		}
		if _, err := c.sealer.open(ctx, k.kid, []byte(k.wrapped)); err != nil {
			return rep, fmt.Errorf("the store holds values sealed by key-encryption key %q: %w", k.kid, err)
		}
	}
	return rep, nil
}

// ResealOptions paces Reseal.
type ResealOptions struct {
	// Batch is the number of records rewritten per transaction (64 when 0).
	Batch int
	// Pause is the wait between two transactions (none when 0): with Batch, the rate limit.
	Pause time.Duration
}

// Reseal rewrites every record whose secret values are in the clear or sealed under another
// key-encryption key than the keyring's primary, sealing them under the primary: the one-time
// encryption of a store written before encryption was turned on, and the re-wrap after a key
// rotation. It is leader work: each transaction carries fence (0: none), so a deposed leader's
// Reseal stops with ErrFenced. A record changed meanwhile is re-read (and was sealed by its
// writer). It returns the number of records rewritten.
func (c *Client) Reseal(ctx context.Context, fence uint64, opts ResealOptions) (int, error) {
	if c.sealer == nil {
		return 0, fmt.Errorf("reseal: %v", errNoKeys)
	}
	if opts.Batch <= 0 {
		opts.Batch = 64
	}
	primary := c.sealer.kw.PrimaryKeyID()
	type ref struct {
		kind store.Kind
		id   string
	}
	var todo []ref
	err := c.view(ctx, func(s store.Snapshot) error {
		todo = todo[:0]
		for _, kind := range secretKinds {
			rs, err := raw(s).List(kind, store.Filter{})
			if err != nil {
				return err
			}
			for _, r := range rs {
				if needsReseal(r, primary) {
					todo = append(todo, ref{kind, r.ID})
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reseal: %w", err)
	}
	done := 0
	for len(todo) > 0 {
		batch := todo[:min(opts.Batch, len(todo))]
		todo = todo[len(batch):]
		var n int
		_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
			n = 0
			txn := store.Txn{Fence: fence}
			for _, rf := range batch {
				stored, err := raw(s).Get(rf.kind, rf.id)
				if err != nil {
					continue // deleted since
				}
				if !needsReseal(stored, primary) {
					continue
				}
				r, err := s.Get(rf.kind, rf.id) // opened
				if err != nil {
					return store.Txn{}, err
				}
				txn.Conds = append(txn.Conds, cond(r))
				txn.Ops = append(txn.Ops, store.Put(r))
				n++
			}
			return txn, nil
		})
		if err != nil {
			return done, fmt.Errorf("reseal: %w", err)
		}
		done += n
		if opts.Pause > 0 && len(todo) > 0 {
			t := time.NewTimer(opts.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return done, ctx.Err()
			case <-t.C:
			}
		}
	}
	return done, nil
}

// needsReseal reports whether r has a secret field in the clear or sealed under another KEK
// than primary. A record that cannot be parsed is left to the reads that will report it.
func needsReseal(r store.Record, primary string) bool {
	plain, hs, err := sealedState(r)
	if err != nil {
		return false
	}
	if plain {
		return true
	}
	for _, h := range hs {
		if h.kid != primary {
			return true
		}
	}
	return false
}
