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
}

// Watch follows every change to userID's projects, sandboxes, databases and environment
// variables committed after revision after (use ProjectList.Revision). With userID "" it follows
// every user's (for reconcile and operators). If after is older than the retained window the
// error wraps store.ErrCompacted: list again and watch from the new revision.
func (c *Client) Watch(ctx context.Context, userID string, after int64) (*Watcher, error) {
	if userID != "" {
		if err := validID("user id", userID); err != nil {
			return nil, err
		}
	}
	cur, err := c.st.Watch(ctx, after)
	if err != nil {
		return nil, fmt.Errorf("watch after revision %d: %w", after, err)
	}
	return &Watcher{cur: cur, userID: userID}, nil
}

// Next blocks until the next transaction with a change visible to the watcher, and returns it.
// Transactions with nothing visible are skipped (the revision still advances, see Revision).
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
				return WatchEvent{}, err
			}
			if ok {
				out.Changes = append(out.Changes, rc)
			}
		}
		if len(out.Changes) > 0 {
			return out, nil
		}
	}
}

// Revision is the revision of the last transaction the watcher consumed (visible or not):
// resuming after it loses nothing and repeats nothing.
func (w *Watcher) Revision() int64 { return w.cur.Revision() }

// DecodeChange turns a store change into a resource change; ok is false for records that are
// not projects, sandboxes, databases or environment variables.
func DecodeChange(ch store.Change) (ResourceChange, bool, error) { return resourceChange(ch) }

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
		v, err = decode[EnvVar](r)
		if v != nil {
			v.Value, v.Redacted = "", true
			rc.Env = v
		}
	case store.KindUserConfig:
		rc.Kind = ResourceConfig
		var v *UserConfig
		v, err = decode[UserConfig](r)
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
