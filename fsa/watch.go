package fsa

import (
	"context"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// ResourceKind names what a change is about.
type ResourceKind string

// Resource kinds on the watch stream.
const (
	ResourceProject  ResourceKind = "project"
	ResourceSandbox  ResourceKind = "sandbox"
	ResourceDatabase ResourceKind = "database"
	ResourceEnv      ResourceKind = "env"
	ResourceConfig   ResourceKind = "config"
)

// ResourceChange is one project, sandbox, database, environment variable or user setting
// written or removed. Exactly one of the pointers is set, matching Kind (for a child,
// Child(Kind) returns it). Values of environment variables and settings are always withheld.
type ResourceChange struct {
	Kind    ResourceKind
	Deleted bool
	Project *Project
	Children
	Env    *EnvVar
	Config *UserConfig
}

// WatchEvent is one committed transaction's visible changes.
type WatchEvent struct {
	// Revision identifies the transaction; resume a watch after it.
	Revision int64
	Changes  []ResourceChange
}

// Watcher follows the store's change feed for one user (or all users).
type Watcher struct {
	cur    *store.Cursor
	userID string
	every  bool
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// EveryRevision makes Next return every transaction, one with nothing visible to the watcher as
// an event without changes, so the caller knows each revision it has read up to.
func EveryRevision() WatchOption { return func(w *Watcher) { w.every = true } }

// Watch follows every change to userID's projects, sandboxes, databases, environment
// variables and settings committed after revision after (ProjectList.Revision, or
// LocalRevision for "now"), waiting for one the store has not reached yet. With userID "" it
// follows every user's (for reconcile and operators). If after is older than the retained
// window the error wraps store.ErrCompacted: list again and watch from the new revision.
func (c *Client) Watch(ctx context.Context, userID string, after int64, opts ...WatchOption) (*Watcher, error) {
	if userID != "" {
		if err := validID("user id", userID); err != nil {
			return nil, err
		}
	}
	cur, err := c.st.Watch(ctx, after)
	if err != nil {
		return nil, fmt.Errorf("watch after revision %d: %w", after, err)
	}
	w := &Watcher{cur: cur, userID: userID}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// staleViewer reads this node's local state without the leader (raftstore.Store.ViewStale).
type staleViewer interface {
	ViewStale(ctx context.Context, fn func(store.Snapshot) error) error
}

// LocalRevision returns the revision of the state this node's change feed follows: on
// raftstore this node's local state, read without a round trip to the leader (a follower's
// may lag the leader's); on other stores the store's revision. A Watch after it starts "now".
func (c *Client) LocalRevision(ctx context.Context) (int64, error) {
	view := c.st.View
	if sv, ok := c.st.(staleViewer); ok {
		view = sv.ViewStale
	}
	var rev int64
	err := view(ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil })
	return rev, mapStoreErr(err)
}

// Next blocks until the next transaction with a change visible to the watcher, and returns it.
// Transactions with nothing visible are skipped (the revision still advances, see Revision),
// unless the watcher was opened with EveryRevision.
func (w *Watcher) Next() (WatchEvent, error) {
	for {
		ev, err := w.cur.Next()
		if err != nil {
			return WatchEvent{}, err
		}
		out := WatchEvent{Revision: ev.Revision}
		for _, ch := range ev.Changes {
			r := ch.Record
			if w.userID != "" && r.Owner != w.userID {
				continue
			}
			rc, ok, err := resourceChange(ch)
			if err != nil {
				return WatchEvent{}, fmt.Errorf("decode change at revision %d: %w", ev.Revision, err)
			}
			if ok {
				out.Changes = append(out.Changes, rc)
			}
		}
		if len(out.Changes) > 0 || w.every {
			return out, nil
		}
	}
}

// Revision is the revision of the last transaction the watcher consumed (visible or not):
// resuming after it loses nothing and repeats nothing.
func (w *Watcher) Revision() int64 { return w.cur.Revision() }

func resourceChange(ch store.Change) (ResourceChange, bool, error) {
	r := ch.Record
	rc := ResourceChange{Deleted: ch.Type == store.ChangeDelete}
	var err error
	switch r.Kind {
	case store.KindProject:
		rc.Kind = ResourceProject
		rc.Project, err = decodeProject(r)
	case store.KindEnvVar:
		rc.Kind = ResourceEnv
		var v *EnvVar
		v, err = decode[EnvVar](withoutSealed(r))
		if v != nil {
			v.Value, v.Redacted = "", true
			rc.Env = v
		}
	case store.KindUserConfig:
		rc.Kind = ResourceConfig
		var v *UserConfig
		v, err = decode[UserConfig](withoutSealed(r))
		if v != nil {
			v.Value, v.Redacted = "", true
			rc.Config = v
		}
	default:
		k := findKind(func(ck *childKind) bool { return ck.store == r.Kind })
		if k == nil {
			return rc, false, nil
		}
		rc.Kind = k.resource
		var o ChildObject
		if o, err = k.decode(r); err == nil {
			k.set(&rc.Children, o)
		}
	}
	if err != nil {
		return rc, false, err
	}
	return rc, true, nil
}
