package fsa

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/fullstackagent/fsa/store"
)

// EnvSpec is a variable to set.
type EnvSpec struct {
	Key      string
	Value    string
	Category string // "general" when empty
	Secret   bool
}

func (e EnvSpec) validate() (EnvSpec, error) {
	if err := validEnvKey(e.Key); err != nil {
		return e, err
	}
	if err := validEnvValue(e.Key, e.Value); err != nil {
		return e, err
	}
	cat, err := normCategory(e.Category)
	if err != nil {
		return e, err
	}
	e.Category = cat
	return e, nil
}

// ListEnv returns the project's variables ordered by key. Secret values are withheld (Redacted)
// unless reveal is true; the platform's terminal token is always withheld.
func (c *Client) ListEnv(ctx context.Context, userID, projectID string, reveal bool) ([]*EnvVar, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	var out []*EnvVar
	err := c.view(ctx, func(s store.Snapshot) error {
		if _, err := ownedProject(s, userID, projectID); err != nil {
			return err
		}
		vars, err := listEnv(s, projectID)
		if err != nil {
			return err
		}
		for _, v := range vars {
			out = append(out, redactEnv(v, reveal))
		}
		return nil
	})
	return out, err
}

func redactEnv(v *EnvVar, reveal bool) *EnvVar {
	if v.Secret && (!reveal || v.Platform) {
		v.Value = ""
		v.Redacted = true
	}
	return v
}

