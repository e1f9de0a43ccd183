package fsa

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/store"
)

// Size is what one project gets: the CPU and memory of its sandbox and of its database, the
// size of its home volume and of its database's data volume. CPU is in millicores, memory and
// volumes in bytes. CPU and Memory are the sandbox container's limits, CPURequest and
// MemoryRequest its requests (never above the limits); the database's component gets
// DatabaseCPU and DatabaseMemory as limits and DatabaseRequests as requests. Quotas count the
// limits (see Limits).
type Size struct {
	// Class names the size class the size was chosen from; explicit values may have changed
	// some of its fields since.
	Class          string `json:"class,omitempty"`
	CPU            int64  `json:"cpu"`
	CPURequest     int64  `json:"cpu_request"`
	Memory         int64  `json:"memory"`
	MemoryRequest  int64  `json:"memory_request"`
	Home           int64  `json:"home"`
	Database       int64  `json:"database"`
	DatabaseCPU    int64  `json:"database_cpu"`
	DatabaseMemory int64  `json:"database_memory"`
}

// SizeSpec asks for a size: a class (empty: the default class at create, the project's
// current size at resize) and explicit values that replace the class's, in Kubernetes' quantity
// syntax: CPU "500m" or "2", memory and volumes "512Mi", "10Gi". Empty values keep the base's.
// Explicit values must lie within the operator's bounds (SizePolicy.Min and Max). An explicit
// CPU or Memory keeps the base's request when that is lower, else the request is the new limit.
type SizeSpec struct {
	Class    string
	CPU      string
	Memory   string
	Home     string
	Database string
}

// IsZero reports whether the spec asks for nothing.
func (s SizeSpec) IsZero() bool { return s == SizeSpec{} }

// SizePolicy is the operator's sizes: named classes, the default class, and the bounds of the
// explicit values a user may ask for (a zero field of Min or Max: the built-in bound,
// MinSize or MaxSize). Every class must lie within the bounds too.
type SizePolicy struct {
	Classes map[string]Size
	// Default names the class of a project created without one.
	Default  string
	Min, Max Size
}

// DefaultSizeClass is the name of the built-in class, used when the operator defines none.
const DefaultSizeClass = "standard"

// BuiltinSize is the size of the built-in class, and of every project created before sizes
// were recorded: the Kubernetes objects' defaults (k8s.DefaultSandboxResources,
// DefaultHomeSize, DefaultDatabaseResources and DefaultDatabaseSize).
var BuiltinSize = Size{Class: DefaultSizeClass, CPU: 2000, CPURequest: 200, Memory: 4 << 30, MemoryRequest: 512 << 20,
	Home: 10 << 30, Database: 3 << 30, DatabaseCPU: 1000, DatabaseMemory: 1 << 30}

// Built-in bounds of explicit values and of classes: below MinSize nothing useful runs; above
// MaxSize a value is a mistake, not a size.
var (
	MinSize = Size{CPU: 50, CPURequest: 1, Memory: 64 << 20, MemoryRequest: 1 << 20, Home: 1 << 30, Database: 1 << 30,
		DatabaseCPU: 50, DatabaseMemory: 128 << 20}
	MaxSize = Size{CPU: 64000, CPURequest: 64000, Memory: 256 << 30, MemoryRequest: 256 << 30, Home: 4 << 40,
		Database: 4 << 40, DatabaseCPU: 64000, DatabaseMemory: 256 << 30}
)

// databaseRequests are the database component's requests before the cap at its limits.
const (
	databaseCPURequest    = 100
	databaseMemoryRequest = 256 << 20
)

// DatabaseRequests returns the database component's CPU (millicores) and memory requests:
// 100m and 256Mi, or the limits when lower.
func (s Size) DatabaseRequests() (cpu, memory int64) {
	return min(databaseCPURequest, s.DatabaseCPU), min(databaseMemoryRequest, s.DatabaseMemory)
}

// String prints the size as "cpu 2, memory 4Gi, home 10Gi, db 3Gi".
func (s Size) String() string {
	return fmt.Sprintf("cpu %s, memory %s, home %s, db %s", k8s.FormatMilli(s.CPU), k8s.FormatBytes(s.Memory),
		k8s.FormatBytes(s.Home), k8s.FormatBytes(s.Database))
}

