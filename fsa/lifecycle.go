package fsa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// Lifecycle policies: a project can stop itself after a time without activity (idle limit),
// stop or delete itself at an absolute time (expiry), and delete itself after being STOPPED
// for a time (auto-delete). The policies are state in the project record; the leader keeps a
// timer per project for the next due action (see Project.NextDue and EnforceLifecycle) and
// writes nothing while nothing is due.

// LifecycleAction is what a lifecycle policy does when it is due.
type LifecycleAction string

// Lifecycle actions.
const (
	LifecycleStop   LifecycleAction = "STOP"
	LifecycleDelete LifecycleAction = "DELETE"
)

// Reasons recorded in the timeline of a project's children by lifecycle policies.
const (
	// ReasonIdleTimeout: the project was stopped after its idle limit without activity.
	ReasonIdleTimeout = "IdleTimeout"
	// ReasonExpired: the project was stopped or deleted at its expiry time.
	ReasonExpired = "Expired"
	// ReasonStoppedTooLong: the project was deleted after being STOPPED for its auto-delete limit.
	ReasonStoppedTooLong = "StoppedTooLong"
	// ReasonDeletionScheduled announces a coming deletion; its Message carries the time
	// (RFC 3339), the same as Project.NextDue's.
	ReasonDeletionScheduled = "DeletionScheduled"
)

// Bounds of the lifecycle policies.
const (
	// MaxIdleTimeout and MaxDeleteStoppedAfter bound the durations; larger values are mistakes
	// (use 0 for never).
	MaxIdleTimeout        = 90 * 24 * time.Hour
	MaxDeleteStoppedAfter = 5 * 365 * 24 * time.Hour
	// MaxExpiry bounds how far in the future an expiry (or an extension) may be.
	MaxExpiry = 5 * 365 * 24 * time.Hour
	// DefaultActivityInterval is how often at most the activity of a project is written to
	// the store (see WithLifecycleDefaults).
	DefaultActivityInterval = time.Minute
)

// User settings that give a user's default lifecycle policies for new projects (Go durations
// such as "30m"; "0" for never). Without them, the client's defaults apply
// (WithLifecycleDefaults).
const (
	ConfigIdleTimeout        = "IDLE_TIMEOUT"
	ConfigDeleteStoppedAfter = "DELETE_STOPPED_AFTER"
	// CategoryLifecycle is the category of those settings (SetUserLifecycleDefaults).
	CategoryLifecycle = "lifecycle"
)

// Lifecycle is a project's lifecycle policies and its last recorded activity.
type Lifecycle struct {
	// IdleTimeout stops the project after this long without activity; 0 never.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// ActiveAt is the time of the last recorded activity (calls on the project through the
	// API, a start, a keep-alive). Activity is written at most once per Coalesce: a later call
	// within Coalesce is not recorded, so the idle deadline is ActiveAt + Coalesce +
	// IdleTimeout, never earlier than IdleTimeout after the last call.
	ActiveAt time.Time     `json:"active_at,omitempty"`
	Coalesce time.Duration `json:"coalesce,omitempty"`
	// ExpireAt, if set, is when ExpireAction (stop or delete) happens; the owner may move it
	// (ExtendProject, SetProjectLifecycle).
	ExpireAt     time.Time       `json:"expire_at,omitempty"`
	ExpireAction LifecycleAction `json:"expire_action,omitempty"`
	// DeleteStoppedAfter deletes the project once it has been STOPPED this long (its data is
	// kept, as by a DeleteProject without PurgeData); 0 never.
	DeleteStoppedAfter time.Duration `json:"delete_stopped_after,omitempty"`
}

// Due is the next action of a project's lifecycle policies.
type Due struct {
	At     time.Time
	Action LifecycleAction
	// Reason is ReasonIdleTimeout, ReasonExpired or ReasonStoppedTooLong.
	Reason string
}

