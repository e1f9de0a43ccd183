package fsa

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/fullstackagent/fsa/store"
)

// ProjectSpec describes a new project.
type ProjectSpec struct {
	// Name is the display name; its Kubernetes-safe form is derived by K8sName.
	Name        string
	Description string
	// PublicApp publishes the app the sandbox serves on port 3000 on a public Ingress
	// (Sandbox.AppURL, reachable by anyone who has the link). False, the default, keeps it
	// private: only the owner reaches it, through the preview (fsad's PreviewAccess). It can be
	// changed later with SetPublicApp.
	PublicApp bool
	// Size asks for the project's size (see SizeSpec); zero: the default class.
	Size SizeSpec
	// Lifecycle sets the project's lifecycle policies; an unset idle limit or auto-delete takes
	// the user's setting (ConfigIdleTimeout, ConfigDeleteStoppedAfter), else the client's
	// default (WithLifecycleDefaults).
	Lifecycle LifecyclePolicy
}

// ProjectList is a consistent listing and the store revision it was read at: watch from
// Revision to follow every later change with no gap.
type ProjectList struct {
	Items    []*Project
	Revision int64
}

// CreateProject records a new project with one sandbox and one database, all CREATING, and a
// fresh TTYD_ACCESS_TOKEN, in one transaction. A name is one line of 1 to MaxProjectNameLen
// characters with at least one letter or digit (ErrInvalidArgument), unique among the user's
// projects not being deleted (ErrAlreadyExists). The user must have a kubeconfig
// (ConfigKubeconfig), or nothing could ever be created (ErrFailedPrecondition). It returns at
// once; reconcile creates the Kubernetes objects.
func (c *Client) CreateProject(ctx context.Context, userID string, spec ProjectSpec) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validProjectName(spec.Name); err != nil {
		return nil, err
	}
	if err := validText("description", spec.Description, MaxDescriptionLen, false); err != nil {
		return nil, err
	}
	size, err := c.sizes.resolve(spec.Size, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 1+len(childKinds)) // the project's, then its children's
	for i := range ids {
		id, err := newID(c.rand)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	if err := spec.Lifecycle.validate(c.timestamp()); err != nil {
		return nil, err
	}
	k8sName := K8sName(spec.Name)
	resName, err := ResourceName(c.rand, k8sName)
	if err != nil {
		return nil, err
	}
	now := c.timestamp()
	created := []Condition{{Time: now, To: StatusCreating, Reason: "Created"}}
	p := &Project{ID: ids[0], UserID: userID, Name: spec.Name, K8sName: k8sName, Description: spec.Description,
		Size: &size, Status: StatusCreating, CreatedAt: now, UpdatedAt: now}
	children := make([]ChildObject, len(childKinds))
	for i, k := range childKinds {
		if children[i], err = k.create(Child{ID: ids[i+1], ProjectID: p.ID, UserID: userID, Status: StatusCreating,
			Desired: StatusRunning, Conditions: created, CreatedAt: now, UpdatedAt: now}, resName, c.rand); err != nil {
			return nil, err
		}
		k.set(&p.Children, children[i])
	}
	p.Sandbox.PrivateApp = !spec.PublicApp
	token, err := newToken(c.rand)
	if err != nil {
		return nil, err
	}
	tok := &EnvVar{ProjectID: p.ID, UserID: userID, Key: EnvTTYDAccessToken, Value: token, Category: CategoryTTYD,
		Secret: true, Platform: true, UpdatedAt: now}
	im, err := c.idem(ctx, userID, "CreateProject")
	if err != nil {
		return nil, err
	}
	build := func(s store.Snapshot) (store.Txn, error) {
		u, err := s.Get(store.KindUser, userID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("user", userID)
		}
		if err != nil {
			return store.Txn{}, err
		}
		txn := store.Txn{Conds: []store.Cond{absent(store.KindProject, p.ID)}, Ops: []store.Op{store.Put(projectRecord(p))}}
		for i, k := range childKinds {
			txn.Conds = append(txn.Conds, absent(k.store, children[i].Common().ID))
			txn.Ops = append(txn.Ops, store.Put(childRecord(k, children[i])))
		}
		txn.Ops = append(txn.Ops, store.Put(envRecord(tok)))
		if err := im.check(s, &txn, p.ID, ""); err != nil {
			return store.Txn{}, err // a replay is answered before the name is checked
		}
		if err := holdName(s, &txn, p); err != nil {
			return store.Txn{}, err
		}
		if err := c.charge(s, &txn, u, useOf(p, true)); err != nil {
			return store.Txn{}, err
		}
		if err := c.defaultLifecycle(s, p, spec.Lifecycle, now); err != nil {
			return store.Txn{}, err
		}
		txn.Ops[0] = store.Put(projectRecord(p))
		if o, k := announceDeletion(p, now); o != nil {
			for i := range children {
				if children[i] == o {
					txn.Ops[1+i] = store.Put(childRecord(k, o))
				}
			}
		}
		// Without a kubeconfig nothing could ever be created; the condition keeps it until commit.
		kc, err := raw(s).Get(store.KindUserConfig, configID(userID, ConfigKubeconfig)) // its version only: left sealed
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, fmt.Errorf("%w: user %s has no kubeconfig (setting %s): set one first", ErrFailedPrecondition, userID, ConfigKubeconfig)
		}
		if err != nil {
			return store.Txn{}, err
		}
		txn.Conds = append(txn.Conds, cond(kc))
		return txn, nil
	}
	rev, err := c.commit(ctx, build)
	if errors.Is(err, errNamesUnindexed) {
		if err = c.indexNames(ctx); err == nil {
			rev, err = c.commit(ctx, build)
		}
	}
	if rec, ok := asReplay(err); ok {
		return c.replayProject(ctx, rec)
	}
	if err != nil {
		return nil, fmt.Errorf("create project %q: %w", spec.Name, err)
	}
	p.Version = rev
	for _, o := range children {
		o.Common().Version = rev
	}
	return p, nil
}

