package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := boltstore.Open(filepath.Join(dir, "fsa.db"))
	if err != nil {
		log.Fatal(err)
	}
	// Create a project only if it does not exist yet; Commit returns once it is on disk.
	rev, err := s.Commit(ctx, store.Txn{
		Conds: []store.Cond{{Kind: store.KindProject, ID: "p1", Version: 0}},
		Ops:   []store.Op{store.Put(store.Record{Kind: store.KindProject, ID: "p1", Owner: "alice", Status: "CREATING"})},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed revision", rev)
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	// After a restart the record, its index entries and the change feed are still there.
	s, err = boltstore.Open(filepath.Join(dir, "fsa.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(sn store.Snapshot) error {
		projects, err := sn.List(store.KindProject, store.Filter{Owner: "alice"})
		for _, p := range projects {
			fmt.Printf("%s %s at version %d\n", p.ID, p.Status, p.Version)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := s.Watch(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	ev, err := c.Next()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replayed revision", ev.Revision, ev.Changes[0].Type, ev.Changes[0].Record.ID)
	// Output:
	// committed revision 1
	// p1 CREATING at version 1
	// replayed revision 1 put p1
}
