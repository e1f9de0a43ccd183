package fsa

import (
	"context"
	"errors"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// This file is the part of the SDK that reconcile loops use: it records what Kubernetes reports,
// under a fencing token, and reads what the loops need. Portals do not call it.

// Observation is what a reconcile loop saw in Kubernetes for one child of a project.
type Observation struct {
	// Version is the resource version the loop based its work on. If the resource changed since
	// (the user asked for something else), recording fails with ErrConflict and the loop must
	// re-read: an observation never overwrites a newer intent.
	Version int64
	Status  Status
	// Reason is a short machine-readable cause (CrashLoopBackOff, Applied); Message says more.
	Reason  string
	Message string
	// AppURL and TerminalURL are recorded for sandboxes when non-empty.
	AppURL, TerminalURL string
	// Namespace and Server record where the child's objects are written (Child.Namespace): only
	// while the child has none recorded, both together; ignored once it has.
	Namespace, Server string
}

// AcquireEpoch raises the store's fencing epoch to epoch. A leader calls it (after a Raft
// barrier) with its term before starting reconcile; ErrFenced if the epoch is already as high.
func (c *Client) AcquireEpoch(ctx context.Context, epoch uint64) error {
	_, err := c.st.Commit(ctx, store.Txn{SetEpoch: epoch})
	return mapStoreErr(err)
}

// RunLeader runs fn as the single leader of an embedded, single-node deployment: it raises the
// store's epoch by one (fencing off any earlier process that used the same store) and calls fn
// with the new epoch as its fencing token, returning when fn does. A replicated deployment uses
// its Raft term instead (see package daemon).
func (c *Client) RunLeader(ctx context.Context, fn func(ctx context.Context, fence uint64) error) error {
	for {
		cur, err := c.Epoch(ctx)
		if err != nil {
			return err
		}
		err = c.AcquireEpoch(ctx, cur+1)
		if errors.Is(err, ErrFenced) {
			continue // another process raised it first: go above it
		}
		if err != nil {
			return fmt.Errorf("acquire epoch: %w", err)
		}
		return fn(ctx, cur+1)
	}
}

// Epoch returns the store's current fencing epoch.
func (c *Client) Epoch(ctx context.Context) (uint64, error) {
	var e uint64
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error { e = s.Epoch(); return nil })
	return e, err
}