func listEnv(s store.Snapshot, projectID string) ([]*EnvVar, error) {
	rs, err := s.List(store.KindEnvVar, store.Filter{Parent: projectID})
	if err != nil {
		return nil, err
	}
	out := make([]*EnvVar, 0, len(rs))
	for _, r := range rs {
		v, err := decode[EnvVar](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// ownedProject returns the project record if it belongs to userID and still accepts changes.
func ownedProject(s store.Snapshot, userID, projectID string) (store.Record, error) {
	r, err := s.Get(store.KindProject, projectID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Owner != userID) {
		return store.Record{}, notFound("project", projectID)
	}
	return r, err
}

// beginProjectWrite starts a transaction on one of the user's projects that still accepts
// changes: the project must stay unchanged until commit, and the call's idempotency key (if
// any) is checked and recorded.
func beginProjectWrite(s store.Snapshot, im *idem, userID, projectID string) (store.Txn, error) {
	pr, err := mutableProject(s, userID, projectID)
	if err != nil {
		return store.Txn{}, err
	}
	txn := store.Txn{Conds: []store.Cond{cond(pr)}}
	if err := im.check(s, &txn, projectID, projectID); err != nil {
		return store.Txn{}, err
	}
	return txn, nil
}

func mutableProject(s store.Snapshot, userID, projectID string) (store.Record, error) {
	r, err := ownedProject(s, userID, projectID)
	if err != nil {
		return r, err
	}
	if st := Status(r.Status); st == StatusTerminating || st == StatusTerminated {
		return r, fmt.Errorf("%w: project %s is %s", ErrFailedPrecondition, projectID, st)
	}
	return r, nil
}

// SetEnv creates or replaces a variable.
func (c *Client) SetEnv(ctx context.Context, userID, projectID string, spec EnvSpec) (*EnvVar, error) {
	return first(c.writeEnv(ctx, userID, projectID, "", []EnvSpec{spec}, false, nil))
}

// EnvUpdate changes an existing variable: the fields that are set change, the others keep
// their current values (so a secret's category or flag can change without its value).
type EnvUpdate struct {
	Key      string
	Value    *string
	Category *string
	Secret   *bool
}

// UpdateEnv changes an existing variable, merging u into its current state in the same
// transaction; ErrNotFound if it does not exist.
func (c *Client) UpdateEnv(ctx context.Context, userID, projectID string, u EnvUpdate) (*EnvVar, error) {
	spec := EnvSpec{Key: u.Key}
	if u.Value != nil {
		spec.Value = *u.Value
	}
	if u.Category != nil {
		spec.Category = *u.Category
	}
	return first(c.writeEnv(ctx, userID, projectID, "", []EnvSpec{spec}, false, &u))
}

// SetEnvBatch sets several variables of one category in one transaction. With replace, the
// category's variables not in vars are deleted. Duplicate keys are rejected.
func (c *Client) SetEnvBatch(ctx context.Context, userID, projectID, category string, vars []EnvSpec, replace bool) ([]*EnvVar, error) {
	cat, err := normCategory(category)
	if err != nil {
		return nil, err
	}
	for i := range vars {
		if vars[i].Category != "" && vars[i].Category != cat {
			return nil, invalid("variable %s has category %q in a batch for %q", vars[i].Key, vars[i].Category, cat)
		}
		vars[i].Category = cat
	}
	return c.writeEnv(ctx, userID, projectID, cat, vars, replace, nil)
}

// writeEnv sets specs; with update (UpdateEnv's one spec) the variable must exist and merges.
func (c *Client) writeEnv(ctx context.Context, userID, projectID, category string, specs []EnvSpec, replace bool, update *EnvUpdate) ([]*EnvVar, error) {
	if err := validID("user id", userID); err != nil {
		return nil, err
	}
	if err := validID("project id", projectID); err != nil {
		return nil, err
	}
	if len(specs) == 0 && !replace {
		return nil, invalid("no variables given")
	}
	if len(specs) > MaxEnvVars {
		return nil, invalid("%d variables given; at most %d per project", len(specs), MaxEnvVars)
	}
	seen := map[string]bool{}
	for i, sp := range specs {
		v, err := sp.validate()
		if err != nil {
			return nil, err
		}
		if seen[v.Key] {
			return nil, invalid("duplicate key %s", v.Key)
		}
		seen[v.Key] = true
		specs[i] = v
	}
	method := "SetEnv"
	if update != nil {
		method = "UpdateEnv"
	}
	if category != "" {
		method = "SetEnvBatch"
	}
	im, err := c.idem(ctx, userID, method)
	if err != nil {
		return nil, err
	}
	var out []*EnvVar
	_, err = c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		out = out[:0]
		txn, err := beginProjectWrite(s, im, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		// The checks read keys, flags and categories only, from the records as stored: a
		// sealed value is neither opened nor copied, so a sealed write costs the sealing of
		// the values it writes and nothing more. Existing variables are listed only when the
		// count can grow or a replace deletes.
		added := 0
		now := c.timestamp()
		for _, sp := range specs {
			id := envID(projectID, sp.Key)
			r, err := raw(s).Get(store.KindEnvVar, id)
			switch {
			case err == nil:
				cur, err := decode[envMeta](r)
				if err != nil {
					return store.Txn{}, err
				}
				if cur.Platform {
					return store.Txn{}, invalid("environment key %q is owned by the platform", sp.Key)
				}
				txn.Conds = append(txn.Conds, cond(r))
				if update != nil {
					if r, err = s.Get(store.KindEnvVar, id); err != nil { // opened: the merge keeps its value
						return store.Txn{}, err
					}
					full, err := decode[EnvVar](r)
					if err != nil {
						return store.Txn{}, err
					}
					sp = mergeEnv(sp, *update, full)
				}
			case errors.Is(err, store.ErrNotFound):
				if update != nil {
					return store.Txn{}, notFound("environment variable", sp.Key)
				}
				txn.Conds = append(txn.Conds, absent(store.KindEnvVar, id))
				added++
			default:
				return store.Txn{}, err
			}
			v := &EnvVar{ProjectID: projectID, UserID: userID, Key: sp.Key, Value: sp.Value, Category: sp.Category, Secret: sp.Secret, UpdatedAt: now}
			txn.Ops = append(txn.Ops, store.Put(envRecord(v)))
			out = append(out, v)
		}
		if added == 0 && !replace {
			return txn, nil
		}
		existing, err := raw(s).List(store.KindEnvVar, store.Filter{Parent: projectID})
		if err != nil {
			return store.Txn{}, err
		}
		count := len(existing) + added
		if replace {
			for _, r := range existing {
				cur, err := decode[envMeta](r)
				if err != nil {
					return store.Txn{}, err
				}
				if cur.Category == category && !cur.Platform && !seen[cur.Key] {
					txn.Ops = append(txn.Ops, store.Delete(store.KindEnvVar, r.ID))
					count--
				}
			}
		}
		if count > MaxEnvVars+1 { // +1: the platform's terminal token
			return store.Txn{}, fmt.Errorf("%w: project would have %d variables; at most %d allowed", ErrFailedPrecondition, count, MaxEnvVars)
		}
		return txn, nil
	})
	if _, ok := asReplay(err); ok {
		// Already done: return the variables as they are now.
		return c.currentEnv(ctx, userID, projectID, specs)
	}
	if err != nil {
		return nil, fmt.Errorf("set environment of project %s: %w", projectID, err)
	}
	for i := range out {
		out[i] = redactEnv(out[i], true)
	}
	return out, nil
}

// envMeta is what writeEnv's checks read of a stored variable: never its value, which json
// skips whether it is in the clear or sealed.
type envMeta struct {
	Key      string `json:"key"`
	Category string `json:"category,omitempty"`
	Platform bool   `json:"platform,omitempty"`
}

// mergeEnv keeps cur's value of each field u leaves unset.
func mergeEnv(sp EnvSpec, u EnvUpdate, cur *EnvVar) EnvSpec {
	if u.Value == nil {
		sp.Value = cur.Value
	}
	if u.Category == nil {
		sp.Category = cur.Category
	}
	sp.Secret = cur.Secret
	if u.Secret != nil {
		sp.Secret = *u.Secret
	}
	return sp
}

// DeleteEnv removes a variable; ErrNotFound if it does not exist.
func (c *Client) DeleteEnv(ctx context.Context, userID, projectID, key string) error {
	if err := validID("user id", userID); err != nil {
		return err
	}
	if err := validID("project id", projectID); err != nil {
		return err
	}
	if err := validEnvKey(key); err != nil {
		return err
	}
	im, err := c.idem(ctx, userID, "DeleteEnv")
	if err != nil {
		return err
	}
	_, err = c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
		txn, err := beginProjectWrite(s, im, userID, projectID)
		if err != nil {
			return store.Txn{}, err
		}
		r, err := s.Get(store.KindEnvVar, envID(projectID, key))
		if errors.Is(err, store.ErrNotFound) {
			return store.Txn{}, notFound("environment variable", key)
		}
		if err != nil {
			return store.Txn{}, err
		}
		txn.Conds = append(txn.Conds, cond(r))
		txn.Ops = append(txn.Ops, store.Delete(store.KindEnvVar, r.ID))
		return txn, nil
	})
	if _, ok := asReplay(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s of project %s: %w", key, projectID, err)
	}
	return nil
}

// currentEnv returns the current values of the variables named in specs.
func (c *Client) currentEnv(ctx context.Context, userID, projectID string, specs []EnvSpec) ([]*EnvVar, error) {
	all, err := c.ListEnv(ctx, userID, projectID, true)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, sp := range specs {
		want[sp.Key] = true
	}
	var out []*EnvVar
	for _, v := range all {
		if want[v.Key] {
			out = append(out, v)
		}
	}
	return out, nil
}

func first(vs []*EnvVar, err error) (*EnvVar, error) {
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: the variable set by the earlier call with this idempotency key no longer exists", ErrNotFound)
	}
	return vs[0], nil
}
