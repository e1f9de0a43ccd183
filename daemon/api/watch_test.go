package api_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// watch opens a stream and returns its messages one at a time.
type watch struct {
	t      *testing.T
	cancel context.CancelFunc
	stream *connect.ServerStreamForClient[fsav1.WatchProjectsResponse]
}

func openWatch(t *testing.T, e *env, u *user, from uint64) *watch {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	stream, err := u.Project.WatchProjects(ctx, connect.NewRequest(&fsav1.WatchProjectsRequest{FromRevision: from}))
	require.NoError(t, err)
	w := &watch{t: t, cancel: cancel, stream: stream}
	t.Cleanup(w.close)
	return w
}

func (w *watch) next() *fsav1.WatchProjectsResponse {
	w.t.Helper()
	require.True(w.t, w.stream.Receive(), "stream ended: %v", w.stream.Err())
	return w.stream.Msg()
}

// until returns the messages up to and including the first PROGRESS at revision >= rev.
func (w *watch) until(rev uint64) []*fsav1.WatchProjectsResponse {
	w.t.Helper()
	var out []*fsav1.WatchProjectsResponse
	for {
		m := w.next()
		if m.Type == fsav1.EventType_EVENT_TYPE_PROGRESS && m.Revision >= rev {
			return out
		}
		if m.Type != fsav1.EventType_EVENT_TYPE_PROGRESS {
			out = append(out, m)
		}
	}
}

// events returns the next n non-PROGRESS messages.
func (w *watch) events(n int) []*fsav1.WatchProjectsResponse {
	w.t.Helper()
	var out []*fsav1.WatchProjectsResponse
	for len(out) < n {
		if m := w.next(); m.Type != fsav1.EventType_EVENT_TYPE_PROGRESS {
			out = append(out, m)
		}
	}
	return out
}

func (w *watch) close() {
	w.cancel()
	_ = w.stream.Close()
}

type seen struct {
	rev  uint64
	kind fsav1.ResourceKind
	id   string
}

func ids(ms []*fsav1.WatchProjectsResponse) []seen {
	var out []seen
	for _, m := range ms {
		s := seen{rev: m.Revision, kind: m.Kind}
		switch r := m.Resource.(type) {
		case *fsav1.WatchProjectsResponse_Project:
			s.id = r.Project.Id
		case *fsav1.WatchProjectsResponse_Sandbox:
			s.id = r.Sandbox.Id
		case *fsav1.WatchProjectsResponse_Database:
			s.id = r.Database.Id
		}
		out = append(out, s)
	}
	return out
}

func TestWatchResumesWithoutGapOrDuplicate(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.signUp("alice"), e.signUp("bob")
	_, err := alice.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("a")}))
	require.NoError(t, err)
	list, err := alice.Project.ListProjects(e.ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)

	w := openWatch(t, e, alice, list.Msg.Revision)
	first := w.next()
	assert.Equal(t, fsav1.EventType_EVENT_TYPE_PROGRESS, first.Type, "caught up at once")
	assert.Equal(t, list.Msg.Revision, first.Revision)

	created, err := alice.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "w"}))
	require.NoError(t, err)
	p := created.Msg.Project
	e.project(bob, "not-for-alice")
	_, err = alice.Env.SetEnv(e.ctx, connect.NewRequest(&fsav1.SetEnvRequest{ProjectId: p.Id, Key: "K", Value: "v"}))
	require.NoError(t, err)

	got := ids(w.events(3))
	assert.ElementsMatch(t, []seen{
		{p.Version, fsav1.ResourceKind_RESOURCE_KIND_PROJECT, p.Id},
		{p.Version, fsav1.ResourceKind_RESOURCE_KIND_SANDBOX, p.Sandbox.Id},
		{p.Version, fsav1.ResourceKind_RESOURCE_KIND_DATABASE, p.Database.Id},
	}, got)
	resume := got[len(got)-1].rev
	w.close() // disconnect

	// Changes while disconnected: the sandbox runs, the database runs, the project stops.
	e.run(alice.ID, p.Id)
	stop, err := alice.Project.StopProject(e.ctx, connect.NewRequest(&fsav1.StopProjectRequest{Id: p.Id}))
	require.NoError(t, err)
	head := e.revision()

	w2 := openWatch(t, e, alice, resume)
	again := w2.until(uint64(head))
	var revs []uint64
	for _, m := range again {
		assert.Greater(t, m.Revision, resume, "a change before the resume point was sent again")
		assert.NotEqual(t, fsav1.EventType_EVENT_TYPE_DELETE, m.Type)
		if len(revs) == 0 || revs[len(revs)-1] != m.Revision {
			revs = append(revs, m.Revision)
		}
	}
	// Every transaction of alice's since the resume point, in order, once: the sandbox
	// observation, the database observation and the stop (bob's project is not among them).
	require.Len(t, revs, 3, "%v", ids(again))
	assert.Equal(t, stop.Msg.Project.Version, revs[2])
	assert.Less(t, revs[0], revs[1])
	last := again[len(again)-1]
	if pr, ok := last.Resource.(*fsav1.WatchProjectsResponse_Project); ok {
		assert.Equal(t, fsav1.Status_STATUS_STOPPING, pr.Project.Status)
		assert.Nil(t, pr.Project.Sandbox, "watch events carry the project alone")
	}
}