// Record records an observation of the project child of kind k (ResourceSandbox,
// ResourceDatabase) with the given id, recomputes its project's status in the same transaction,
// and returns the project. Nothing is written when nothing changed. The write commits only while
// fence is the store's epoch (ErrFenced otherwise; fence 0 disables the check, for tests and
// tools). When every child is TERMINATED after a delete, the project and everything it owns are
// removed and the returned project is TERMINATED.
func (c *Client) Record(ctx context.Context, fence uint64, k ResourceKind, id string, obs Observation) (*Project, error) {
	ck := findKind(func(ck *childKind) bool { return ck.resource == k })
	if ck == nil {
		return nil, invalid("%q is not a kind of project child", k)
	}
	if err := validID(string(k)+" id", id); err != nil {
		return nil, err
	}
	switch obs.Status {
	case StatusPartial, "":
		return nil, invalid("cannot record status %q", obs.Status)
	}
	if !obs.Status.Valid() {
		return nil, invalid("unknown status %q", obs.Status)
	}
	var out *Project
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		r, err := s.Get(ck.store, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound(string(k), id)
		}
		if err != nil {
			return store.Txn{}, err
		}
		if obs.Version != 0 && r.Version != obs.Version {
			return store.Txn{}, fmt.Errorf("%w: %s %s changed (version %d, observed %d)", ErrConflict, k, id, r.Version, obs.Version)
		}
		p, st, err := loadProject(s, "", r.Parent)
		if err != nil {
			return store.Txn{}, err
		}
		o := ck.get(&p.Children) // loaded with the project: r is one of its children
		ch := o.Common()
		now := c.timestamp()
		txn := store.Txn{Fence: fence, Conds: []store.Cond{cond(st.project), cond(r)}}
		if obs.Status == StatusTerminated && ch.Desired != StatusTerminated {
			return store.Txn{}, fmt.Errorf("%w: %s %s is wanted %s, not TERMINATED", ErrFailedPrecondition, k, id, ch.Desired)
		}
		if (obs.Namespace == "") != (obs.Server == "") {
			return store.Txn{}, invalid("namespace and server are recorded together")
		}
		placed := false
		if !ch.Placed() && obs.Namespace != "" {
			ch.Namespace, ch.Server, placed = obs.Namespace, obs.Server, true
			// A project's children live together: a sibling placed first decides.
			for _, k := range childKinds {
				if sib := k.get(&p.Children); sib != nil && sib != o && sib.Common().Placed() {
					ch.Namespace, ch.Server = sib.Common().Namespace, sib.Common().Server
					break
				}
			}
		}
		own := o.observe(obs)
		if ch.Status == obs.Status && ch.Reason == obs.Reason && !own {
			if placed {
				// Only the placement is new: record it, keeping the child's last change time,
				// on the siblings as read (see above).
				for _, other := range st.children {
					if other.Kind != ck.store {
						txn.Conds = append(txn.Conds, cond(other))
					}
				}
				txn.Ops = append(txn.Ops, store.Put(childRecord(ck, o)))
				out = p
				return txn, nil
			}
			out = p
			return store.Txn{}, nil // nothing changed: write nothing
		}
		if ch.Status != obs.Status {
			ch.Conditions = appendCondition(ch.Conditions, Condition{Time: now, From: ch.Status, To: obs.Status, Reason: obs.Reason, Message: obs.Message})
		}
		ch.Status, ch.Reason = obs.Status, obs.Reason
		for _, other := range st.children {
			if other.Kind != ck.store {
				txn.Conds = append(txn.Conds, cond(other))
			}
		}
		p.Status = Aggregate(p.childStatuses()...)
		p.UpdatedAt = now
		out = p
		if p.Status == StatusTerminated {
			// Every child is gone from Kubernetes: remove the project and all it owns.
			txn.Ops = append(txn.Ops, store.Delete(store.KindProject, p.ID))
			if err := releaseName(s, &txn, p); err != nil {
				return store.Txn{}, err
			}
			for _, other := range st.children {
				txn.Ops = append(txn.Ops, store.Delete(other.Kind, other.ID))
			}
			envs, err := s.List(store.KindEnvVar, store.Filter{Parent: p.ID})
			if err != nil {
				return store.Txn{}, err
			}
			for _, e := range envs {
				txn.Ops = append(txn.Ops, store.Delete(store.KindEnvVar, e.ID))
			}
			// The data the delete kept is remembered for operators (ListRetained).
			for _, k := range childKinds {
				o := k.get(&p.Children)
				if o == nil || o.Common().Purge && o.Common().Reason != ReasonClusterChanged || neverWritten(o.Common()) {
					continue
				}
				c := o.Common()
				rd := &RetainedData{ID: c.ID, UserID: c.UserID, ProjectID: p.ID, ProjectName: p.Name, Kind: k.resource,
					ResourceName: o.ResourceName(), Namespace: c.Namespace, Server: c.Server, DeletedAt: now}
				txn.Ops = append(txn.Ops, store.Put(store.Record{Kind: store.KindRetained, ID: rd.ID, Owner: rd.UserID, Data: encode(rd)}))
			}
			return txn, nil
		}
		ch.UpdatedAt = now
		if p.Status == StatusStopped {
			// A project STOPPED with an auto-delete announces its deletion.
			announceOn(p, ch, now)
		}
		txn.Ops = append(txn.Ops, store.Put(childRecord(ck, o)), store.Put(projectRecord(p)))
		return txn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("record %s %s: %w", k, id, err)
	}
	return out, nil
}

// Records reports whether recording obs over child o, as read, would write anything: a new
// status or reason, a first placement, or a new URL. A loop holding the child as read skips
// Record when it would not, and with it the transaction's reads (Record decides again inside
// its transaction; an intent changed meanwhile reaches the loop as a change of its own).
func Records(o ChildObject, obs Observation) bool {
	ch := o.Common()
	if ch.Status != obs.Status || ch.Reason != obs.Reason || !ch.Placed() && obs.Namespace != "" {
		return true
	}
	switch v := o.(type) {
	case *Sandbox:
		cp := *v
		return cp.observe(obs)
	case *Database:
		cp := *v
		return cp.observe(obs)
	}
	return true
}

// ProjectByID returns a project with its children regardless of user. For reconcile and
// operators; never serve it to a user.
func (c *Client) ProjectByID(ctx context.Context, projectID string) (*Project, error) {
	var p *Project
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		var err error
		p, _, err = loadProject(s, "", projectID)
		return err
	})
	return p, err
}

// RuntimeEnv returns every variable of a project with its value, the platform's terminal token
// included, for injection into the sandbox. For reconcile only: never log or serve the result.
func (c *Client) RuntimeEnv(ctx context.Context, projectID string) ([]*EnvVar, error) {
	var out []*EnvVar
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		var err error
		out, err = listEnv(s, projectID)
		return err
	})
	return out, err
}

// neverWritten reports whether no Kubernetes object of the child can exist: it was never placed
// (placement is recorded before the first write) and never got further than CREATING (a child
// of an fsad from before placements were recorded did, if it was ever applied).
func neverWritten(c *Child) bool {
	if c.Placed() {
		return false
	}
	for _, cond := range c.Conditions {
		switch cond.To {
		case StatusCreating, StatusTerminating, StatusTerminated:
		default:
			return false
		}
	}
	return true
}