// LifecyclePolicy changes a project's policies; nil fields are left as they are.
type LifecyclePolicy struct {
	IdleTimeout *time.Duration
	// ExpireAt sets the expiry (a zero time removes it); ExpireAction is its action (STOP by
	// default).
	ExpireAt           *time.Time
	ExpireAction       LifecycleAction
	DeleteStoppedAfter *time.Duration
}

// LifecycleDefaults are the policies of new projects whose creator gives none and whose user
// has no setting (ConfigIdleTimeout, ConfigDeleteStoppedAfter), and the activity interval.
type LifecycleDefaults struct {
	IdleTimeout        time.Duration
	DeleteStoppedAfter time.Duration
	// ActivityInterval: activity is written at most once per project per interval
	// (DefaultActivityInterval when 0).
	ActivityInterval time.Duration
}

// WithLifecycleDefaults sets the default lifecycle policies and the activity interval.
func WithLifecycleDefaults(d LifecycleDefaults) Option {
	return func(c *Client) { c.lifecycle = d }
}

func (c *Client) activityInterval() time.Duration {
	if c.lifecycle.ActivityInterval > 0 {
		return c.lifecycle.ActivityInterval
	}
	return DefaultActivityInterval
}

// Validate checks the defaults.
func (d LifecycleDefaults) Validate() error {
	if err := validDuration("idle timeout", d.IdleTimeout, MaxIdleTimeout); err != nil {
		return err
	}
	if err := validDuration("delete-stopped-after", d.DeleteStoppedAfter, MaxDeleteStoppedAfter); err != nil {
		return err
	}
	return validDuration("activity interval", d.ActivityInterval, time.Hour)
}

func validDuration(what string, d, max time.Duration) error {
	if d < 0 || d > max {
		return invalid("%s %v: want 0 (never) up to %v", what, d, max)
	}
	return nil
}

// IdleDeadline returns when the idle limit stops the project, if it has one.
func (l *Lifecycle) IdleDeadline(createdAt time.Time) (time.Time, bool) {
	if l.IdleTimeout <= 0 {
		return time.Time{}, false
	}
	at := l.ActiveAt
	if at.IsZero() {
		at = createdAt
	}
	return at.Add(l.Coalesce + l.IdleTimeout), true
}

// NextDue returns the next action of the project's lifecycle policies: the earliest of its idle
// stop (while it is meant to run), its expiry and its auto-delete (while it is STOPPED), a
// delete winning a tie. None while the project is being deleted.
func (p *Project) NextDue() (Due, bool) {
	running, deleting, loaded := false, false, false
	for _, k := range childKinds {
		if o := k.get(&p.Children); o != nil {
			loaded = true
			switch o.Common().Desired {
			case StatusRunning:
				running = true
			case StatusTerminated:
				deleting = true
			}
		}
	}
	if !loaded {
		// A project record alone (a watch event): its status tells.
		switch p.Status {
		case StatusCreating, StatusStarting, StatusRunning, StatusError, StatusPartial:
			running = true
		}
	}
	if deleting || p.Status == StatusTerminating || p.Status == StatusTerminated {
		return Due{}, false
	}
	l := &p.Lifecycle
	var out Due
	ok := false
	consider := func(d Due) {
		if !ok || d.At.Before(out.At) || d.At.Equal(out.At) && d.Action == LifecycleDelete {
			out, ok = d, true
		}
	}
	if at, has := l.IdleDeadline(p.CreatedAt); has && running {
		consider(Due{At: at, Action: LifecycleStop, Reason: ReasonIdleTimeout})
	}
	if !l.ExpireAt.IsZero() && (l.ExpireAction == LifecycleDelete || running) {
		a := l.ExpireAction
		if a == "" {
			a = LifecycleStop
		}
		consider(Due{At: l.ExpireAt, Action: a, Reason: ReasonExpired})
	}
	if l.DeleteStoppedAfter > 0 && !running && p.Status == StatusStopped {
		consider(Due{At: p.stoppedSince().Add(l.DeleteStoppedAfter), Action: LifecycleDelete, Reason: ReasonStoppedTooLong})
	}
	return out, ok
}

