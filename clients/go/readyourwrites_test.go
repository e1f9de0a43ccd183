package fsaclient_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
)

// TestWatchFromRevisionJustListedOrWritten is the first-run failure of `make run`: a client
// that lists (or writes) and at once watches from the revision it got must get its watch,
// while other writes commit concurrently. The node runs on boltstore, as a single-node fsad
// does, whose group commit makes several commits readable at once. The watching client may not
// retry (MaxAttempts 1), so a refusal fails the test instead of being hidden by a reconnection.
func TestWatchFromRevisionJustListedOrWritten(t *testing.T) {
	ctx := testCtx(t)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "fsa.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	n := startNode(t, st, key, nil, nil)

	// Background writers keep commits grouping, as the reconcile loops of fsad do.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; wctx.Err() == nil; i++ {
				_, _ = st.Commit(wctx, store.Txn{Ops: []store.Op{store.Put(store.Record{Kind: store.KindNode, ID: fmt.Sprintf("bg-%d-%d", w, i)})}})
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	c := signUp(t, ctx, []string{n.URL()}, "cid")
	res, err := c.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "cid", Password: "password-cid"}))
	require.NoError(t, err)
	once, err := fsaclient.New([]string{n.URL()}, fsaclient.WithToken(res.Msg.GetSession().GetToken()),
		fsaclient.WithRetry(fsaclient.RetryPolicy{MaxAttempts: 1, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Multiplier: 1}))
	require.NoError(t, err)

	errSeen := errors.New("seen")
	watchFrom := func(rev uint64, want func(*fsav1.WatchProjectsResponse) bool) error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return once.Watch(wctx, rev, func(m *fsav1.WatchProjectsResponse) error {
			if want(m) {
				return errSeen
			}
			return nil
		})
	}
	for i := range 40 {
		// From now (the server reads its head and watches from it), as `make run` does.
		err = watchFrom(0, func(m *fsav1.WatchProjectsResponse) bool {
			return m.GetType() == fsav1.EventType_EVENT_TYPE_PROGRESS
		})
		require.ErrorIs(t, err, errSeen, "watch from now")

		list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
		require.NoError(t, err)
		rev := list.Msg.GetRevision()
		err = watchFrom(rev, func(m *fsav1.WatchProjectsResponse) bool {
			return m.GetType() == fsav1.EventType_EVENT_TYPE_PROGRESS && m.GetRevision() >= rev
		})
		require.ErrorIs(t, err, errSeen, "watch from the listed revision %d", rev)

		created, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: fmt.Sprint("p", i)}))
		require.NoError(t, err)
		p := created.Msg.GetProject()
		err = watchFrom(p.GetVersion()-1, func(m *fsav1.WatchProjectsResponse) bool {
			return m.GetProject().GetId() == p.GetId() && m.GetRevision() == p.GetVersion()
		})
		require.ErrorIs(t, err, errSeen, "watch from just before the write at %d", p.GetVersion())
	}
}
