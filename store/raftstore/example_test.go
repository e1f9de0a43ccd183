package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// A single node that bootstraps a cluster of its own on TCP, becomes leader and commits. More
// nodes would Open with the same kind of Config (without Bootstrap) and be added with Join on
// the leader.
func Example() {
	dir, err := os.MkdirTemp("", "raftstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := raftstore.Open(raftstore.Config{
		NodeID:    "node1",
		Dir:       dir,
		BindAddr:  "127.0.0.1:0",
		Bootstrap: true,
		Logger:    hclog.NewNullLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Leadership delivers true once this node leads.
	select {
	case <-s.Leadership():
	case <-ctx.Done():
		log.Fatal("no leader")
	}

	// Fence in as a new leader does: barrier, then epoch = term.
	if err := s.Barrier(ctx); err != nil {
		log.Fatal(err)
	}
	term := s.Term()
	if _, err := s.Commit(ctx, store.Txn{SetEpoch: term}); err != nil {
		log.Fatal(err)
	}
	rev, err := s.Commit(ctx, store.Txn{
		Fence: term,
		Ops:   []store.Op{store.Put(store.Record{Kind: store.KindUser, ID: "u1", Data: []byte(`{"name":"ada"}`)})},
	})
	if err != nil {
		var nl *raftstore.NotLeaderError
		if errors.As(err, &nl) {
			log.Fatalf("send it to %s at %s", nl.LeaderID, nl.LeaderAddress)
		}
		log.Fatal(err)
	}
	fmt.Println("committed at revision", rev)

	err = s.View(ctx, func(sn store.Snapshot) error {
		r, err := sn.Get(store.KindUser, "u1")
		fmt.Println(string(r.Data), "version", r.Version)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// committed at revision 2
	// {"name":"ada"} version 2
}
