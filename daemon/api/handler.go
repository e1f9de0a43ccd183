package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/reflect/protoreflect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	"github.com/fullstackagent/fsa/clients/gen/fsa/v1/fsav1connect"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
)

// Options are the dependencies of the API handler.
type Options struct {
	// Client is the SDK the handlers call; required.
	Client *fsa.Client
	// Cluster administers the raft cluster; nil means a single node without raft
	// (&SingleNode{}): ClusterService reports one member and refuses membership changes with
	// FailedPrecondition.
	Cluster Cluster
	// AdminToken, when set, is accepted as the bearer token of ClusterService calls besides
	// the session of a user with the admin role: nodes joining a cluster and operators' tools
	// use it. A secret: compared in constant time, never logged.
	AdminToken string
	// Logger receives one line per call and internal errors (default slog.Default()). Values of
	// attributes named like secrets are redacted before they reach it.
	Logger *slog.Logger
	// Registerer receives the RPC latency histogram (fsa_rpc_duration_seconds); may be nil.
	Registerer prometheus.Registerer
	// Auth configures sessions, sign-in methods and limits.
	Auth AuthConfig
	// Leader names the current leader (raft id and API base URL) for the Unavailable errors of
	// a follower; nil in single-node mode.
	Leader func() (id, apiAddress string)
	// WatchProgressInterval is how often an idle WatchProjects stream gets a PROGRESS message
	// (default 15s).
	WatchProgressInterval time.Duration
	// Kube builds the users' Kubernetes clients for PurgeRetainedData; nil: a cache of its own.
	Kube *k8s.Clients
	// PurgeOnDelete makes every DeleteProject purge the project's data, as if it set purge_data
	// (fsad --delete-volumes).
	PurgeOnDelete bool
}

// Cluster is the raft cluster as the API needs it. Methods that only the leader serves return
// an error wrapping raftstore.ErrNotLeader on a follower. Errors wrapping fsa.ErrNotFound,
// fsa.ErrInvalidArgument, fsa.ErrFailedPrecondition (e.g. removing the last voter) and
// fsa.ErrConflict (another membership change in progress) map to NotFound, InvalidArgument,
// FailedPrecondition and Aborted.
type Cluster interface {
	Status(ctx context.Context) (ClusterStatus, error)
	Join(ctx context.Context, id, raftAddress, apiAddress string) error
	Remove(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context) error
}

// ClusterStatus is the cluster as one node sees it: the daemon fills it, GetClusterStatus
// sends it.
type ClusterStatus struct {
	// NodeID and State ("Leader", "Follower", "Candidate", "Shutdown"; "Single" without raft)
	// are the answering node's.
	NodeID, State string
	// Members are ordered by ID.
	Members                                    []Member
	LeaderID, LeaderAPIAddress                 string
	Term, LastIndex, CommitIndex, AppliedIndex uint64
	// Reconcile says whether the answering node runs the reconcile loops, and with which fence.
	Reconcile ReconcileStatus
}

// Member is one node of the cluster.
type Member struct {
	ID, RaftAddress, APIAddress string
	Voter, Leader               bool
}

// ReconcileStatus says whether a node's reconcile loops run, and with which fencing token.
type ReconcileStatus struct {
	Running bool
	Fence   uint64
}

// SingleNode is the Cluster of a daemon without raft: one voter, always the leader; membership
// changes fail with FailedPrecondition.
type SingleNode struct {
	// ID and APIAddress name the node ("single" if ID is empty).
	ID, APIAddress string
	// Reconcile reports the reconcile loops' state; nil reports them not running.
	Reconcile func() ReconcileStatus
}

var _ Cluster = (*SingleNode)(nil)

// Status implements Cluster.
func (n *SingleNode) Status(context.Context) (ClusterStatus, error) {
	id := n.ID
	if id == "" {
		id = "single"
	}
	st := ClusterStatus{NodeID: id, State: "Single", LeaderID: id, LeaderAPIAddress: n.APIAddress,
		Members: []Member{{ID: id, APIAddress: n.APIAddress, Voter: true, Leader: true}}}
	if n.Reconcile != nil {
		st.Reconcile = n.Reconcile()
	}
	return st, nil
}

// Join implements Cluster.
func (n *SingleNode) Join(context.Context, string, string, string) error { return errSingleNode }

// Remove implements Cluster.
func (n *SingleNode) Remove(context.Context, string) error { return errSingleNode }

// TransferLeadership implements Cluster.
func (n *SingleNode) TransferLeadership(context.Context) error { return errSingleNode }

