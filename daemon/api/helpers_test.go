package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/memstore"
)

// fakeClock advances one microsecond per reading, so that issue times are ordered, and jumps
// with Advance.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type env struct {
	t     testing.TB
	ctx   context.Context
	st    store.Store
	c     *fsa.Client
	clock *fakeClock
	key   api.SigningKey
	opts  api.Options
	srv   *httptest.Server
	logs  *syncBuffer
	reg   *prometheus.Registry
}

// newEnv starts the API over HTTP/2 (TLS) on 127.0.0.1 with a fresh memstore. mods adjust the
// options before the handler is built.
func newEnv(t testing.TB, mods ...func(*api.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return newEnvOn(t, ctx, memstore.New(), mods...)
}

// newEnvWith is newEnv whose handler's SDK client (over the same memstore as e.c) has opts.
func newEnvWith(t testing.TB, opts ...fsa.Option) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	st := memstore.New()
	return newEnvOn(t, ctx, st, func(o *api.Options) { o.Client = fsa.New(st, opts...) })
}

func newEnvOn(t testing.TB, ctx context.Context, st store.Store, mods ...func(*api.Options)) *env {
	t.Helper()
	t.Cleanup(func() { _ = st.Close() })
	clock := &fakeClock{t: time.Now().UTC()}
	c := fsa.New(st, fsa.WithClock(clock.Now))
	key, err := api.GenerateSigningKey()
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, st: st, c: c, clock: clock, key: key, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	e.opts = api.Options{
		Client:     c,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: e.reg,
		Auth: api.AuthConfig{
			SigningKey: key,
			BcryptCost: bcrypt.MinCost,
			RateLimit:  api.RateLimit{PerSecond: -1},
			Now:        clock.Now,
		},
	}
	for _, m := range mods {
		m(&e.opts)
	}
	h, err := api.NewHandler(e.opts)
	require.NoError(t, err)
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.EnableHTTP2 = true
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) revision() int64 { return revisionOf(e.t, e) }

// revisionOf reads the store revision, failing t.
func revisionOf(t testing.TB, e *env) int64 {
	t.Helper()
	var rev int64
	require.NoError(t, e.st.View(e.ctx, func(s store.Snapshot) error { rev = s.Revision(); return nil }))
	return rev
}

// bearer adds a session token to every request of a client.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if b != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		}
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// clients are the five service clients, sending one session token.
type clients struct {
	Auth    fsav1connect.AuthServiceClient
	Project fsav1connect.ProjectServiceClient
	Env     fsav1connect.EnvironmentServiceClient
	Config  fsav1connect.UserConfigServiceClient
	Cluster fsav1connect.ClusterServiceClient
	Sandbox fsav1connect.SandboxServiceClient
	Quota   fsav1connect.QuotaServiceClient
}

func (e *env) clients(token string, opts ...connect.ClientOption) *clients {
	opts = append([]connect.ClientOption{connect.WithInterceptors(bearer(token))}, opts...)
	hc, url := e.srv.Client(), e.srv.URL
	return &clients{
		Auth:    fsav1connect.NewAuthServiceClient(hc, url, opts...),
		Project: fsav1connect.NewProjectServiceClient(hc, url, opts...),
		Env:     fsav1connect.NewEnvironmentServiceClient(hc, url, opts...),
		Config:  fsav1connect.NewUserConfigServiceClient(hc, url, opts...),
		Cluster: fsav1connect.NewClusterServiceClient(hc, url, opts...),
		Sandbox: fsav1connect.NewSandboxServiceClient(hc, url, opts...),
		Quota:   fsav1connect.NewQuotaServiceClient(hc, url, opts...),
	}
}

// user is a signed-up user with a session.
type user struct {
	*clients
	ID       string
	Name     string
	Password string
	Token    string
}

func (e *env) signUp(name string) *user {
	e.t.Helper()
	pw := "pw-" + name + "-correct-horse"
	resp, err := e.clients("").Auth.SignUp(e.ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: name, Password: pw}))
	require.NoError(e.t, err)
	s := resp.Msg.Session
	return &user{clients: e.clients(s.Token), ID: s.User.Id, Name: name, Password: pw, Token: s.Token}
}

const testKubeconfigToken = "kube-token-SECRET-4f1e2d"

func kubeconfig(namespace string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: dev-ctx
  context:
    cluster: dev
    user: dev-user
    namespace: ` + namespace + `
current-context: dev-ctx
users:
- name: dev-user
  user:
    token: ` + testKubeconfigToken + `
`
}

// project sets u's kubeconfig (if needed) and creates a project.
func (e *env) project(u *user, name string) *fsav1.Project {
	e.t.Helper()
	_, err := u.Config.SetKubeconfig(e.ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig("ns-" + u.Name)}))
	require.NoError(e.t, err)
	resp, err := u.Project.CreateProject(e.ctx, connect.NewRequest(&fsav1.CreateProjectRequest{Name: name}))
	require.NoError(e.t, err)
	return resp.Msg.Project
}

// run records both children of a project as RUNNING (as reconcile would), with URLs.
func (e *env) run(userID, projectID string) {
	e.t.Helper()
	p, err := e.c.GetProject(e.ctx, userID, projectID)
	require.NoError(e.t, err)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceSandbox, p.Sandbox.ID, fsa.Observation{Version: p.Sandbox.Version, Status: fsa.StatusRunning,
		AppURL: "https://app.example.test", TerminalURL: "https://term.example.test"})
	require.NoError(e.t, err)
	_, err = e.c.Record(e.ctx, 0, fsa.ResourceDatabase, p.Database.ID, fsa.Observation{Version: p.Database.Version, Status: fsa.StatusRunning})
	require.NoError(e.t, err)
}

func requireCode(t testing.TB, err error, want connect.Code) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, want, connect.CodeOf(err), "got %v", err)
}
