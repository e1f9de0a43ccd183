package fsa

import (
	"io"

	"github.com/fullstackagent/fsa/store"
)

// A kind of child is a type embedding Child, a field of Children (types.go) and an entry of
// childKinds; creating, loading, intents, Record, aggregation, watch and Explain handle them all.

// ChildObject is one child of a project as its kind's own type: *Sandbox or *Database.
type ChildObject interface {
	// Common returns what every child has: its embedded Child.
	Common() *Child
	// ResourceName returns the name of its Kubernetes objects.
	ResourceName() string
	// observe takes the kind's own fields from an observation; it reports whether one changed.
	observe(obs Observation) bool
}

// Common returns c: through embedding, the common part of a *Sandbox or a *Database.
func (c *Child) Common() *Child { return c }

func (c *Child) observe(Observation) bool { return false }

// ResourceName returns the name of the sandbox's StatefulSet, Service and Ingresses.
func (s *Sandbox) ResourceName() string { return s.Name }

func (s *Sandbox) observe(obs Observation) bool {
	changed := false
	if obs.AppURL != "" && obs.AppURL != s.AppURL && !s.PrivateApp {
		s.AppURL, changed = obs.AppURL, true
	}
	if obs.TerminalURL != "" && obs.TerminalURL != s.TerminalURL {
		s.TerminalURL, changed = obs.TerminalURL, true
	}
	return changed
}

// ResourceName returns the name of the database's KubeBlocks Cluster.
func (d *Database) ResourceName() string { return d.ClusterName }

// Child returns the child of kind k (ResourceSandbox, ResourceDatabase); nil when there is none
// or k is not a kind of child.
func (c Children) Child(k ResourceKind) ChildObject {
	if ck := findKind(func(ck *childKind) bool { return ck.resource == k }); ck != nil {
		return ck.get(&c)
	}
	return nil
}

// childKinds are the kinds of child every project has, in the order they are created, loaded
// and explained.
var childKinds = []*childKind{
	kindOf(store.KindSandbox, ResourceSandbox, "the StatefulSet, Service and Ingresses",
		func(c *Children) **Sandbox { return &c.Sandbox },
		func(c Child, name string, rnd io.Reader) (ChildObject, error) {
			app, err := HostLabel(rnd)
			if err != nil {
				return nil, err
			}
			term, err := HostLabel(rnd)
			if err != nil {
				return nil, err
			}
			return &Sandbox{Child: c, Name: name, AppHostLabel: app, TerminalHostLabel: term}, nil
		}),
	kindOf(store.KindDatabase, ResourceDatabase, "the PostgreSQL cluster",
		func(c *Children) **Database { return &c.Database },
		func(c Child, name string, _ io.Reader) (ChildObject, error) {
			return &Database{Child: c, ClusterName: name}, nil
		}),
}

// childKind describes one kind of child to the SDK's generic code.
type childKind struct {
	store    store.Kind
	resource ResourceKind
	objects  string // what the child is in Kubernetes, for Explain
	// create returns a new child with the common part c, its Kubernetes objects named name.
	create func(c Child, name string, rnd io.Reader) (ChildObject, error)
	decode func(store.Record) (ChildObject, error)
	get    func(*Children) ChildObject // nil when there is none
	set    func(*Children, ChildObject)
}

// kindOf describes the kind of child of type T, held in the field of Children that field
// returns.
func kindOf[T any, P interface {
	*T
	ChildObject
}](sk store.Kind, rk ResourceKind, objects string, field func(*Children) *P,
	create func(Child, string, io.Reader) (ChildObject, error)) *childKind {
	return &childKind{store: sk, resource: rk, objects: objects, create: create,
		decode: func(r store.Record) (ChildObject, error) {
			v, err := decode[T](r)
			if err == nil {
				P(v).Common().Version = r.Version
			}
			return P(v), err
		},
		get: func(c *Children) ChildObject {
			if o := *field(c); o != nil {
				return o
			}
			return nil // not an interface holding a nil pointer
		},
		set: func(c *Children, o ChildObject) { *field(c) = o.(P) },
	}
}

// findKind returns the first kind of child that match accepts; nil when none does.
func findKind(match func(*childKind) bool) *childKind {
	for _, ck := range childKinds {
		if match(ck) {
			return ck
		}
	}
	return nil
}
