package fsa

import (
	"io"

	"github.com/fullstackagent/fsa/store"
)

// This file is what the SDK knows of a project's children in general. A kind of child is a type
// embedding Child (types.go), a field of Project and of ResourceChange holding it, and one entry
// of childKinds. Creating, loading, intents, recording observations, status aggregation, watch
// and Explain work on every kind through ChildObject.

// ChildObject is one child of a project as its kind's own type: *Sandbox or *Database.
type ChildObject interface {
	// Common returns what every child has: its embedded Child.
	Common() *Child
	// ResourceName returns the name of its Kubernetes objects.
	ResourceName() string
	// observe takes the kind's own fields from an observation and reports whether one changed.
	observe(obs Observation) bool
}

// Common returns c: through embedding, the common part of a *Sandbox or a *Database.
func (c *Child) Common() *Child { return c }

// observe takes nothing: a kind with fields of its own in observations overrides it.
func (c *Child) observe(Observation) bool { return false }

// ResourceName returns the name of the sandbox's StatefulSet, Service and Ingresses.
func (s *Sandbox) ResourceName() string { return s.Name }

// observe takes the URLs, when the observation has them.
func (s *Sandbox) observe(obs Observation) bool {
	changed := false
	if obs.AppURL != "" && obs.AppURL != s.AppURL {
		s.AppURL, changed = obs.AppURL, true
	}
	if obs.TerminalURL != "" && obs.TerminalURL != s.TerminalURL {
		s.TerminalURL, changed = obs.TerminalURL, true
	}
	return changed
}

// ResourceName returns the name of the database's KubeBlocks Cluster.
func (d *Database) ResourceName() string { return d.ClusterName }

func newSandbox(c Child, name string, rnd io.Reader) (ChildObject, error) {
	app, err := HostLabel(rnd)
	if err != nil {
		return nil, err
	}
	term, err := HostLabel(rnd)
	if err != nil {
		return nil, err
	}
	return &Sandbox{Child: c, Name: name, AppHostLabel: app, TerminalHostLabel: term}, nil
}

func newDatabase(c Child, name string, _ io.Reader) (ChildObject, error) {
	return &Database{Child: c, ClusterName: name}, nil
}

// childKinds are the kinds of child every project has, in the order they are created, loaded,
// aggregated and explained.
var childKinds = []*childKind{
	kindOf(store.KindSandbox, ResourceSandbox, "the StatefulSet, Service and Ingresses", newSandbox,
		func(p *Project) **Sandbox { return &p.Sandbox }, func(c *ResourceChange) **Sandbox { return &c.Sandbox }),
	kindOf(store.KindDatabase, ResourceDatabase, "the PostgreSQL cluster", newDatabase,
		func(p *Project) **Database { return &p.Database }, func(c *ResourceChange) **Database { return &c.Database }),
}

// childKind describes one kind of child to the SDK's generic code.
type childKind struct {
	store    store.Kind
	resource ResourceKind
	objects  string // what the child is in Kubernetes, for Explain
	// create returns a new child with the common part c, whose Kubernetes objects are named name.
	create func(c Child, name string, rnd io.Reader) (ChildObject, error)
	decode func(store.Record) (ChildObject, error)
	// get returns the project's (or the change's) child of this kind, nil when none; set sets it.
	get       func(*Project) ChildObject
	set       func(*Project, ChildObject)
	getChange func(*ResourceChange) ChildObject
	setChange func(*ResourceChange, ChildObject)
}

// kindOf describes the kind of child whose type is T, held in the field of Project that
// inProject returns and in the field of ResourceChange that inChange returns.
func kindOf[T any, P interface {
	*T
	ChildObject
}](sk store.Kind, rk ResourceKind, objects string, create func(Child, string, io.Reader) (ChildObject, error),
	inProject func(*Project) *P, inChange func(*ResourceChange) *P) *childKind {
	get := func(f *P) ChildObject {
		if *f == nil {
			return nil // not an interface holding a nil pointer
		}
		return *f
	}
	return &childKind{store: sk, resource: rk, objects: objects, create: create,
		decode: func(r store.Record) (ChildObject, error) {
			v, err := decode[T](r)
			if err != nil {
				return nil, err
			}
			P(v).Common().Version = r.Version
			return P(v), nil
		},
		get:       func(p *Project) ChildObject { return get(inProject(p)) },
		set:       func(p *Project, o ChildObject) { *inProject(p) = o.(P) },
		getChange: func(c *ResourceChange) ChildObject { return get(inChange(c)) },
		setChange: func(c *ResourceChange, o ChildObject) { *inChange(c) = o.(P) },
	}
}

// kindOfRecord returns the kind of child stored as records of kind k; nil for other records.
func kindOfRecord(k store.Kind) *childKind {
	for _, ck := range childKinds {
		if ck.store == k {
			return ck
		}
	}
	return nil
}

// kindOfResource returns the kind of child k names; nil for a resource that is no child.
func kindOfResource(k ResourceKind) *childKind {
	for _, ck := range childKinds {
		if ck.resource == k {
			return ck
		}
	}
	return nil
}

// Child returns the project's child of kind k (ResourceSandbox, ResourceDatabase); nil when it
// has none, or k is not a kind of child.
func (p *Project) Child(k ResourceKind) ChildObject {
	if ck := kindOfResource(k); ck != nil {
		return ck.get(p)
	}
	return nil
}

// Child returns the child the change is about; nil for a change of anything else.
func (rc ResourceChange) Child() ChildObject {
	if ck := kindOfResource(rc.Kind); ck != nil {
		return ck.getChange(&rc)
	}
	return nil
}