func TestWatchIdleProgress(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.WatchProgressInterval = 10 * time.Millisecond })
	alice := e.signUp("alice")
	for name, opt := range map[string]connect.ClientOption{"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpc-web": connect.WithGRPCWeb()} {
		u := &user{clients: e.clients(alice.Token, opt), ID: alice.ID}
		w := openWatch(t, e, u, 0)
		head := uint64(e.revision())
		for range 3 {
			m := w.next()
			assert.Equal(t, fsav1.EventType_EVENT_TYPE_PROGRESS, m.Type, name)
			assert.Equal(t, head, m.Revision, name)
		}
		w.close()
	}
}

func TestWatchCompactedAsksForResync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	e := newEnvOn(t, ctx, memstore.New(memstore.WithRetention(2)))
	alice := e.signUp("alice")
	from := uint64(e.revision())
	for range 4 {
		_, err := alice.Config.SetAnthropicSettings(e.ctx, connect.NewRequest(&fsav1.SetAnthropicSettingsRequest{Model: ptr("m" + time.Now().String())}))
		require.NoError(t, err)
	}
	w := openWatch(t, e, alice, from)
	m := w.next()
	assert.True(t, m.ResyncRequired)
	assert.Equal(t, uint64(e.revision()), m.Revision)
	assert.False(t, w.stream.Receive(), "the stream goes on after resync_required")
	assert.NoError(t, w.stream.Err())
}

// TestWatchAheadOfNode: a revision this node has not reached is waited for (the client wrote
// or listed elsewhere, or here a moment ago): the stream says PROGRESS at it and then carries
// the changes after it. Only a revision beyond the change feed's window is refused.
func TestWatchAheadOfNode(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice")
	from := uint64(e.revision()) + 2
	w := openWatch(t, e, alice, from)
	m := w.next()
	require.Equal(t, fsav1.EventType_EVENT_TYPE_PROGRESS, m.Type)
	require.Equal(t, from, m.Revision)

	var last *fsav1.Project
	for i := range 3 {
		last = e.project(alice, fmt.Sprint("p", i))
	}
	got := w.until(last.Version)
	require.NotEmpty(t, got)
	for _, m := range got {
		assert.Greater(t, m.Revision, from, "only changes after the requested revision")
	}
	assert.Contains(t, ids(got), seen{rev: last.Version, kind: fsav1.ResourceKind_RESOURCE_KIND_PROJECT, id: last.Id})

	far := openWatch(t, e, alice, uint64(e.revision())+store.DefaultRetention+1)
	assert.False(t, far.stream.Receive())
	requireCode(t, far.stream.Err(), connect.CodeUnavailable)
}

// laggingNode is a store whose ViewStale (raftstore's read of a node's local state, as on a
// follower) sees the revision the test froze, behind the store's own.
type laggingNode struct {
	store.Store
	local atomic.Int64
}

func (s *laggingNode) ViewStale(ctx context.Context, fn func(store.Snapshot) error) error {
	return s.Store.View(ctx, func(snap store.Snapshot) error { return fn(snapshotAt{snap, s.local.Load()}) })
}

type snapshotAt struct {
	store.Snapshot
	rev int64
}

func (s snapshotAt) Revision() int64 { return s.rev }

// TestWatchFromNowReadsLocalState: "from now" is this node's local head (a follower's own
// state, no leader round trip), and the changes after it follow.
func TestWatchFromNowReadsLocalState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st := &laggingNode{Store: memstore.New()}
	e := newEnvOn(t, ctx, st)
	alice := e.signUp("alice")
	local := e.revision()
	st.local.Store(local)
	p := e.project(alice, "p")
	require.Greater(t, p.Version, uint64(local))

	w := openWatch(t, e, alice, 0)
	m := w.next()
	require.Equal(t, fsav1.EventType_EVENT_TYPE_PROGRESS, m.Type)
	require.Equal(t, uint64(local), m.Revision, "the local head, not the store's")
	assert.Contains(t, ids(w.events(3)), seen{rev: p.Version, kind: fsav1.ResourceKind_RESOURCE_KIND_PROJECT, id: p.Id})
}

// TestWatchProgressCountsEveryRevision: another user's transactions are not sent, but they
// advance the revision an idle stream's PROGRESS reports (its resume point).
func TestWatchProgressCountsEveryRevision(t *testing.T) {
	e := newEnv(t, func(o *api.Options) { o.WatchProgressInterval = 10 * time.Millisecond })
	alice, bob := e.signUp("alice"), e.signUp("bob")
	w := openWatch(t, e, alice, uint64(e.revision()))
	p := e.project(bob, "bob's")
	assert.Empty(t, w.until(p.Version), "nothing of bob's is sent to alice")
}