// GetProject returns one of the user's projects with its sandbox and database. Another user's
// project is ErrNotFound.
func (c *Client) GetProject(ctx context.Context, userID, projectID string) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	var p *Project
	err := c.view(ctx, func(s store.Snapshot) error {
		var err error
		p, _, err = loadProject(s, userID, projectID)
		return err
	})
	return p, err
}

// ListProjects returns the user's projects, oldest first, with the revision they were read at.
func (c *Client) ListProjects(ctx context.Context, userID string) (*ProjectList, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	return c.listProjects(ctx, store.Filter{Owner: userID})
}

// ListAllProjects returns every user's projects. It is for operators and for reconcile; never
// serve it to a user.
func (c *Client) ListAllProjects(ctx context.Context) (*ProjectList, error) {
	return c.listProjects(ctx, store.Filter{})
}

func (c *Client) listProjects(ctx context.Context, f store.Filter) (*ProjectList, error) {
	out := &ProjectList{}
	err := c.view(ctx, func(s store.Snapshot) error {
		out.Revision = s.Revision()
		rs, err := s.List(store.KindProject, f)
		if err != nil {
			return err
		}
		for _, r := range rs {
			p, _, err := loadProjectRecord(s, r)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortProjects(out.Items)
	return out, nil
}

// projectState is a project as read from a snapshot, with the records needed for CAS.
type projectState struct {
	project  store.Record
	children []store.Record
}

func loadProject(s store.Snapshot, userID, projectID string) (*Project, *projectState, error) {
	r, err := s.Get(store.KindProject, projectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound("project", projectID)
	}
	if err != nil {
		return nil, nil, err
	}
	if userID != "" && r.Owner != userID {
		// Another user's project: indistinguishable from a missing one.
		return nil, nil, notFound("project", projectID)
	}
	return loadProjectRecord(s, r)
}

func loadProjectRecord(s store.Snapshot, r store.Record) (*Project, *projectState, error) {
	p, err := decodeProject(r)
	if err != nil {
		return nil, nil, err
	}
	st := &projectState{project: r}
	for _, k := range childKinds {
		rs, err := s.List(k.store, store.Filter{Parent: p.ID})
		if err != nil {
			return nil, nil, err
		}
		for _, cr := range rs {
			o, err := k.decode(cr)
			if err != nil {
				return nil, nil, err
			}
			k.set(&p.Children, o)
			st.children = append(st.children, cr)
		}
	}
	return p, st, nil
}

// childStatuses returns the statuses of the project's children.
func (p *Project) childStatuses() []Status {
	var out []Status
	for _, k := range childKinds {
		if o := k.get(&p.Children); o != nil {
			out = append(out, o.Common().Status)
		}
	}
	return out
}

// StartProject asks for the project's stopped or failed children to run.
func (c *Client) StartProject(ctx context.Context, userID, projectID string) (*Project, error) {
	return c.act(ctx, userID, projectID, ActionStart)
}

// StopProject asks for the project's children to stop; volumes are kept.
func (c *Client) StopProject(ctx context.Context, userID, projectID string) (*Project, error) {
	return c.act(ctx, userID, projectID, ActionStop)
}

// DeleteOption says what a DeleteProject does with the project's data.
type DeleteOption func(*deleteOptions)

type deleteOptions struct{ purge bool }

// PurgeData(true) makes a DeleteProject remove the project's data too: the sandbox's home
// volume and the database with its volumes. Without it (the default), the data is kept: the
// home volume stays, the database's KubeBlocks Cluster stays, stopped, with a termination
// policy that keeps it, and both are recorded as RetainedData for operators to list and purge.
func PurgeData(purge bool) DeleteOption { return func(o *deleteOptions) { o.purge = purge } }

// DeleteProject asks for the project's children to be removed, keeping their data unless
// PurgeData(true) is given: the choice is recorded on every child, and the delete carries it
// out whatever happens meanwhile. The project disappears once reconcile has removed every
// Kubernetes object (and recorded the data it kept, see RetainedData).
func (c *Client) DeleteProject(ctx context.Context, userID, projectID string, opts ...DeleteOption) (*Project, error) {
	var o deleteOptions
	for _, opt := range opts {
		opt(&o)
	}
	return c.act(ctx, userID, projectID, ActionDelete, o)
}

// intent returns the status a child moves to for an action, and whether it moves at all.
func intent(a Action, cur Status) (next, desired Status, move bool) {
	switch a {
	case ActionStart:
		switch cur {
		case StatusStopped, StatusStopping, StatusError:
			return StatusStarting, StatusRunning, true
		}
		return cur, StatusRunning, false
	case ActionStop:
		switch cur {
		case StatusRunning, StatusStarting, StatusError:
			return StatusStopping, StatusStopped, true
		}
		return cur, StatusStopped, false
	case ActionDelete:
		if cur != StatusTerminated {
			return StatusTerminating, StatusTerminated, cur != StatusTerminating
		}
		return cur, StatusTerminated, false
	}
	return cur, "", false
}

func (c *Client) act(ctx context.Context, userID, projectID string, a Action, opts ...deleteOptions) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	im, err := c.idem(ctx, userID, string(a)+"Project")
	if err != nil {
		return nil, err
	}
	var out *Project
	var wrote []ChildObject
	rev, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		wrote = nil
		p, st, err := loadProject(s, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		txn := store.Txn{Conds: []store.Cond{cond(st.project)}}
		if err := im.check(s, &txn, projectID, projectID); err != nil {
			return store.Txn{}, err
		}
		if err := CheckAction(p.Status, a); err != nil {
			return store.Txn{}, err
		}
		var o deleteOptions
		if len(opts) > 0 {
			o = opts[0]
		}
		if wrote, err = c.applyAction(s, &txn, p, st, a, string(a)+" requested", c.timestamp(), o, nil); err != nil {
			return store.Txn{}, err
		}
		out = p
		return txn, nil
	})
	if rec, ok := asReplay(err); ok {
		return c.replayProject(ctx, rec)
	}
	if err != nil {
		return nil, fmt.Errorf("%s project %s: %w", a, projectID, err)
	}
	// Records written in this transaction carry its revision.
	out.Version = rev
	for _, o := range wrote {
		o.Common().Version = rev
	}
	return out, nil
}

// SetPublicApp chooses whether the app the project's sandbox serves on port 3000 is published on
// a public Ingress (public: Sandbox.AppURL, reachable by anyone with the link) or private (only
// the owner reaches it, through the preview). Reconcile creates or deletes the Ingress, whether
// the sandbox runs or not (a stopped sandbox's Ingress is published at its next start); a
// private app's AppURL is cleared at once. Setting the current choice again writes nothing. A
// project being deleted is ErrFailedPrecondition; another user's is ErrNotFound.
func (c *Client) SetPublicApp(ctx context.Context, userID, projectID string, public bool) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	sandbox := findKind(func(k *childKind) bool { return k.resource == ResourceSandbox })
	var out *Project
	rev, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		p, st, err := loadProject(s, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		if p.Status == StatusTerminating || p.Status == StatusTerminated {
			return store.Txn{}, fmt.Errorf("%w: project %s is %s", ErrFailedPrecondition, projectID, p.Status)
		}
		sb := p.Sandbox
		if sb == nil {
			return store.Txn{}, fmt.Errorf("%w: project %s has no sandbox", ErrFailedPrecondition, projectID)
		}
		out = p
		if sb.PublicApp() == public {
			return store.Txn{}, nil
		}
		sb.PrivateApp, sb.UpdatedAt = !public, c.timestamp()
		if !public {
			sb.AppURL = ""
		}
		txn := store.Txn{Conds: []store.Cond{cond(st.project)}, Ops: []store.Op{store.Put(childRecord(sandbox, sb))}}
		for _, r := range st.children {
			if r.Kind == sandbox.store && r.ID == sb.ID {
				txn.Conds = append(txn.Conds, cond(r))
			}
		}
		return txn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("set public app of project %s: %w", projectID, err)
	}
	if rev != 0 {
		out.Sandbox.Version = rev
	}
	return out, nil
}