// stoppedSince is when the project last became STOPPED: the latest move to STOPPED of its
// children.
func (p *Project) stoppedSince() time.Time {
	var t time.Time
	for _, k := range childKinds {
		if o := k.get(&p.Children); o != nil {
			cs := o.Common().Conditions
			for i := len(cs) - 1; i >= 0; i-- {
				if cs[i].To == StatusStopped && cs[i].From != StatusStopped {
					if cs[i].Time.After(t) {
						t = cs[i].Time
					}
					break
				}
			}
		}
	}
	if t.IsZero() {
		t = p.UpdatedAt
	}
	return t
}

// deletionCondition is the DeletionScheduled entry announcing d, a delete.
func deletionCondition(now time.Time, st Status, d Due) Condition {
	return Condition{Time: now, From: st, To: st, Reason: ReasonDeletionScheduled,
		Message: fmt.Sprintf("deleted at %s (%s)", d.At.UTC().Format(time.RFC3339), d.Reason)}
}

// announceDeletion appends a DeletionScheduled entry to the timeline of p's first child when
// p's next action is a delete not yet announced for that time; it returns the child changed.
func announceDeletion(p *Project, now time.Time) (ChildObject, *childKind) {
	for _, k := range childKinds {
		if o := k.get(&p.Children); o != nil {
			if announceOn(p, o.Common(), now) {
				return o, k
			}
			return nil, nil
		}
	}
	return nil, nil
}

// announceOn appends the DeletionScheduled entry to ch's timeline (see announceDeletion).
func announceOn(p *Project, ch *Child, now time.Time) bool {
	d, ok := p.NextDue()
	if !ok || d.Action != LifecycleDelete {
		return false
	}
	want := deletionCondition(now, ch.Status, d)
	for i := len(ch.Conditions) - 1; i >= 0; i-- {
		if c := ch.Conditions[i]; c.Reason == ReasonDeletionScheduled {
			if c.Message == want.Message {
				return false
			}
			break
		}
	}
	ch.Conditions = appendCondition(ch.Conditions, want)
	return true
}

// parseConfigDuration parses a lifecycle setting.
func parseConfigDuration(key, v string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, invalid("%s must be a duration such as 30m or 0 (never): %q", key, truncate(v, 40))
	}
	return d, validDuration(key, d, max)
}

// validLifecycleConfig checks the lifecycle settings of a user.
func validLifecycleConfig(cfg UserConfig) error {
	switch cfg.Key {
	case ConfigIdleTimeout:
		_, err := parseConfigDuration(cfg.Key, cfg.Value, MaxIdleTimeout)
		return err
	case ConfigDeleteStoppedAfter:
		_, err := parseConfigDuration(cfg.Key, cfg.Value, MaxDeleteStoppedAfter)
		return err
	}
	return nil
}

// userDefault returns the user's setting key as a duration, else def.
func userDefault(s store.Snapshot, userID, key string, def, max time.Duration) (time.Duration, error) {
	d, ok, err := userSetting(s, userID, key, max)
	if err != nil || !ok {
		return def, err
	}
	return d, nil
}

// UserLifecycleDefaults are the lifecycle policies a user's new projects get when their
// creator gives none, and where they come from: the chain is the project's own policy (in
// ProjectSpec.Lifecycle), else the user's setting, else the client's default.
type UserLifecycleDefaults struct {
	// IdleTimeout and DeleteStoppedAfter are in force for the user's next project.
	IdleTimeout        time.Duration
	DeleteStoppedAfter time.Duration
	// UserIdleTimeout and UserDeleteStoppedAfter are the user's own settings (nil: not set,
	// the client's default applies).
	UserIdleTimeout        *time.Duration
	UserDeleteStoppedAfter *time.Duration
	// Defaults are the client's (WithLifecycleDefaults; fsad's --idle-timeout,
	// --delete-stopped-after).
	Defaults LifecycleDefaults
}

