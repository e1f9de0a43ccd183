package fsaclient_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// fastRetry keeps the tests quick.
var fastRetry = fsaclient.RetryPolicy{MaxAttempts: 6, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.5}

// followerStore serves reads from the shared store and refuses writes like a raft follower.
type followerStore struct{ store.Store }

func (followerStore) Commit(context.Context, store.Txn) (int64, error) {
	return 0, &raftstore.NotLeaderError{LeaderID: "a", LeaderAddress: "127.0.0.1:1"}
}

func (followerStore) Close() error { return nil }

// node is one in-process API server.
type node struct {
	srv   *httptest.Server
	calls atomic.Int64 // RPCs received
}

func (n *node) URL() string { return n.srv.URL }

type testCluster struct {
	st     *memstore.Store
	leader *node
}

// startNode serves the API over st; leaderURL, when set, makes it a follower naming that leader.
func startNode(t *testing.T, st store.Store, key api.SigningKey, leader func() (string, string), wrap func(http.Handler) http.Handler) *node {
	t.Helper()
	h, err := api.NewHandler(api.Options{
		Client:                fsa.New(st),
		Logger:                slog.New(slog.DiscardHandler),
		Leader:                leader,
		WatchProgressInterval: 50 * time.Millisecond,
		Auth: api.AuthConfig{
			SigningKey: key,
			BcryptCost: bcrypt.MinCost,
			RateLimit:  api.RateLimit{PerSecond: -1},
		},
	})
	require.NoError(t, err)
	n := &node{}
	var hh http.Handler = h
	if wrap != nil {
		hh = wrap(h)
	}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.calls.Add(1)
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func newLeader(t *testing.T, wrap func(http.Handler) http.Handler) (*testCluster, api.SigningKey) {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	return &testCluster{st: st, leader: startNode(t, st, key, nil, wrap)}, key
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: dev
  context: {cluster: dev, user: dev, namespace: ns-dev}
current-context: dev
users:
- name: dev
  user: {token: not-a-real-token}
`

// signUp creates a user with a kubeconfig and returns a client carrying its token.
func signUp(t *testing.T, ctx context.Context, endpoints []string, name string) *fsaclient.Client {
	t.Helper()
	c, err := fsaclient.New(endpoints, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	res, err := c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: name, Password: "password-" + name}))
	require.NoError(t, err)
	c.SetToken(res.Msg.GetSession().GetToken())
	_, err = c.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig}))
	require.NoError(t, err)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	for _, eps := range [][]string{nil, {"127.0.0.1:8080"}, {"ftp://x"}, {"http://"}} {
		_, err := fsaclient.New(eps)
		assert.Error(t, err, "%q", eps)
	}
	c, err := fsaclient.New([]string{"http://127.0.0.1:8080/api/"})
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8080/api", c.Endpoint())
}

func TestFollowsLeader(t *testing.T) {
	ctx := testCtx(t)
	tc, key := newLeader(t, nil)
	follower := startNode(t, followerStore{tc.st}, key, func() (string, string) { return "a", tc.leader.URL() }, nil)

	// Everything starts at the follower; its refusals name the leader.
	c := signUp(t, ctx, []string{follower.URL()}, "ada")
	assert.Equal(t, tc.leader.URL(), c.Endpoint(), "the client moved to the leader")

	res, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "demo"}))
	require.NoError(t, err)
	assert.Equal(t, "demo", res.Msg.GetProject().GetName())
	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)
	assert.Len(t, list.Msg.GetProjects(), 1)
	assert.Equal(t, int64(1), follower.calls.Load(), "only the first call went to the follower")
}

func TestFollowsLeaderHeader(t *testing.T) {
	ctx := testCtx(t)
	tc, _ := newLeader(t, nil)
	// A node that names the leader only in the Fsa-Leader header.
	var refused atomic.Int64
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refused.Add(1)
		w.Header().Set(fsaclient.LeaderHeader, tc.leader.URL())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"unavailable","message":"not the leader"}`))
	}))
	t.Cleanup(follower.Close)
	c, err := fsaclient.New([]string{follower.URL}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	_, err = c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "hal", Password: "password-hal"}))
	require.NoError(t, err)
	assert.Equal(t, int64(1), refused.Load())
	assert.Equal(t, tc.leader.URL(), c.Endpoint())
}

