package fsa_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

func TestProjectNamesUnique(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st)
		p := e.project("same")
		before := e.revision()
		_, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "same"})
		require.ErrorIs(t, err, fsa.ErrAlreadyExists)
		require.Equal(t, before, e.revision(), "a refused creation stores nothing")
		_, err = e.c.CreateProject(e.ctx, e.bob.ID, fsa.ProjectSpec{Name: "same"})
		require.NoError(t, err, "names are unique per user")

		// Concurrent creations with one name: exactly one wins, the others are told why.
		const n = 50
		errs := make(chan error, n)
		var start sync.WaitGroup
		start.Add(1)
		for i := 0; i < n; i++ {
			go func() {
				start.Wait()
				_, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "race"})
				errs <- err
			}()
		}
		start.Done()
		wins := 0
		for i := 0; i < n; i++ {
			if err := <-errs; err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, fsa.ErrAlreadyExists)
			}
		}
		require.Equal(t, 1, wins)

		// Concurrent creations with different names by one user do not conflict on the names.
		for i := 0; i < 10; i++ {
			go func() {
				_, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: fmt.Sprint("many-", i)})
				errs <- err
			}()
		}
		for i := 0; i < 10; i++ {
			require.NoError(t, <-errs)
		}

		// A name is free again once its project is being deleted, and the deleted project's
		// removal (after Kubernetes is cleaned up) leaves the new holder's name alone.
		_, err = e.c.DeleteProject(e.ctx, e.alice.ID, p.ID)
		require.NoError(t, err)
		p2, err := e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "same"})
		require.NoError(t, err)
		e.observe(p, fsa.StatusTerminated)
		_, err = e.c.GetProject(e.ctx, e.alice.ID, p.ID)
		require.ErrorIs(t, err, fsa.ErrNotFound, "the terminated project is removed")
		_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "same"})
		require.ErrorIs(t, err, fsa.ErrAlreadyExists, "the new project still holds the name")
		_, err = e.c.DeleteProject(e.ctx, e.alice.ID, p2.ID)
		require.NoError(t, err)
		_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "same"})
		require.NoError(t, err)
	})
}

// TestProjectNamesOfALegacyStore: a store written before name records existed (projects
// without them, no marker) keeps names unique: the first creation records the names of the live
// projects, once.
func TestProjectNamesOfALegacyStore(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st)
		for i := 0; i < 3; i++ {
			e.project(fmt.Sprint("old-", i))
		}
		gone := e.project("gone")
		_, err := e.c.DeleteProject(e.ctx, e.alice.ID, gone.ID)
		require.NoError(t, err)
		_, err = e.c.CreateProject(e.ctx, e.bob.ID, fsa.ProjectSpec{Name: "bobs"})
		require.NoError(t, err)
		names := e.records(store.KindName)
		require.Len(t, names, 5, "four live projects and the marker")

		// Make it legacy: drop every name record (the marker too) in one transaction.
		var txn store.Txn
		for _, r := range names {
			txn.Conds = append(txn.Conds, store.Cond{Kind: r.Kind, ID: r.ID, Version: r.Version})
			txn.Ops = append(txn.Ops, store.Delete(r.Kind, r.ID))
		}
		_, err = st.Commit(e.ctx, txn)
		require.NoError(t, err)

		// A client that indexed the store before (as when an older backup is restored under a
		// running daemon) finds no marker and checks the user's projects.
		_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "old-0"})
		require.ErrorIs(t, err, fsa.ErrAlreadyExists)

		// A fresh client (as after an upgrade) on the legacy store records the names first.
		c := fsa.New(st)
		_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "old-1"})
		require.ErrorIs(t, err, fsa.ErrAlreadyExists)
		_, err = c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "gone"})
		require.NoError(t, err, "a project being deleted holds no name")
		require.Len(t, e.records(store.KindName), 6, "the live projects' names, the new one's and the marker")
	})
}

func (e *env) records(k store.Kind) []store.Record {
	e.t.Helper()
	var out []store.Record
	require.NoError(e.t, e.st.View(e.ctx, func(s store.Snapshot) error {
		var err error
		out, err = s.List(k, store.Filter{})
		return err
	}))
	return out
}

// TestProjectNamesOfALargeLegacyStore: more missing names than one transaction takes are
// recorded in batches before the creation.
func TestProjectNamesOfALargeLegacyStore(t *testing.T) {
	e := newEnv(t)
	const n = 1200 // more than two batches
	for i := 0; i < n; i++ {
		e.project(fmt.Sprint("p-", i))
	}
	names := e.records(store.KindName)
	require.Len(t, names, n+1)
	var txn store.Txn
	for _, r := range names {
		txn.Ops = append(txn.Ops, store.Delete(r.Kind, r.ID))
	}
	_, err := e.st.Commit(e.ctx, txn)
	require.NoError(t, err)

	before := e.revision()
	_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "p-1199"})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists)
	require.Equal(t, before, e.revision(), "a refused creation stores nothing")
	_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "new"})
	require.NoError(t, err)
	require.Equal(t, before+4, e.revision(), "three batches of names (the last with the marker), then the creation")
	require.Len(t, e.records(store.KindName), n+2)
	_, err = e.c.CreateProject(e.ctx, e.alice.ID, fsa.ProjectSpec{Name: "p-0"})
	require.ErrorIs(t, err, fsa.ErrAlreadyExists)
}