// UserLifecycleDefaults returns the user's default lifecycle policies: their own settings
// (ConfigIdleTimeout, ConfigDeleteStoppedAfter), the client's defaults, and those in force.
func (c *Client) UserLifecycleDefaults(ctx context.Context, userID string) (*UserLifecycleDefaults, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	var out *UserLifecycleDefaults
	err := c.viewLocalOK(ctx, func(s store.Snapshot) error {
		if _, err := getUser(s, userID); err != nil {
			return err
		}
		out = &UserLifecycleDefaults{Defaults: c.lifecycle}
		for _, f := range []struct {
			key      string
			def, max time.Duration
			in       *time.Duration
			own      **time.Duration
		}{
			{ConfigIdleTimeout, c.lifecycle.IdleTimeout, MaxIdleTimeout, &out.IdleTimeout, &out.UserIdleTimeout},
			{ConfigDeleteStoppedAfter, c.lifecycle.DeleteStoppedAfter, MaxDeleteStoppedAfter, &out.DeleteStoppedAfter, &out.UserDeleteStoppedAfter},
		} {
			d, own, err := userSetting(s, userID, f.key, f.max)
			if err != nil {
				return err
			}
			*f.in = f.def
			if own {
				*f.in, *f.own = d, &d
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lifecycle defaults of user %s: %w", userID, err)
	}
	return out, nil
}

// SetUserLifecycleDefaults changes the user's default lifecycle policies for new projects: a
// nil value is left as it is, an empty one removes the setting (the client's default applies
// again), any other is a Go duration ("30m"; "0" for never) within the policy's bounds
// (MaxIdleTimeout, MaxDeleteStoppedAfter), else ErrInvalidArgument with nothing stored. Both
// change in one transaction. Projects created before keep their policies.
func (c *Client) SetUserLifecycleDefaults(ctx context.Context, userID string, idleTimeout, deleteStoppedAfter *string) (*UserLifecycleDefaults, error) {
	var set []UserConfig
	var remove []string
	for _, f := range []struct {
		key string
		v   *string
	}{{ConfigIdleTimeout, idleTimeout}, {ConfigDeleteStoppedAfter, deleteStoppedAfter}} {
		switch {
		case f.v == nil:
		case strings.TrimSpace(*f.v) == "":
			remove = append(remove, f.key)
		default:
			set = append(set, UserConfig{Key: f.key, Value: strings.TrimSpace(*f.v), Category: CategoryLifecycle})
		}
	}
	if len(set)+len(remove) > 0 {
		if _, err := c.UpdateUserConfig(ctx, userID, set, remove); err != nil {
			return nil, fmt.Errorf("set lifecycle defaults of user %s: %w", userID, err)
		}
	}
	return c.UserLifecycleDefaults(ctx, userID)
}

// userSetting returns the user's lifecycle setting key, if set and valid (one stored before it
// was checked counts as not set, as in userDefault).
func userSetting(s store.Snapshot, userID, key string, max time.Duration) (time.Duration, bool, error) {
	r, err := s.Get(store.KindUserConfig, configID(userID, key))
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	cfg, err := decode[UserConfig](r)
	if err != nil {
		return 0, false, err
	}
	d, err := parseConfigDuration(key, cfg.Value, max)
	if err != nil {
		return 0, false, nil //nolint:nilerr // a setting stored before it was checked: not set
	}
	return d, true, nil
}

// validate checks a policy change against now.
func (pol LifecyclePolicy) validate(now time.Time) error {
	if pol.IdleTimeout != nil {
		if err := validDuration("idle timeout", *pol.IdleTimeout, MaxIdleTimeout); err != nil {
			return err
		}
	}
	if pol.DeleteStoppedAfter != nil {
		if err := validDuration("delete-stopped-after", *pol.DeleteStoppedAfter, MaxDeleteStoppedAfter); err != nil {
			return err
		}
	}
	switch pol.ExpireAction {
	case "", LifecycleStop, LifecycleDelete:
	default:
		return invalid("expire action %q: want %s or %s", truncate(string(pol.ExpireAction), 40), LifecycleStop, LifecycleDelete)
	}
	if pol.ExpireAction != "" && pol.ExpireAt == nil {
		return invalid("an expire action needs an expiry time")
	}
	if pol.ExpireAt != nil && !pol.ExpireAt.IsZero() {
		if !pol.ExpireAt.After(now) {
			return invalid("expiry %s is not in the future", pol.ExpireAt.UTC().Format(time.RFC3339))
		}
		if pol.ExpireAt.Sub(now) > MaxExpiry {
			return invalid("expiry %s is more than %v away", pol.ExpireAt.UTC().Format(time.RFC3339), MaxExpiry)
		}
	}
	return nil
}

// apply applies a validated policy change to l at now.
func (pol LifecyclePolicy) apply(l *Lifecycle, now time.Time) {
	if pol.IdleTimeout != nil {
		if *pol.IdleTimeout != l.IdleTimeout {
			l.ActiveAt, l.Coalesce = now, 0 // a new limit counts from now
		}
		l.IdleTimeout = *pol.IdleTimeout
	}
	if pol.ExpireAt != nil {
		l.ExpireAt, l.ExpireAction = pol.ExpireAt.UTC(), pol.ExpireAction
		if l.ExpireAt.IsZero() {
			l.ExpireAction = ""
		} else if l.ExpireAction == "" {
			l.ExpireAction = LifecycleStop
		}
	}
	if pol.DeleteStoppedAfter != nil {
		l.DeleteStoppedAfter = *pol.DeleteStoppedAfter
	}
}

// SetProjectLifecycle changes the lifecycle policies of one of the user's projects. Durations
// are 0 (never) up to their maximum, an expiry lies in the future (at most MaxExpiry away):
// ErrInvalidArgument otherwise, with nothing stored. A new idle limit counts from now.
func (c *Client) SetProjectLifecycle(ctx context.Context, userID, projectID string, pol LifecyclePolicy) (*Project, error) {
	now := c.timestamp()
	if err := pol.validate(now); err != nil {
		return nil, err
	}
	return c.updateLifecycle(ctx, userID, projectID, "set lifecycle of", func(p *Project) error {
		pol.apply(&p.Lifecycle, now)
		return nil
	})
}

// ExtendProject moves the project's expiry by d (from now if it has passed): the owner keeps a
// project that was about to expire. d is positive, the new expiry at most MaxExpiry away;
// ErrFailedPrecondition when the project has no expiry. It counts as activity.
func (c *Client) ExtendProject(ctx context.Context, userID, projectID string, d time.Duration) (*Project, error) {
	if d <= 0 || d > MaxExpiry {
		return nil, invalid("extension %v: want more than 0 up to %v", d, MaxExpiry)
	}
	now := c.timestamp()
	return c.updateLifecycle(ctx, userID, projectID, "extend", func(p *Project) error {
		l := &p.Lifecycle
		if l.ExpireAt.IsZero() {
			return fmt.Errorf("%w: project %s has no expiry to extend", ErrFailedPrecondition, projectID)
		}
		from := l.ExpireAt
		if from.Before(now) {
			from = now
		}
		if from.Add(d).Sub(now) > MaxExpiry {
			return invalid("the extended expiry would be more than %v away", MaxExpiry)
		}
		l.ExpireAt = from.Add(d)
		l.ActiveAt, l.Coalesce = now, 0
		return nil
	})
}

// updateLifecycle changes p.Lifecycle with fn in one transaction, announcing a coming deletion.
func (c *Client) updateLifecycle(ctx context.Context, userID, projectID, what string, fn func(p *Project) error) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	var out *Project
	rev, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		p, st, err := loadProject(s, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		if _, deleting := p.NextDue(); !deleting && (p.Status == StatusTerminating || p.Status == StatusTerminated) {
			return store.Txn{}, fmt.Errorf("%w: project %s is being deleted", ErrFailedPrecondition, projectID)
		}
		if err := fn(p); err != nil {
			return store.Txn{}, err
		}
		now := c.timestamp()
		p.UpdatedAt = now
		txn := store.Txn{Conds: []store.Cond{cond(st.project)}, Ops: []store.Op{store.Put(projectRecord(p))}}
		if o, k := announceDeletion(p, now); o != nil {
			for _, r := range st.children {
				if r.Kind == k.store && r.ID == o.Common().ID {
					txn.Conds = append(txn.Conds, cond(r))
				}
			}
			txn.Ops = append(txn.Ops, store.Put(childRecord(k, o)))
		}
		out = p
		return txn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s project %s: %w", what, projectID, err)
	}
	out.Version = rev
	return out, nil
}

// activity remembers, per project, the last activity known to be stored, so that calls within
// the activity interval cost no store access at all.
type activity struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// maxActivityEntries bounds the memory of activity; past it the memory starts afresh (the
// store's ActiveAt still coalesces the writes).
const maxActivityEntries = 1 << 20

func (a *activity) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.seen[id]
	return t, ok
}

func (a *activity) set(id string, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil || len(a.seen) >= maxActivityEntries {
		a.seen = map[string]time.Time{}
	}
	if t.After(a.seen[id]) {
		a.seen[id] = t
	}
}

// KeepAlive records activity on one of the user's projects, as a call on the project would: a
// client holding a terminal open sends it so that the idle limit does not stop the project
// meanwhile. Activity is written at most once per project per activity interval.
func (c *Client) KeepAlive(ctx context.Context, userID, projectID string) error {
	if err := validID("user id", userID); err != nil {
		return err
	}
	if err := validID("project id", projectID); err != nil {
		return err
	}
	p, err := c.GetProject(ctx, userID, projectID)
	if err != nil {
		return err
	}
	return c.touch(ctx, p)
}

// touch records activity on p (as read by the caller), writing only when the stored activity
// is older than the activity interval and an idle limit makes it matter.
func (c *Client) touch(ctx context.Context, p *Project) error {
	now := c.timestamp()
	iv := c.activityInterval()
	if t, ok := c.active.get(p.ID); ok && now.Sub(t) < iv {
		return nil
	}
	if !needsTouch(p, now, iv) {
		c.active.set(p.ID, p.Lifecycle.ActiveAt)
		return nil
	}
	var stored time.Time
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		p, st, err := loadProject(s, p.UserID, p.ID)
		if err != nil {
			return store.Txn{}, err
		}
		stored = p.Lifecycle.ActiveAt
		if !needsTouch(p, now, iv) {
			return store.Txn{}, nil
		}
		p.Lifecycle.ActiveAt, p.Lifecycle.Coalesce = now, iv
		stored = now
		return store.Txn{Conds: []store.Cond{cond(st.project)}, Ops: []store.Op{store.Put(projectRecord(p))}}, nil
	})
	if err != nil {
		return fmt.Errorf("record activity of project %s: %w", p.ID, err)
	}
	c.active.set(p.ID, stored)
	return nil
}