// LeadershipTransferrer is an optional capability of a Cluster: hand leadership to a chosen
// voter. Without it, TransferLeadership with a target_id fails with InvalidArgument.
type LeadershipTransferrer interface {
	TransferLeadershipTo(ctx context.Context, id string) error
}

// server holds what every service handler shares.
type server struct {
	c        *fsa.Client
	cluster  Cluster
	log      *slog.Logger
	auth     AuthConfig
	sessions *sessions
	errs     *errorMapper
	obs      *observer
	limiter  *limiter
	progress time.Duration
	errw     *connect.ErrorWriter
	known    map[string]bool // every procedure served, for metric labels
	// adminToken, when set, is accepted for ClusterService calls (Options.AdminToken).
	adminToken []byte
	// dummyHash is compared against when a username does not exist, so that a failed login
	// takes as long whether or not the user exists.
	dummyHash []byte
	// kube builds users' Kubernetes clients (Options.Kube); purgeOnDelete is
	// Options.PurgeOnDelete.
	kube          *k8s.Clients
	purgeOnDelete bool
}

// publicProcedures need no session.
var publicProcedures = map[string]bool{
	fsav1connect.AuthServiceSignUpProcedure:      true,
	fsav1connect.AuthServiceLoginProcedure:       true,
	fsav1connect.AuthServiceGitHubLoginProcedure: true,
	fsav1connect.AuthServiceSealosLoginProcedure: true,
}

// Prefixes of the standard services, which need no session either.
const (
	healthPrefix     = "/grpc.health.v1.Health/"
	clusterPrefix    = "/" + fsav1connect.ClusterServiceName + "/"
	reflectionPrefix = "/grpc.reflection."
)

// services lists the fsa.v1 services for health checks and reflection.
var services = []protoreflect.ServiceDescriptor{
	fsav1.File_fsa_v1_auth_proto.Services().ByName("AuthService"),
	fsav1.File_fsa_v1_project_proto.Services().ByName("ProjectService"),
	fsav1.File_fsa_v1_environment_proto.Services().ByName("EnvironmentService"),
	fsav1.File_fsa_v1_user_config_proto.Services().ByName("UserConfigService"),
	fsav1.File_fsa_v1_cluster_proto.Services().ByName("ClusterService"),
	fsav1.File_fsa_v1_quota_proto.Services().ByName("QuotaService"),
	fsav1.File_fsa_v1_sandbox_proto.Services().ByName("SandboxService"),
}

// NewHandler returns the HTTP handler serving the fsa.v1 services with Connect, gRPC and
// gRPC-Web, plus gRPC health checks and server reflection. Serve it over HTTP/2 (TLS or h2c)
// for gRPC clients. Every request except the public ones (SignUp, Login, GitHubLogin,
// SealosLogin, health, reflection) must carry a session token, checked before the body is
// read.
func NewHandler(opts Options) (http.Handler, error) {
	if opts.Client == nil {
		return nil, errors.New("api: Options.Client is required")
	}
	auth, err := opts.Auth.withDefaults()
	if err != nil {
		return nil, err
	}
	base := opts.Logger
	if base == nil {
		base = slog.Default()
	}
	log := slog.New(redactingHandler{base.Handler()})
	s := &server{c: opts.Client, cluster: opts.Cluster, log: log, auth: auth, progress: opts.WatchProgressInterval, known: map[string]bool{}}
	if s.cluster == nil {
		s.cluster = &SingleNode{}
	}
	s.kube, s.purgeOnDelete = opts.Kube, opts.PurgeOnDelete
	if s.kube == nil {
		s.kube = k8s.NewClients(k8s.WithUserAgent("fsad"))
	}
	if opts.AdminToken != "" {
		s.adminToken = []byte(opts.AdminToken)
	}
	if s.progress <= 0 {
		s.progress = 15 * time.Second
	}
	s.sessions = newSessions(auth, opts.Client)
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte("fsa: no such user"), auth.BcryptCost); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	s.errs = &errorMapper{log: log, leader: opts.Leader}
	s.limiter = newLimiter(auth.RateLimit, auth.Now)
	if s.obs, err = newObserver(opts.Registerer, log, s.errs); err != nil {
		return nil, fmt.Errorf("api: register metrics: %w", err)
	}
	hopts := []connect.HandlerOption{
		connect.WithInterceptors(s.obs.interceptor()),
		connect.WithReadMaxBytes(auth.MaxMessageBytes),
	}
	s.errw = connect.NewErrorWriter(hopts...)

	mux := http.NewServeMux()
	mux.Handle(fsav1connect.NewAuthServiceHandler(&authService{s}, hopts...))
	mux.Handle(fsav1connect.NewProjectServiceHandler(&projectService{s}, hopts...))
	mux.Handle(fsav1connect.NewEnvironmentServiceHandler(&envService{s}, hopts...))
	mux.Handle(fsav1connect.NewUserConfigServiceHandler(&userConfigService{s}, hopts...))
	mux.Handle(fsav1connect.NewClusterServiceHandler(&clusterService{s}, hopts...))
	mux.Handle(fsav1connect.NewQuotaServiceHandler(&quotaService{s}, hopts...))
	// No gzip for sandbox streams: file contents are often compressed already, and gzip cost
	// downloads 2-3x their speed (BENCHMARKS.md, issue 14). Uploads decode into reused buffers.
	mux.Handle(fsav1connect.NewSandboxServiceHandler(&sandboxService{s},
		append(hopts[:len(hopts):len(hopts)], connect.WithCompression("gzip", nil, nil), connect.WithCodec(uploadCodec{}))...))
	mux.HandleFunc(previewPrefix, s.preview) // its own auth: ticket, then cookie
	names := make([]string, 0, len(services))
	for _, sd := range services {
		names = append(names, string(sd.FullName()))
		for i := 0; i < sd.Methods().Len(); i++ {
			s.known["/"+string(sd.FullName())+"/"+string(sd.Methods().Get(i).Name())] = true
		}
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(names...), hopts...))
	reflector := grpcreflect.NewStaticReflector(names...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, hopts...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, hopts...))
	return s.middleware(mux), nil
}