// sizeKeys are the keys of a size class's and a bound's text form, with the field each sets
// and how it is parsed.
var sizeKeys = []struct {
	key   string
	field func(*Size) *int64
	cpu   bool
}{
	{"cpu", func(s *Size) *int64 { return &s.CPU }, true},
	{"memory", func(s *Size) *int64 { return &s.Memory }, false},
	{"home", func(s *Size) *int64 { return &s.Home }, false},
	{"db", func(s *Size) *int64 { return &s.Database }, false},
	{"cpu-request", func(s *Size) *int64 { return &s.CPURequest }, true},
	{"memory-request", func(s *Size) *int64 { return &s.MemoryRequest }, false},
	{"db-cpu", func(s *Size) *int64 { return &s.DatabaseCPU }, true},
	{"db-memory", func(s *Size) *int64 { return &s.DatabaseMemory }, false},
}

// parseSizeFields parses "key:quantity,..." (keys of sizeKeys) over base.
func parseSizeFields(text string, base Size) (Size, map[string]bool, error) {
	set := map[string]bool{}
	if strings.TrimSpace(text) == "" {
		return base, set, nil
	}
	for _, kv := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
		if !ok {
			return Size{}, nil, fmt.Errorf("%q: want key:quantity", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		found := false
		for _, sk := range sizeKeys {
			if sk.key != k {
				continue
			}
			found = true
			if set[k] {
				return Size{}, nil, fmt.Errorf("%s given twice", k)
			}
			n, err := parseQuantity(sk.key, v, sk.cpu)
			if err != nil {
				return Size{}, nil, err
			}
			*sk.field(&base) = n
			set[k] = true
		}
		if !found {
			return Size{}, nil, fmt.Errorf("unknown key %q: want %s", k, sizeKeyNames())
		}
	}
	return base, set, nil
}

func sizeKeyNames() string {
	names := make([]string, len(sizeKeys))
	for i, k := range sizeKeys {
		names[i] = k.key
	}
	return strings.Join(names, ", ")
}

func parseQuantity(what, v string, cpu bool) (int64, error) {
	var n int64
	var err error
	if cpu {
		n, err = k8s.ParseMilli(v)
	} else {
		n, err = k8s.ParseBytes(v)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// ParseSizeClass parses a size class in fsad's configuration form,
// "name=cpu:500m,memory:1Gi,home:5Gi,db:1Gi": the keys cpu, memory, home and db, and optionally
// cpu-request, memory-request, db-cpu and db-memory. A key left out takes BuiltinSize's value;
// a request above its limit is lowered to the limit. The class is checked against the bounds
// by SizePolicy.Validate.
func ParseSizeClass(text string) (string, Size, error) {
	name, fields, ok := strings.Cut(text, "=")
	name = strings.TrimSpace(name)
	if !ok || !validClassName(name) {
		return "", Size{}, invalid("size class %q: want name=cpu:500m,memory:1Gi,home:5Gi,db:1Gi (a name of lowercase letters, digits and -)", truncate(text, 80))
	}
	s, set, err := parseSizeFields(fields, BuiltinSize)
	if err != nil {
		return "", Size{}, invalid("size class %s: %v", name, err)
	}
	if !set["cpu-request"] {
		s.CPURequest = min(s.CPURequest, s.CPU)
	}
	if !set["memory-request"] {
		s.MemoryRequest = min(s.MemoryRequest, s.Memory)
	}
	s.Class = name
	return name, s, nil
}

// ParseSizeBounds parses a bound in fsad's configuration form, "cpu:100m,memory:256Mi,home:1Gi"
// (the keys of ParseSizeClass); keys left out keep the built-in bound (zero).
func ParseSizeBounds(text string) (Size, error) {
	s, _, err := parseSizeFields(text, Size{})
	if err != nil {
		return Size{}, invalid("size bounds: %v", err)
	}
	return s, nil
}

func validClassName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// bounds returns the policy's bounds with the built-in ones filled in.
func (p *SizePolicy) bounds() (lo, hi Size) {
	lo, hi = p.Min, p.Max
	for _, k := range sizeKeys {
		if *k.field(&lo) == 0 {
			*k.field(&lo) = *k.field(&MinSize)
		}
		if *k.field(&hi) == 0 {
			*k.field(&hi) = *k.field(&MaxSize)
		}
	}
	return lo, hi
}

// within checks every field of s against the bounds, naming the first one outside.
func (p *SizePolicy) within(s Size) error {
	lo, hi := p.bounds()
	for _, k := range sizeKeys {
		v, l, h := *k.field(&s), *k.field(&lo), *k.field(&hi)
		if v < l || v > h {
			return invalid("%s %s is outside the allowed %s to %s", k.key, formatField(k.cpu, v), formatField(k.cpu, l), formatField(k.cpu, h))
		}
	}
	if s.CPURequest > s.CPU || s.MemoryRequest > s.Memory {
		return invalid("a request is above its limit (cpu %s of %s, memory %s of %s)", k8s.FormatMilli(s.CPURequest),
			k8s.FormatMilli(s.CPU), k8s.FormatBytes(s.MemoryRequest), k8s.FormatBytes(s.Memory))
	}
	return nil
}

func formatField(cpu bool, v int64) string {
	if cpu {
		return k8s.FormatMilli(v)
	}
	return k8s.FormatBytes(v)
}

// Validate checks the policy: the default class exists, the bounds are ordered and every class
// lies within them. An empty policy is valid: it stands for the built-in class alone.
func (p SizePolicy) Validate() error {
	if len(p.Classes) == 0 && p.Default == "" && p.Min == (Size{}) && p.Max == (Size{}) {
		return nil
	}
	p = p.withDefaults()
	lo, hi := p.bounds()
	for _, k := range sizeKeys {
		if *k.field(&lo) > *k.field(&hi) {
			return invalid("size bounds: minimum %s %s is above the maximum %s", k.key, formatField(k.cpu, *k.field(&lo)), formatField(k.cpu, *k.field(&hi)))
		}
		if *k.field(&p.Max) > *k.field(&MaxSize) {
			return invalid("size bounds: maximum %s %s is above the built-in %s", k.key, formatField(k.cpu, *k.field(&p.Max)), formatField(k.cpu, *k.field(&MaxSize)))
		}
	}
	if _, ok := p.Classes[p.Default]; !ok {
		return invalid("default size class %q is not defined (classes: %s)", p.Default, strings.Join(p.classNames(), ", "))
	}
	for name, c := range p.Classes {
		if !validClassName(name) {
			return invalid("size class name %q: lowercase letters, digits and -", name)
		}
		if err := p.within(c); err != nil {
			return fmt.Errorf("size class %s: %w", name, err)
		}
	}
	return nil
}

// withDefaults fills in the built-in class when the policy has none, and the default class
// when it has exactly one.
func (p SizePolicy) withDefaults() SizePolicy {
	if len(p.Classes) == 0 {
		p.Classes = map[string]Size{DefaultSizeClass: BuiltinSize}
	}
	if p.Default == "" {
		if len(p.Classes) == 1 {
			for name := range p.Classes {
				p.Default = name
			}
		} else if _, ok := p.Classes[DefaultSizeClass]; ok {
			p.Default = DefaultSizeClass
		}
	}
	return p
}

func (p *SizePolicy) classNames() []string {
	out := make([]string, 0, len(p.Classes))
	for n := range p.Classes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SizeClasses returns the client's size classes by name and the default class's name.
func (c *Client) SizeClasses() (map[string]Size, string) {
	out := make(map[string]Size, len(c.sizes.Classes))
	for n, s := range c.sizes.Classes {
		out[n] = s
	}
	return out, c.sizes.Default
}

// WithSizes sets the operator's size classes and bounds (see SizePolicy; check it with
// Validate first: an invalid policy makes every create fail). Without it projects get
// BuiltinSize.
func WithSizes(p SizePolicy) Option { return func(c *Client) { c.sizes = p.withDefaults() } }

// resolve returns the size spec asks for over base (nil: the default class), checked against
// the bounds.
func (p *SizePolicy) resolve(spec SizeSpec, base *Size) (Size, error) {
	var s Size
	switch {
	case spec.Class != "":
		c, ok := p.Classes[spec.Class]
		if !ok {
			return Size{}, invalid("unknown size class %q: the classes are %s", truncate(spec.Class, 40), strings.Join(p.classNames(), ", "))
		}
		s = c
		s.Class = spec.Class
	case base != nil:
		s = *base
	default:
		c, ok := p.Classes[p.Default]
		if !ok {
			return Size{}, fmt.Errorf("%w: no default size class is configured", ErrFailedPrecondition)
		}
		s = c
		s.Class = p.Default
	}
	for _, f := range []struct {
		key, v    string
		lim, req  *int64
		cpu       bool
		hasReqCap bool
	}{
		{"cpu", spec.CPU, &s.CPU, &s.CPURequest, true, true},
		{"memory", spec.Memory, &s.Memory, &s.MemoryRequest, false, true},
		{"home", spec.Home, &s.Home, nil, false, false},
		{"db", spec.Database, &s.Database, nil, false, false},
	} {
		if f.v == "" {
			continue
		}
		if len(f.v) > 32 {
			return Size{}, invalid("%s %q is not a quantity", f.key, truncate(f.v, 32))
		}
		n, err := parseQuantity(f.key, f.v, f.cpu)
		if err != nil {
			return Size{}, invalid("%v", err)
		}
		lo, hi := p.bounds()
		var l, h int64
		for _, k := range sizeKeys {
			if k.key == f.key {
				l, h = *k.field(&lo), *k.field(&hi)
			}
		}
		if n < l || n > h {
			return Size{}, invalid("%s %s is outside the allowed %s to %s", f.key, formatField(f.cpu, n), formatField(f.cpu, l), formatField(f.cpu, h))
		}
		*f.lim = n
		if f.hasReqCap {
			*f.req = min(*f.req, n)
		}
	}
	if err := p.within(s); err != nil {
		return Size{}, err
	}
	return s, nil
}

// sizeOf returns the size of p: as recorded, or BuiltinSize for a project created before sizes
// were recorded.
func sizeOf(p *Project) Size {
	if p.Size != nil {
		return *p.Size
	}
	return BuiltinSize
}

// ResizeProject changes the size of a STOPPED project (ErrFailedPrecondition otherwise): spec's
// class and explicit values over the project's current size (see SizeSpec). Volumes only grow:
// a smaller home or database volume is refused (ErrInvalidArgument naming both sizes). The new
// size is checked against the user's quota in the same transaction (storage at once; CPU and
// memory when the project starts). The sandbox and database records are rewritten with a
// "Resized" condition, so reconcile applies the new size: the StatefulSet's and the Cluster's
// resources, and a larger volume by volume expansion (the StorageClass must allow it; see
// docs/operations.md). Asking for the current size changes nothing.
func (c *Client) ResizeProject(ctx context.Context, userID, projectID string, spec SizeSpec) (*Project, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	if spec.IsZero() {
		return nil, invalid("no size asked for: give a class or a value of cpu, memory, home or db")
	}
	// The input is checked before the project's state: a bad class or value is the caller's
	// mistake whatever the project's status.
	if _, err := c.sizes.resolve(spec, nil); err != nil {
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
		cur := sizeOf(p)
		next, err := c.sizes.resolve(spec, &cur)
		if err != nil {
			return store.Txn{}, err
		}
		// A shrink is refused in any state, so before the state is looked at.
		if next.Home < cur.Home {
			return store.Txn{}, invalid("the home volume cannot shrink from %s to %s: volumes only grow", k8s.FormatBytes(cur.Home), k8s.FormatBytes(next.Home))
		}
		if next.Database < cur.Database {
			return store.Txn{}, invalid("the database volume cannot shrink from %s to %s: volumes only grow", k8s.FormatBytes(cur.Database), k8s.FormatBytes(next.Database))
		}
		if p.Status != StatusStopped {
			return store.Txn{}, fmt.Errorf("%w: project %s is %s: stop it before changing its size", ErrFailedPrecondition, projectID, p.Status)
		}
		out = p
		if next == cur && p.Size != nil {
			return store.Txn{}, nil
		}
		before := countUse(p)
		now := c.timestamp()
		txn := store.Txn{Conds: []store.Cond{cond(st.project)}}
		for _, ch := range st.children {
			txn.Conds = append(txn.Conds, cond(ch))
		}
		msg := fmt.Sprintf("%s → %s", cur, next)
		for _, k := range childKinds {
			o := k.get(&p.Children)
			if o == nil {
				continue
			}
			ch := o.Common()
			ch.Conditions = appendCondition(ch.Conditions, Condition{Time: now, From: ch.Status, To: ch.Status, Reason: "Resized", Message: msg})
			ch.UpdatedAt = now
			txn.Ops = append(txn.Ops, store.Put(childRecord(k, o)))
			wrote = append(wrote, o)
		}
		p.Size, p.UpdatedAt = &next, now
		txn.Ops = append(txn.Ops, store.Put(projectRecord(p)))
		if d := countUse(p).sub(before); d != (Usage{}) {
			ur, err := s.Get(store.KindUser, userID)
			if err != nil {
				return store.Txn{}, err
			}
			if err := c.charge(s, &txn, ur, d); err != nil {
				return store.Txn{}, err
			}
		}
		return txn, nil
	})
	if err != nil {
		return nil, fmt.Errorf("resize project %s: %w", projectID, err)
	}
	if rev != 0 {
		out.Version = rev
		for _, o := range wrote {
			o.Common().Version = rev
		}
	}
	return out, nil
}

// SizeBounds returns the bounds of explicit sizes in force: the operator's, with the built-in
// ones (MinSize, MaxSize) where the operator set none.
func (c *Client) SizeBounds() (lo, hi Size) { return c.sizes.bounds() }
