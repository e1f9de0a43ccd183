package fsa

import (
	"context"
	"errors"
	"fmt"

	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// Limits bound what one user holds at once. Zero means no limit.
type Limits struct {
	// Projects counts the user's projects that are not being deleted.
	Projects int `json:"projects,omitempty"`
	// Running counts the user's projects meant to run: created or started, not stopped or
	// deleted since (their sandbox's desired state is RUNNING, whatever Kubernetes reports).
	Running int `json:"running,omitempty"`
	// CPU (millicores) and Memory (bytes) count the running projects' sizes (see Size): the
	// limits of the sandbox and of the database, what a running project may take. A stopped
	// project holds no CPU or memory.
	CPU    int64 `json:"cpu,omitempty"`
	Memory int64 `json:"memory,omitempty"`
	// Storage (bytes) counts the home and database volumes of every project that is not being
	// deleted, running or stopped: a stopped project keeps its volumes.
	Storage int64 `json:"storage,omitempty"`
}

// Usage is what counts against a user's Limits.
type Usage struct {
	Projects int   `json:"projects"`
	Running  int   `json:"running"`
	CPU      int64 `json:"cpu"`
	Memory   int64 `json:"memory"`
	Storage  int64 `json:"storage"`
}

func (u Usage) add(d Usage) Usage {
	return Usage{Projects: u.Projects + d.Projects, Running: u.Running + d.Running, CPU: u.CPU + d.CPU,
		Memory: u.Memory + d.Memory, Storage: u.Storage + d.Storage}
}

func (u Usage) sub(d Usage) Usage {
	return u.add(Usage{Projects: -d.Projects, Running: -d.Running, CPU: -d.CPU, Memory: -d.Memory, Storage: -d.Storage})
}

// negative reports whether any use is below zero.
func (u Usage) negative() bool {
	return u.Projects < 0 || u.Running < 0 || u.CPU < 0 || u.Memory < 0 || u.Storage < 0
}

// usageVersion is the version of the use a user record keeps (User.UsageVersion): a record
// with an older one (kept before CPU, memory and storage were counted) is counted again.
const usageVersion = 2

// Quota is a user's limits in force and their use.
type Quota struct {
	// Limits in force: the user's own when an admin set them (Custom), else the client's
	// defaults (WithDefaultLimits).
	Limits Limits
	Custom bool
	Usage  Usage
}

// Bounds of a limit: larger values are a mistake, not a policy.
const (
	maxLimit      = 1_000_000
	maxCPULimit   = 1_000_000_000 // millicores: a million cores
	maxBytesLimit = 1 << 60       // an exbibyte
)

// WithDefaultLimits sets the limits of users without their own (no limits by default).
func WithDefaultLimits(l Limits) Option { return func(c *Client) { c.limits = l } }

// Validate checks every limit is 0 (none) or a sane positive count.
func (l Limits) Validate() error {
	for _, d := range dimensions {
		n, hi := d.limit(l), d.max
		if n < 0 || n > hi {
			return fmt.Errorf("%w: limit %s = %s: want 0 (no limit) to %s", ErrInvalidArgument, d.name, d.format(n), d.format(hi))
		}
	}
	return nil
}

// The use is kept in the user's record, changed by the transactions that change it (create,
// start, stop, delete), so a limit is checked against a value that the same transaction's
// precondition on the user record keeps true until commit: of concurrent creations by a user one
// below the limit, exactly one succeeds. A user record written before use was recorded (Usage
// nil) is counted from the user's projects once, by the first such transaction.

// dimension is one limit: its name, how to read it from Limits and Usage, and how to print it.
type dimension struct {
	name   string
	limit  func(Limits) int64
	use    func(Usage) int64
	max    int64
	format func(int64) string
	// refusal words the message: use, limit and the amount asked for, printed.
	refusal func(use, limit, need string) string
}

func count(n int64) string { return fmt.Sprint(n) }

var dimensions = []dimension{
	{"projects", func(l Limits) int64 { return int64(l.Projects) }, func(u Usage) int64 { return int64(u.Projects) }, maxLimit, count,
		func(use, lim, _ string) string {
			return fmt.Sprintf("project limit reached: you have %s projects and may have %s; delete one first", use, lim)
		}},
	{"running", func(l Limits) int64 { return int64(l.Running) }, func(u Usage) int64 { return int64(u.Running) }, maxLimit, count,
		func(use, lim, _ string) string {
			return fmt.Sprintf("running limit reached: %s of your projects are running and %s may run; stop one first", use, lim)
		}},
	{"cpu", func(l Limits) int64 { return l.CPU }, func(u Usage) int64 { return u.CPU }, maxCPULimit, k8s.FormatMilli,
		func(use, lim, need string) string {
			return fmt.Sprintf("cpu limit reached: your running projects use %s CPU of your %s and this needs %s more; stop one or choose a smaller size", use, lim, need)
		}},
	{"memory", func(l Limits) int64 { return l.Memory }, func(u Usage) int64 { return u.Memory }, maxBytesLimit, k8s.FormatBytes,
		func(use, lim, need string) string {
			return fmt.Sprintf("memory limit reached: your running projects use %s of your %s memory and this needs %s more; stop one or choose a smaller size", use, lim, need)
		}},
	{"storage", func(l Limits) int64 { return l.Storage }, func(u Usage) int64 { return u.Storage }, maxBytesLimit, k8s.FormatBytes,
		func(use, lim, need string) string {
			return fmt.Sprintf("storage limit reached: your projects hold %s of your %s storage (stopped ones included) and this needs %s more; delete one or choose a smaller size", use, lim, need)
		}},
}

// usage returns u's use: as recorded, or counted from the user's projects.
func usage(s store.Snapshot, u *User) (Usage, error) {
	if u.Usage != nil && u.UsageVersion >= usageVersion {
		return *u.Usage, nil
	}
	var out Usage
	projects, err := s.List(store.KindProject, store.Filter{Owner: u.ID})
	if err != nil {
		return Usage{}, err
	}
	counted := map[string]*Project{}
	for _, r := range projects {
		p, err := decodeProject(r)
		if err != nil {
			return Usage{}, err
		}
		if live(p.Status) {
			counted[r.ID] = p
		}
	}
	sandboxes, err := s.List(store.KindSandbox, store.Filter{Owner: u.ID})
	if err != nil {
		return Usage{}, err
	}
	running := map[string]bool{}
	for _, r := range sandboxes {
		sb, err := decode[Child](r)
		if err != nil {
			return Usage{}, err
		}
		if counted[r.Parent] != nil && sb.Desired == StatusRunning {
			running[r.Parent] = true
		}
	}
	for id, p := range counted {
		out = out.add(useOf(p, running[id]))
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
	next := use.add(d)
	for _, dim := range dimensions {
		if l, n, more := dim.limit(lim), dim.use(next), dim.use(d); more > 0 && l > 0 && n > l {
			return fmt.Errorf("%w: %s", ErrResourceExhausted, dim.refusal(dim.format(dim.use(use)), dim.format(l), dim.format(more)))
		}
	}
	if next.negative() {
		// A use recorded wrong would go negative: count again rather than store nonsense.
		u.Usage = nil
		if next, err = usage(s, u); err != nil {
			return err
		}
	}
	u.Usage, u.UsageVersion = &next, usageVersion
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
// the caller checks the role. A limit below the user's current use is refused with
// ErrFailedPrecondition (stop or delete first), a default limit too when l is nil, so a limit
// in force is never already exceeded when it is set.
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
		u.Limits, u.Usage, u.UsageVersion = l, &use, usageVersion
		lim, custom := c.limitsOf(u)
		// The limits in force after the change, the defaults included when l is nil: a
		// return to the defaults lowers a limit like any other change.
		what := "limit"
		if l == nil {
			what = "default limit"
		}
		for _, d := range dimensions {
			if n, cur := d.limit(lim), d.use(use); n > 0 && cur > n {
				return store.Txn{}, fmt.Errorf("%w: %s %s = %s is below the user's current use, %s: stop or delete projects first",
					ErrFailedPrecondition, what, d.name, d.format(n), d.format(cur))
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
	return useOf(p, p.Sandbox != nil && p.Sandbox.Desired == StatusRunning)
}

// useOf is what project p counts for, running or not: storage while it is not being deleted,
// CPU and memory while it runs.
func useOf(p *Project, running bool) Usage {
	if !live(p.Status) {
		return Usage{}
	}
	sz := sizeOf(p)
	u := Usage{Projects: 1, Storage: sz.Home + sz.Database}
	if running {
		u.Running, u.CPU, u.Memory = 1, sz.CPU+sz.DatabaseCPU, sz.Memory+sz.DatabaseMemory
	}
	return u
}