// middleware authenticates and rate-limits a request from its headers alone, before the
// message is read, and marks every response private.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, previewPrefix) {
			next.ServeHTTP(w, r) // the preview checks its ticket or cookie itself; the app sets its caching
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		proc := r.URL.Path
		switch {
		case strings.HasPrefix(proc, healthPrefix):
			next.ServeHTTP(w, r)
			return
		case publicProcedures[proc] || strings.HasPrefix(proc, reflectionPrefix):
			if !s.limiter.allow("addr:" + clientAddr(r)) {
				s.reject(w, r, fmt.Errorf("%w: too many requests from this address", errRateLimited))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !s.known[proc] {
			// Not a procedure of ours: nothing to authenticate for (the names are public).
			http.NotFound(w, r)
			return
		}
		start := time.Now()
		tok, ok := bearer(r.Header)
		if !ok {
			s.rejectTimed(w, r, start, fmt.Errorf("%w: missing bearer token", errUnauthenticated))
			return
		}
		if s.adminToken != nil && strings.HasPrefix(proc, clusterPrefix) &&
			subtle.ConstantTimeCompare([]byte(tok), s.adminToken) == 1 {
			next.ServeHTTP(w, r.WithContext(withCaller(r.Context(), &caller{clusterAdmin: true})))
			return
		}
		c, err := s.sessions.verify(r.Context(), tok)
		if err != nil {
			s.rejectTimed(w, r, start, err)
			return
		}
		ctx := withCaller(r.Context(), c)
		if !s.limiter.allow("user:" + c.user.ID) {
			s.rejectTimed(w, r.WithContext(ctx), start, fmt.Errorf("%w: too many requests", errRateLimited))
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *server) reject(w http.ResponseWriter, r *http.Request, err error) {
	s.rejectTimed(w, r, time.Now(), err)
}

// rejectTimed answers a request the middleware refused, in the request's protocol.
func (s *server) rejectTimed(w http.ResponseWriter, r *http.Request, start time.Time, err error) {
	err = s.errs.toConnect(r.Context(), err)
	proc := r.URL.Path
	if !s.known[proc] {
		proc = "unknown"
	}
	s.obs.record(r.Context(), proc, start, err)
	_ = s.errw.Write(w, r, err) // the client is gone if this fails
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// redactingHandler replaces the values of attributes whose names suggest a secret, as a
// second line of defence: handlers never log request values in the first place.
type redactingHandler struct{ h slog.Handler }

var secretWords = []string{"password", "token", "secret", "kubeconfig", "api_key", "apikey", "authorization", "cookie", "credential"}

func secretName(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactAttr(a slog.Attr) slog.Attr {
	if secretName(a.Key) {
		return slog.String(a.Key, "[REDACTED]")
	}
	if a.Value.Kind() == slog.KindGroup {
		as := a.Value.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = redactAttr(g)
		}
		return slog.Group(a.Key, out...)
	}
	return a
}

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a)
	}
	return redactingHandler{h.h.WithAttrs(out)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.h.WithGroup(name)}
}