// needsTouch: p has an idle limit, is meant to run, and its stored activity is older than iv.
func needsTouch(p *Project, now time.Time, iv time.Duration) bool {
	if p.Lifecycle.IdleTimeout <= 0 || p.Sandbox == nil || p.Sandbox.Desired != StatusRunning {
		return false
	}
	return now.Sub(p.Lifecycle.ActiveAt) >= iv
}

// Enforcement is what EnforceLifecycle did and what comes next.
type Enforcement struct {
	// Done is the action carried out (Done.At its deadline), if Acted.
	Acted bool
	Done  Due
	// Next is the next action, if HasNext: set a timer for Next.At.
	Next    Due
	HasNext bool
}

// EnforceLifecycle carries out the project's due lifecycle action (Project.NextDue) as of now:
// it stops or deletes the project with the policy's reason in its children's timeline, under
// the fencing token fence (ErrFenced once another leader holds a newer epoch; 0 disables the
// check). When nothing is due it writes nothing. It returns the next action, so the caller can
// set its timer. A stop already made is not made again: the transaction is conditional on the
// project as read, so of two leaders racing around a failover at most one commits, and the
// other finds nothing due. A deleted project has nothing due.
func (c *Client) EnforceLifecycle(ctx context.Context, fence uint64, projectID string) (Enforcement, error) {
	out, err := c.EnforceLifecycles(ctx, fence, []string{projectID})
	if err != nil {
		return Enforcement{}, err
	}
	return out[0], nil
}