func TestFollowerWithoutLeaderIsRetriedWithBackoff(t *testing.T) {
	ctx := testCtx(t)
	tc, key := newLeader(t, nil)
	var known atomic.Bool // the follower learns the leader after two refusals
	follower := startNode(t, followerStore{tc.st}, key, func() (string, string) {
		if known.Load() {
			return "a", tc.leader.URL()
		}
		return "", ""
	}, nil)
	c, err := fsaclient.New([]string{follower.URL()}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	go func() {
		require.Eventually(t, func() bool { return follower.calls.Load() >= 2 }, 10*time.Second, time.Millisecond)
		known.Store(true)
	}()
	_, err = c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "bob", Password: "password-bob"}))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, follower.calls.Load(), int64(2))
	assert.Equal(t, tc.leader.URL(), c.Endpoint())
}

func TestFailsOverToNextEndpoint(t *testing.T) {
	ctx := testCtx(t)
	tc, _ := newLeader(t, nil)
	dead := deadURL(t)
	c, err := fsaclient.New([]string{dead, tc.leader.URL()}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	// SignUp has no idempotency key, but a refused connection sent nothing: safe to retry.
	_, err = c.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: "cyd", Password: "password-cyd"}))
	require.NoError(t, err)
	assert.Equal(t, tc.leader.URL(), c.Endpoint())
}

// deadURL returns the URL of a port nobody listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestRetryAfterLostResponseAppliesOnce(t *testing.T) {
	ctx := testCtx(t)
	// The first CreateProject is applied, but its response is lost (503 instead).
	var dropped atomic.Int64
	tc, _ := newLeader(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == fsav1connect.ProjectServiceCreateProjectProcedure && dropped.Add(1) == 1 {
				h.ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, "lost", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := signUp(t, ctx, []string{tc.leader.URL()}, "dan")
	req := &fsav1.CreateProjectRequest{Name: "once"}
	res, err := c.Projects().CreateProject(ctx, connect.NewRequest(req))
	require.NoError(t, err)
	assert.Equal(t, "once", res.Msg.GetProject().GetName())
	assert.Equal(t, int64(2), dropped.Load(), "one retry")
	assert.Empty(t, req.GetIdempotencyKey(), "the caller's message is left as it was")

	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)
	assert.Len(t, list.Msg.GetProjects(), 1, "applied once")

	// An IDEMPOTENT RPC (it sets a value) is retried without a key.
	var lostSet atomic.Int64
	tc2, _ := newLeader(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == fsav1connect.ProjectServiceSetPublicAppProcedure && lostSet.Add(1) == 1 {
				h.ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, "lost", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c3 := signUp(t, ctx, []string{tc2.leader.URL()}, "eve")
	p, err := c3.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: "app"}))
	require.NoError(t, err)
	set, err := c3.Projects().SetPublicApp(ctx, connect.NewRequest(&fsav1.SetPublicAppRequest{ProjectId: p.Msg.GetProject().GetId(), PublicApp: true}))
	require.NoError(t, err)
	assert.True(t, set.Msg.GetProject().GetSandbox().GetPublicApp())
	assert.Equal(t, int64(2), lostSet.Load(), "one retry")

	// Without an idempotency key nor a side-effect-free RPC, nothing is retried.
	c2, err := fsaclient.New([]string{tc.leader.URL()}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	_, err = c2.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: "dan", Password: "wrong-password"}))
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
}

func TestRetriesStopAtMaxAttemptsAndContext(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	p := fastRetry
	p.MaxAttempts = 3
	c, err := fsaclient.New([]string{srv.URL}, fsaclient.WithRetry(p), fsaclient.WithToken("t"))
	require.NoError(t, err)
	_, err = c.Projects().GetProject(testCtx(t), connect.NewRequest(&fsav1.GetProjectRequest{Id: "x"}))
	assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err))
	assert.Equal(t, int64(3), calls.Load())

	p.MaxAttempts, p.InitialBackoff, p.MaxBackoff = 1000, time.Hour, time.Hour
	c, err = fsaclient.New([]string{srv.URL}, fsaclient.WithRetry(p))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "x"}))
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "the pause ends with the context")
}

