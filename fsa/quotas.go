package fsa

import (
	"context"
	"errors"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// Limits bound what one user holds at once. Zero means no limit.
type Limits struct {
	// Projects counts the user's projects that are not being deleted.
	Projects int `json:"projects,omitempty"`
	// Running counts the user's projects meant to run: created or started, not stopped or
	// deleted since (their sandbox's desired state is RUNNING, whatever Kubernetes reports).
	Running int `json:"running,omitempty"`
}

// Usage is what counts against a user's Limits.
type Usage struct {
	Projects int `json:"projects"`
	Running  int `json:"running"`
}

// Quota is a user's limits in force and their use.
type Quota struct {
	// Limits in force: the user's own when an admin set them (Custom), else the client's
	// defaults (WithDefaultLimits).
	Limits Limits
	Custom bool
	Usage  Usage
}

// maxLimit bounds a limit: larger values are a mistake, not a policy.
const maxLimit = 1_000_000

// WithDefaultLimits sets the limits of users without their own (no limits by default).
func WithDefaultLimits(l Limits) Option { return func(c *Client) { c.limits = l } }

// Validate checks every limit is 0 (none) or a sane positive count.
func (l Limits) Validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"projects", l.Projects}, {"running", l.Running}} {
		if v.n < 0 || v.n > maxLimit {
			return fmt.Errorf("%w: limit %s = %d: want 0 (no limit) to %d", ErrInvalidArgument, v.name, v.n, maxLimit)
		}
	}
	return nil
}

// The use is kept in the user's record, changed by the transactions that change it (create,
// start, stop, delete), so a limit is checked against a value that the same transaction's
// precondition on the user record keeps true until commit: of concurrent creations by a user one
// below the limit, exactly one succeeds. A user record written before use was recorded (Usage
// nil) is counted from the user's projects once, by the first such transaction.

// usage returns u's use: as recorded, or counted from the user's projects.
func usage(s store.Snapshot, u *User) (Usage, error) {
	if u.Usage != nil {
		return *u.Usage, nil
	}
	var out Usage
	projects, err := s.List(store.KindProject, store.Filter{Owner: u.ID})
	if err != nil {
		return Usage{}, err
	}
	counted := map[string]bool{}
	for _, r := range projects {
		pn, err := decode[projectName](r)
		if err != nil {
			return Usage{}, err
		}
		if live(pn.Status) {
			out.Projects++
			counted[r.ID] = true
		}
	}
	sandboxes, err := s.List(store.KindSandbox, store.Filter{Owner: u.ID})
	if err != nil {
		return Usage{}, err
	}
	for _, r := range sandboxes {
		sb, err := decode[Child](r)
		if err != nil {
			return Usage{}, err
		}
		if counted[r.Parent] && sb.Desired == StatusRunning {
			out.Running++
		}
	}
	return out, nil
}

// limitsOf returns the limits in force for u.
func (c *Client) limitsOf(u *User) (Limits, bool) {
	if u.Limits != nil {
		return *u.Limits, true
	}
	return c.limits, false
}

// charge adds to txn the change of user record ur's use by d, with the precondition that the
// record is unchanged. It refuses, with ErrResourceExhausted, a change that takes a use above
// its limit.
func (c *Client) charge(s store.Snapshot, txn *store.Txn, ur store.Record, d Usage) error {
	u, err := decodeUser(ur)
	if err != nil {
		return err
	}
	use, err := usage(s, u)
	if err != nil {
		return err
	}
	lim, _ := c.limitsOf(u)
	next := Usage{Projects: use.Projects + d.Projects, Running: use.Running + d.Running}
	if d.Projects > 0 && lim.Projects > 0 && next.Projects > lim.Projects {
		return fmt.Errorf("%w: project limit reached: you have %d projects and may have %d; delete one first",
			ErrResourceExhausted, use.Projects, lim.Projects)
	}
	if d.Running > 0 && lim.Running > 0 && next.Running > lim.Running {
		return fmt.Errorf("%w: running limit reached: %d of your projects are running and %d may run; stop one first",
			ErrResourceExhausted, use.Running, lim.Running)
	}
	if next.Projects < 0 || next.Running < 0 {
		// A use recorded wrong would go negative: count again rather than store nonsense.
		u.Usage = nil
		if next, err = usage(s, u); err != nil {
			return err
		}
	}
	u.Usage = &next
	txn.Conds = append(txn.Conds, cond(ur))
	txn.Ops = append(txn.Ops, store.Put(userRecord(u)))
	return nil
}

// Quota returns the limits in force for the user and their use.
func (c *Client) Quota(ctx context.Context, userID string) (*Quota, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	var q *Quota
	err := c.view(ctx, func(s store.Snapshot) error {
		u, err := getUser(s, userID)
		if err != nil {
			return err
		}
		use, err := usage(s, u)
		if err != nil {
			return err
		}
		lim, custom := c.limitsOf(u)
		q = &Quota{Limits: lim, Custom: custom, Usage: use}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quota of user %s: %w", userID, err)
	}
	return q, nil
}

// SetUserLimits sets the user's own limits (nil: back to the defaults). It is an admin's call:
// the caller checks the role. A limit below the user's current use is refused (stop or delete
// first), so a limit in force is never already exceeded.
func (c *Client) SetUserLimits(ctx context.Context, userID string, l *Limits) (*Quota, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if l != nil {
		if err := l.Validate(); err != nil {
			return nil, err
		}
	}
	var q *Quota
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		r, err := s.Get(store.KindUser, userID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("user", userID)
		}
		if err != nil {
			return store.Txn{}, err
		}
		u, err := decodeUser(r)
		if err != nil {
			return store.Txn{}, err
		}
		use, err := usage(s, u)
		if err != nil {
			return store.Txn{}, err
		}
		u.Limits, u.Usage = l, &use
		lim, custom := c.limitsOf(u)
		if l != nil {
			if l.Projects > 0 && use.Projects > l.Projects {
				return store.Txn{}, fmt.Errorf("%w: limit projects = %d is below the user's %d projects", ErrFailedPrecondition, l.Projects, use.Projects)
			}
			if l.Running > 0 && use.Running > l.Running {
				return store.Txn{}, fmt.Errorf("%w: limit running = %d is below the user's %d running projects", ErrFailedPrecondition, l.Running, use.Running)
			}
		}
		q = &Quota{Limits: lim, Custom: custom, Usage: use}
		return store.Txn{Conds: []store.Cond{cond(r)}, Ops: []store.Op{store.Put(userRecord(u))}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("set limits of user %s: %w", userID, err)
	}
	return q, nil
}

// countUse is what project p counts for in its user's Usage.
func countUse(p *Project) Usage {
	if !live(p.Status) {
		return Usage{}
	}
	u := Usage{Projects: 1}
	if p.Sandbox != nil && p.Sandbox.Desired == StatusRunning {
		u.Running = 1
	}
	return u
}