// applyAction adds to txn the moves of p's children for action a, with reason in their
// timelines, the project's new status and the change of its owner's use (or, with charge set,
// hands that change to charge, for a caller that acts on several projects of a user in one
// transaction); it returns the children it wrote. A start counts as activity
// (Lifecycle.ActiveAt).
func (c *Client) applyAction(s store.Snapshot, txn *store.Txn, p *Project, st *projectState, a Action, reason string, now time.Time, o deleteOptions, charge func(userID string, d Usage)) ([]ChildObject, error) {
	var wrote []ChildObject
	if a == ActionDelete {
		// Deleting frees the name at once: a new project may take it.
		if err := releaseName(s, txn, p); err != nil {
			return nil, err
		}
	}
	before := countUse(p)
	for _, ch := range st.children {
		txn.Conds = append(txn.Conds, cond(ch))
	}
	for _, k := range childKinds {
		obj := k.get(&p.Children)
		if obj == nil {
			continue
		}
		ch := obj.Common()
		if next, desired, move := intent(a, ch.Status); move || ch.Desired != desired {
			ch.Conditions = appendCondition(ch.Conditions, Condition{Time: now, From: ch.Status, To: next, Reason: reason})
			ch.Status, ch.Desired, ch.Reason, ch.UpdatedAt = next, desired, "", now
			if a == ActionDelete {
				ch.Purge = o.purge
			}
			txn.Ops = append(txn.Ops, store.Put(childRecord(k, obj)))
			wrote = append(wrote, obj)
		}
	}
	if a == ActionStart {
		p.Lifecycle.ActiveAt, p.Lifecycle.Coalesce = now, 0
	}
	p.Status = Aggregate(p.childStatuses()...)
	p.UpdatedAt = now
	txn.Ops = append(txn.Ops, store.Put(projectRecord(p)))
	if charge == nil {
		if after := countUse(p); after != before {
			if err := c.chargeUser(s, txn, p.UserID, after.sub(before)); err != nil {
				return nil, err
			}
		}
	} else {
		after := countUse(p)
		charge(p.UserID, after.sub(before))
	}
	return wrote, nil
}

// chargeUser adds d to the use of user userID in txn.
func (c *Client) chargeUser(s store.Snapshot, txn *store.Txn, userID string, d Usage) error {
	ur, err := s.Get(store.KindUser, userID)
	if err != nil {
		return err
	}
	return c.charge(s, txn, ur, d)
}

func sortProjects(ps []*Project) {
	sort.Slice(ps, func(i, j int) bool {
		if !ps[i].CreatedAt.Equal(ps[j].CreatedAt) {
			return ps[i].CreatedAt.Before(ps[j].CreatedAt)
		}
		return ps[i].ID < ps[j].ID
	})
}

func appendCondition(cs []Condition, c Condition) []Condition {
	cs = append(cs, c)
	if len(cs) > MaxConditions {
		cs = append([]Condition(nil), cs[len(cs)-MaxConditions:]...)
	}
	return cs
}