// MaxEnforceBatch bounds the projects of one EnforceLifecycles.
const MaxEnforceBatch = 256

// EnforceLifecycles is EnforceLifecycle for up to MaxEnforceBatch projects in one transaction
// (one store write for many deadlines falling together), returning their enforcements in
// order. A concurrent change of any of them retries the whole transaction on fresh state.
func (c *Client) EnforceLifecycles(ctx context.Context, fence uint64, projectIDs []string) ([]Enforcement, error) {
	if len(projectIDs) == 0 || len(projectIDs) > MaxEnforceBatch {
		return nil, invalid("enforce %d projects: want 1 to %d", len(projectIDs), MaxEnforceBatch)
	}
	for _, id := range projectIDs {
		if err := validID("project id", id); err != nil {
			return nil, err
		}
	}
	out := make([]Enforcement, len(projectIDs))
	_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		txn := store.Txn{Fence: fence}
		now := c.timestamp()
		use := map[string]Usage{} // the change of each owner's use, charged once per owner
		var owners []string
		charge := func(userID string, d Usage) {
			cur, seen := use[userID]
			if !seen {
				owners = append(owners, userID)
			}
			use[userID] = Usage{Projects: cur.Projects + d.Projects, Running: cur.Running + d.Running}
		}
		seen := map[string]bool{}
		for i, id := range projectIDs {
			out[i] = Enforcement{}
			if seen[id] {
				continue
			}
			seen[id] = true
			p, st, err := loadProject(s, "", id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return store.Txn{}, err
			}
			d, due := p.NextDue()
			if !due || d.At.After(now) {
				out[i].Next, out[i].HasNext = d, due
				continue
			}
			a := ActionStop
			if d.Action == LifecycleDelete {
				a = ActionDelete
			}
			if CheckAction(p.Status, a) != nil {
				// Not possible now (a transitional state): the change that ends it re-arms
				// the timer.
				continue
			}
			txn.Conds = append(txn.Conds, cond(st.project))
			if _, err := c.applyAction(s, &txn, p, st, a, d.Reason, now, deleteOptions{}, charge); err != nil {
				return store.Txn{}, err
			}
			out[i].Acted, out[i].Done = true, d
			out[i].Next, out[i].HasNext = p.NextDue()
		}
		for _, u := range owners {
			if d := use[u]; d != (Usage{}) {
				if err := c.chargeUser(s, &txn, u, d); err != nil {
					return store.Txn{}, err
				}
			}
		}
		if len(txn.Ops) == 0 {
			return store.Txn{}, nil
		}
		return txn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("enforce lifecycle of %d projects: %w", len(projectIDs), err)
	}
	return out, nil
}

// defaultLifecycle sets the policies of the new project p: pol, else the user's settings, else
// the client's defaults.
func (c *Client) defaultLifecycle(s store.Snapshot, p *Project, pol LifecyclePolicy, now time.Time) error {
	var err error
	if pol.IdleTimeout == nil {
		d, e := userDefault(s, p.UserID, ConfigIdleTimeout, c.lifecycle.IdleTimeout, MaxIdleTimeout)
		pol.IdleTimeout, err = &d, e
		if err != nil {
			return err
		}
	}
	if pol.DeleteStoppedAfter == nil {
		d, e := userDefault(s, p.UserID, ConfigDeleteStoppedAfter, c.lifecycle.DeleteStoppedAfter, MaxDeleteStoppedAfter)
		pol.DeleteStoppedAfter, err = &d, e
		if err != nil {
			return err
		}
	}
	p.Lifecycle = Lifecycle{}
	pol.apply(&p.Lifecycle, now)
	p.Lifecycle.ActiveAt = now
	return nil
}