// A deadline that passes during a retry, not between two, still reports why the call was being
// retried, not only that time ran out.
func TestDeadlineDuringRetryReportsTheLastFailure(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		select { // the second attempt hangs past the caller's deadline
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: srv.Close waits for the handler
	c, err := fsaclient.New([]string{srv.URL}, fsaclient.WithRetry(fastRetry), fsaclient.WithToken("t"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Projects().GetProject(ctx, connect.NewRequest(&fsav1.GetProjectRequest{Id: "x"}))
	assert.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "%v", err)
	assert.Equal(t, int64(2), calls.Load())
}

func TestTokenSource(t *testing.T) {
	ctx := testCtx(t)
	tc, _ := newLeader(t, nil)
	c := signUp(t, ctx, []string{tc.leader.URL()}, "eve")
	_, err := c.Auth().WhoAmI(ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	require.NoError(t, err)

	boom := errors.New("no token today")
	c2, err := fsaclient.New([]string{tc.leader.URL()}, fsaclient.WithTokenSource(func(context.Context) (string, error) { return "", boom }))
	require.NoError(t, err)
	_, err = c2.Auth().WhoAmI(ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	assert.ErrorIs(t, err, boom)

	c2.SetToken("ignored: the source wins")
	c3, err := fsaclient.New([]string{tc.leader.URL()})
	require.NoError(t, err)
	_, err = c3.Auth().WhoAmI(ctx, connect.NewRequest(&fsav1.WhoAmIRequest{}))
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
}

// event is what a watch test records of a message.
type event struct {
	Rev  uint64
	Type fsav1.EventType
	Key  string
}

func keyOf(m *fsav1.WatchProjectsResponse) string {
	switch {
	case m.GetProject() != nil:
		return fmt.Sprintf("project/%s/%s", m.GetProject().GetId(), m.GetProject().GetStatus())
	case m.GetSandbox() != nil:
		return "sandbox/" + m.GetSandbox().GetId()
	case m.GetDatabase() != nil:
		return "database/" + m.GetDatabase().GetId()
	}
	return ""
}

func TestWatchResumesAfterDisconnect(t *testing.T) {
	ctx := testCtx(t)
	tc, _ := newLeader(t, nil)
	c := signUp(t, ctx, []string{tc.leader.URL()}, "fay")
	list, err := c.Projects().ListProjects(ctx, connect.NewRequest(&fsav1.ListProjectsRequest{}))
	require.NoError(t, err)
	from := list.Msg.GetRevision()

	var mu sync.Mutex
	var got []event
	var last uint64
	events := func() []event { mu.Lock(); defer mu.Unlock(); return append([]event(nil), got...) }
	progressed := func() uint64 { mu.Lock(); defer mu.Unlock(); return last }
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(wctx, from, func(m *fsav1.WatchProjectsResponse) error {
			mu.Lock()
			defer mu.Unlock()
			if m.GetType() == fsav1.EventType_EVENT_TYPE_PROGRESS {
				last = m.GetRevision()
				return nil
			}
			got = append(got, event{m.GetRevision(), m.GetType(), keyOf(m)})
			return nil
		})
	}()

	create := func(name string) uint64 {
		res, err := c.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name}))
		require.NoError(t, err)
		return res.Msg.GetProject().GetVersion()
	}
	r1 := create("one")
	require.Eventually(t, func() bool { return len(events()) >= 1 && progressed() >= r1 }, 10*time.Second, 5*time.Millisecond)

	// Cut the stream; changes made while it is down arrive after the client reconnects.
	tc.leader.srv.CloseClientConnections()
	r2 := create("two")
	tc.leader.srv.CloseClientConnections()
	r3 := create("three")
	require.Eventually(t, func() bool { return progressed() >= r3 }, 10*time.Second, 5*time.Millisecond)
	stop()
	require.ErrorIs(t, <-done, context.Canceled)

	// A watch that was never cut sees exactly the same events.
	var want []event
	rctx, rstop := context.WithCancel(ctx)
	defer rstop()
	err = c.Watch(rctx, from, func(m *fsav1.WatchProjectsResponse) error {
		if m.GetType() == fsav1.EventType_EVENT_TYPE_PROGRESS {
			if m.GetRevision() >= r3 {
				rstop()
			}
			return nil
		}
		want = append(want, event{m.GetRevision(), m.GetType(), keyOf(m)})
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotEmpty(t, want)
	assert.Equal(t, want, events(), "no gap, no duplicate")
	assert.Greater(t, r2, r1)
}

// scriptedWatch is a ProjectService whose WatchProjects plays one script per connection.
type scriptedWatch struct {
	fsav1connect.UnimplementedProjectServiceHandler
	mu      sync.Mutex
	froms   []uint64
	scripts []func(*connect.ServerStream[fsav1.WatchProjectsResponse]) error
}

func (s *scriptedWatch) WatchProjects(ctx context.Context, req *connect.Request[fsav1.WatchProjectsRequest], st *connect.ServerStream[fsav1.WatchProjectsResponse]) error {
	s.mu.Lock()
	i := len(s.froms)
	s.froms = append(s.froms, req.Msg.GetFromRevision())
	s.mu.Unlock()
	if i >= len(s.scripts) {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.scripts[i](st)
}

func put(rev uint64, kind string, id string) *fsav1.WatchProjectsResponse {
	m := &fsav1.WatchProjectsResponse{Revision: rev, Type: fsav1.EventType_EVENT_TYPE_PUT}
	switch kind {
	case "project":
		m.Kind, m.Resource = fsav1.ResourceKind_RESOURCE_KIND_PROJECT, &fsav1.WatchProjectsResponse_Project{Project: &fsav1.Project{Id: id}}
	case "sandbox":
		m.Kind, m.Resource = fsav1.ResourceKind_RESOURCE_KIND_SANDBOX, &fsav1.WatchProjectsResponse_Sandbox{Sandbox: &fsav1.Sandbox{Id: id}}
	case "database":
		m.Kind, m.Resource = fsav1.ResourceKind_RESOURCE_KIND_DATABASE, &fsav1.WatchProjectsResponse_Database{Database: &fsav1.Database{Id: id}}
	}
	return m
}

func progress(rev uint64) *fsav1.WatchProjectsResponse {
	return &fsav1.WatchProjectsResponse{Revision: rev, Type: fsav1.EventType_EVENT_TYPE_PROGRESS}
}

func send(msgs ...*fsav1.WatchProjectsResponse) func(*connect.ServerStream[fsav1.WatchProjectsResponse]) error {
	return func(st *connect.ServerStream[fsav1.WatchProjectsResponse]) error {
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				return err
			}
		}
		return connect.NewError(connect.CodeUnavailable, errors.New("node going away"))
	}
}

func serveScript(t *testing.T, s *scriptedWatch) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(fsav1connect.NewProjectServiceHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWatchBreakInsideOneChange(t *testing.T) {
	s := &scriptedWatch{scripts: []func(*connect.ServerStream[fsav1.WatchProjectsResponse]) error{
		// Revision 4 complete, then the stream breaks inside revision 5's three events.
		send(progress(3), put(4, "project", "p1"), put(5, "project", "p1"), put(5, "sandbox", "s1")),
		// The server replays revision 5 whole, then goes on.
		send(put(5, "project", "p1"), put(5, "sandbox", "s1"), put(5, "database", "d1"), put(6, "project", "p1"), progress(6)),
		send(progress(6), put(7, "project", "p2")),
		func(st *connect.ServerStream[fsav1.WatchProjectsResponse]) error {
			return st.Send(&fsav1.WatchProjectsResponse{Revision: 9, ResyncRequired: true})
		},
	}}
	c, err := fsaclient.New([]string{serveScript(t, s)}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	var got []string
	err = c.Watch(testCtx(t), 2, func(m *fsav1.WatchProjectsResponse) error {
		got = append(got, fmt.Sprintf("%d %s", m.GetRevision(), resourceName(m)))
		return nil
	})
	var re *fsaclient.ResyncError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, fsaclient.ErrResyncRequired)
	assert.Equal(t, uint64(9), re.Revision)
	assert.Equal(t, []string{"3 progress", "4 p1", "5 p1", "5 s1", "5 d1", "6 p1", "6 progress", "7 p2"}, got)
	assert.Equal(t, []uint64{2, 4, 6, 6}, s.froms, "each reconnection resumes from the last complete revision (7 p2 alone does not complete 7)")
}

func resourceName(m *fsav1.WatchProjectsResponse) string {
	switch {
	case m.GetProject() != nil:
		return m.GetProject().GetId()
	case m.GetSandbox() != nil:
		return m.GetSandbox().GetId()
	case m.GetDatabase() != nil:
		return m.GetDatabase().GetId()
	}
	return "progress"
}

func TestWatchStopsOnPermanentErrorsAndHandlerErrors(t *testing.T) {
	ctx := testCtx(t)
	tc, _ := newLeader(t, nil)
	c, err := fsaclient.New([]string{tc.leader.URL()}, fsaclient.WithRetry(fastRetry), fsaclient.WithToken("not-a-token"))
	require.NoError(t, err)
	err = c.Watch(ctx, 0, func(*fsav1.WatchProjectsResponse) error { return nil })
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
	assert.Equal(t, int64(1), tc.leader.calls.Load(), "not retried")

	c = signUp(t, ctx, []string{tc.leader.URL()}, "gus")
	stopErr := errors.New("enough")
	err = c.Watch(ctx, 0, func(*fsav1.WatchProjectsResponse) error { return stopErr })
	assert.ErrorIs(t, err, stopErr)

	// Every (re)connection fails: Watch gives up after MaxAttempts.
	c2, err := fsaclient.New([]string{deadURL(t)}, fsaclient.WithRetry(fastRetry))
	require.NoError(t, err)
	err = c2.Watch(ctx, 0, func(*fsav1.WatchProjectsResponse) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up after 6 attempts")
}
