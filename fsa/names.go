package fsa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fullstackagent/fsa/store"
)

// A user's project names are unique among the user's projects that are not being deleted. Each
// held name is a record (store.KindName, id "<user>/<sha-256 of the name>", parent the project)
// written in the project's creation transaction with the precondition that it is absent, and
// removed by the transaction that asks for the project's deletion. So checking a name is one
// lookup whatever the number of the user's projects, and two creations of one name by one user
// conflict in the store.
//
// A marker record (id namesIndexed) says that every live project has its name record. Stores
// written before name records existed have projects without one and no marker: the first
// creation on such a store also writes the missing records and the marker (in its own
// transaction when there are few, in batches before it otherwise), and until the marker exists
// a creation also checks the user's projects. A new store gets the marker with its first project.

// namesIndexed is the id of the marker record; name ids contain a "/", so it is never one.
const namesIndexed = "projectnames"

// indexNamesBatch is how many name records one transaction writes at most when a store is
// indexed.
const indexNamesBatch = 500

// errNamesUnindexed: the store needs more name records than one creation should write; index it
// first (indexNames).
var errNamesUnindexed = errors.New("project names not indexed")

// projectName is the part of a project record that name checks read.
type projectName struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
}

// nameData is a name record's payload.
type nameData struct {
	ProjectID string `json:"project_id"`
}

// nameID is the id of the record holding a user's project name.
func nameID(userID, name string) string {
	sum := sha256.Sum256([]byte(name))
	return userID + "/" + hex.EncodeToString(sum[:])
}

func nameRecord(userID, projectID, name string) store.Record {
	return store.Record{Kind: store.KindName, ID: nameID(userID, name), Owner: userID, Parent: projectID,
		Data: encode(nameData{ProjectID: projectID})}
}

// live reports whether a project in status st holds its name.
func live(st Status) bool { return st != StatusTerminating && st != StatusTerminated }

// holdName adds to txn the precondition that p's name is free and the record that holds it. On
// a store without the marker it checks the user's projects too and adds the missing records
// and the marker, or returns errNamesUnindexed when they are too many for one transaction.
func holdName(s store.Snapshot, txn *store.Txn, p *Project) error {
	r := nameRecord(p.UserID, p.ID, p.Name)
	if _, err := s.Get(store.KindName, r.ID); err == nil {
		return fmt.Errorf("%w: you already have a project named %q", ErrAlreadyExists, p.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	txn.Conds = append(txn.Conds, absent(store.KindName, r.ID))
	txn.Ops = append(txn.Ops, store.Put(r))
	if _, err := s.Get(store.KindName, namesIndexed); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	owned, err := s.List(store.KindProject, store.Filter{Owner: p.UserID})
	if err != nil {
		return err
	}
	for _, o := range owned {
		other, err := decode[projectName](o)
		if err != nil {
			return err
		}
		if other.Name == p.Name && live(other.Status) {
			return fmt.Errorf("%w: you already have a project named %q", ErrAlreadyExists, p.Name)
		}
	}
	missing, err := missingNames(s, indexNamesBatch)
	if err != nil {
		return err
	}
	if len(missing) >= indexNamesBatch {
		return errNamesUnindexed
	}
	for _, m := range missing {
		txn.Conds = append(txn.Conds, absent(store.KindName, m.ID))
		txn.Ops = append(txn.Ops, store.Put(m))
	}
	txn.Conds = append(txn.Conds, absent(store.KindName, namesIndexed))
	txn.Ops = append(txn.Ops, store.Put(store.Record{Kind: store.KindName, ID: namesIndexed}))
	return nil
}

// missingNames returns up to limit name records that live projects should have and do not.
func missingNames(s store.Snapshot, limit int) ([]store.Record, error) {
	all, err := s.List(store.KindProject, store.Filter{})
	if err != nil {
		return nil, err
	}
	var out []store.Record
	seen := map[string]bool{}
	for _, rec := range all {
		pn, err := decode[projectName](rec)
		if err != nil {
			return nil, err
		}
		r := nameRecord(rec.Owner, rec.ID, pn.Name)
		if !live(pn.Status) || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if _, err := s.Get(store.KindName, r.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if out = append(out, r); len(out) == limit {
			break
		}
	}
	return out, nil
}

// releaseName adds to txn the removal of p's name record, if it holds p's name.
func releaseName(s store.Snapshot, txn *store.Txn, p *Project) error {
	r, err := s.Get(store.KindName, nameID(p.UserID, p.Name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Parent != p.ID {
		return nil // another project of the same name holds it
	}
	txn.Conds = append(txn.Conds, cond(r))
	txn.Ops = append(txn.Ops, store.Delete(store.KindName, r.ID))
	return nil
}

// indexNames writes the missing name records in batches, then the marker. A creation runs it
// when its own transaction would be too large (errNamesUnindexed); a conflict with another
// writer makes a batch start again.
func (c *Client) indexNames(ctx context.Context) error {
	for done := false; !done; {
		_, err := c.commit(ctx, func(s store.Snapshot) (store.Txn, error) {
			done = false
			if _, err := s.Get(store.KindName, namesIndexed); err == nil {
				done = true
				return store.Txn{}, nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return store.Txn{}, err
			}
			missing, err := missingNames(s, indexNamesBatch)
			if err != nil {
				return store.Txn{}, err
			}
			var txn store.Txn
			for _, m := range missing {
				txn.Conds = append(txn.Conds, absent(store.KindName, m.ID))
				txn.Ops = append(txn.Ops, store.Put(m))
			}
			if len(missing) < indexNamesBatch {
				txn.Conds = append(txn.Conds, absent(store.KindName, namesIndexed))
				txn.Ops = append(txn.Ops, store.Put(store.Record{Kind: store.KindName, ID: namesIndexed}))
				done = true
			}
			return txn, nil
		})
		if err != nil {
			return fmt.Errorf("index project names: %w", err)
		}
	}
	return nil
}
