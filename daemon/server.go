package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/daemon/api"
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/k8s"
	"github.com/fullstackagent/fsa/reconcile"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/boltstore"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// singleStoreFile is the bbolt file of single-node mode inside Config.DataDir.
const singleStoreFile = "fsa.db"

// retryBackoff is the pause between attempts of the leader monitor and the join loop.
const retryBackoff = 250 * time.Millisecond

// daemon is one running fsad.
type daemon struct {
	// cancelRequests cancels the context every HTTP request runs under (see httpServer).
	cancelRequests context.CancelFunc
	cfg            Config
	log            *slog.Logger
	reg            *prometheus.Registry
	dm             *daemonMetrics
	st             store.Store
	rs             *raftstore.Store // nil in single-node mode
	// stream is the Raft stream layer the transport runs on (nil in single-node mode); the
	// test build wraps it with a fault switch (testbuild.go).
	stream  raft.StreamLayer
	trans   *raft.NetworkTransport
	client  *fsa.Client
	cluster *Cluster // nil in single-node mode
	mon     *monitor
	kclient *k8s.Clients
	caches  *reconcile.Caches // nil unless Config.Reconcile.WarmCaches
	devKube *rest.Config      // from Config.Kubeconfig; nil if unset

	joinedMu sync.Mutex
	joined   bool

	// scrubPending: this node's files may hold secret values from before its primary key
	// (see scrubbedFile); set by checkKeys at start.
	scrubPending bool
}

// Run runs the daemon until ctx ends, then shuts it down gracefully: a leader first hands its
// leadership to another voter, then the HTTP server stops accepting and drains (bounded by
// Config.ShutdownTimeout), then the reconcile loops stop and the store closes. It returns an
// error if the daemon cannot start or stops for another reason than ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Log.Logger
	if log == nil {
		log = NewLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	}
	defer log.Info("fsad stopped")
	d := &daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry(), kclient: k8s.NewClients(k8s.WithUserAgent("fsad"))}
	if d.dm, err = newDaemonMetrics(d.reg); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if cfg.Kubeconfig != "" {
		if d.devKube, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig); err != nil {
			return fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	}
	if cfg.Keys.Keyring == nil {
		return errNoKeys
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := d.openStore(); err != nil {
		return err
	}
	defer func() {
		if cerr := d.closeStore(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	d.client = fsa.New(d.st, fsa.WithDefaultLimits(d.cfg.Limits), fsa.WithSizes(d.cfg.Sizes), fsa.WithLifecycleDefaults(d.cfg.Lifecycle), fsa.WithKeys(cfg.Keys.Keyring), fsa.WithKubeClients(d.kclient))
	if err := d.checkKeys(ctx); err != nil {
		return err
	}
	d.mon = &monitor{client: d.client, work: d.leaderWork, log: log.With("component", "leader"), backoff: retryBackoff, m: d.dm}
	if d.rs != nil {
		self := Node{ID: cfg.NodeID, RaftAddress: cfg.Raft.Advertise, APIAddress: cfg.HTTP.APIAdvertise}
		d.cluster = &Cluster{st: d.rs, self: self, lead: d.mon, settle: 2 * d.cfg.Raft.HeartbeatTimeout}
		d.mon.onLead = func(ctx context.Context) error { return d.cluster.putNode(ctx, self) }
		if err := d.reg.Register(newRaftCollector(d.rs)); err != nil {
			return fmt.Errorf("register raft metrics: %w", err)
		}
	}

	if cfg.Reconcile.WarmCaches {
		if d.caches, err = reconcile.NewCaches(reconcile.CachesConfig{Client: d.client, Clients: d.kclient,
			Network: cfg.Reconcile.Network() != nil, Registerer: d.reg, Logger: log}); err != nil {
			return err
		}
	}
	handler, err := d.handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := d.httpServer(handler)

	// Background routines run on their own context so that shutdown can order them: leadership
	// is handed over before reconcile stops, and the caches stop after the runner that uses them.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stopCaches := func() {}
	if d.caches != nil {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = d.caches.Run(cctx) // nil: it retries until its context ends
		}()
		stopCaches = func() {
			cancel()
			<-done
		}
	}
	defer func() {
		stopBG()
		wg.Wait()
		stopCaches()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if d.rs == nil {
			d.mon.runSingle(bg)
		} else {
			d.mon.runRaft(bg, d.rs)
		}
	}()
	if d.rs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.scrubWhenSealed(bg)
		}()
	}
	if len(cfg.Raft.Join) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.joinLoop(bg)
		}()
	}
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- srv.Serve(ln)
	}()
	log.Info("fsad started", "node", cfg.NodeID, "mode", d.mode(), "listen", ln.Addr().String(),
		"raft", d.raftAddress(), "data_dir", cfg.DataDir, "test_build", testBuild)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	d.shutdown(srv)
	return runErr
}

func (d *daemon) mode() string {
	if d.rs == nil {
		return "single"
	}
	return "cluster"
}

// shutdown hands leadership over, drains HTTP and stops the background routines' inputs. The
// deferred functions of Run stop the routines and close the store.
func (d *daemon) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if d.rs != nil && d.rs.IsLeader() && d.hasOtherVoters(ctx) {
		start := time.Now()
		tctx, tcancel := context.WithTimeout(ctx, d.cfg.HTTP.ShutdownTimeout/2)
		err := d.rs.TransferLeadership(tctx)
		tcancel()
		if err != nil {
			d.log.Warn("leadership transfer on shutdown failed", "err", err)
		} else {
			d.log.Info("leadership transferred on shutdown", "took", time.Since(start))
		}
	}
	// Let unary calls finish for half the budget, then end the long-lived streams too.
	drain, cancelDrain := context.WithTimeout(ctx, d.cfg.HTTP.ShutdownTimeout/2)
	err := srv.Shutdown(drain)
	cancelDrain()
	if err != nil {
		d.cancelRequests()
		if err := srv.Shutdown(ctx); err != nil {
			d.log.Warn("http shutdown incomplete; closing connections", "err", err)
			_ = srv.Close()
		}
	}
	d.cancelRequests()
}

func (d *daemon) hasOtherVoters(ctx context.Context) bool {
	st, err := d.rs.Status(ctx)
	if err != nil {
		return false
	}
	for _, m := range st.Members {
		if m.ID != d.cfg.NodeID && m.Suffrage == "Voter" {
			return true
		}
	}
	return false
}

func (d *daemon) openStore() error {
	if d.cfg.Single() {
		st, err := boltstore.Open(filepath.Join(d.cfg.DataDir, singleStoreFile))
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		d.st = st
		return nil
	}
	sl, err := newStreamLayer(d.cfg.Raft.Addr, d.cfg.Raft.Advertise)
	if err != nil {
		return fmt.Errorf("raft listen: %w", err)
	}
	d.stream = d.raftStreamLayer(sl)
	hl := newHCLogger(d.log.With("component", "raft"), d.cfg.Log.Level)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: d.stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hl.Named("transport"),
	})
	rs, err := raftstore.Open(raftstore.Config{
		NodeID:             d.cfg.NodeID,
		Dir:                d.cfg.DataDir,
		Transport:          trans,
		Bootstrap:          d.cfg.Raft.Bootstrap,
		HeartbeatTimeout:   d.cfg.Raft.HeartbeatTimeout,
		ElectionTimeout:    d.cfg.Raft.ElectionTimeout,
		LeaderLeaseTimeout: d.cfg.Raft.LeaderLeaseTimeout,
		CommitTimeout:      d.cfg.Raft.CommitTimeout,
		SyncEveryApply:     d.cfg.Raft.SyncStateEveryApply,
		Logger:             hl,
	})
	if err != nil {
		_ = trans.Close()
		return fmt.Errorf("open raft store: %w", err)
	}
	d.st, d.rs, d.trans = rs, rs, trans
	d.warnIfNotAMember()
	return nil
}

// raftAddress is the Raft address this node advertises ("" without Raft).
func (d *daemon) raftAddress() string {
	if d.stream == nil {
		return ""
	}
	return d.stream.Addr().String()
}

// warnIfNotAMember logs a warning when the Raft configuration in the data directory has
// members but not this node's id: started with the wrong --node-id (say on a directory made by
// fsad restore for another id), or after being removed from the cluster, the node can never
// vote or lead.
func (d *daemon) warnIfNotAMember() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.rs.Status(ctx)
	if err != nil || len(st.Members) == 0 {
		return // a fresh node: it joins, or bootstraps, later
	}
	ids := make([]string, 0, len(st.Members))
	for _, m := range st.Members {
		if m.ID == d.cfg.NodeID {
			return
		}
		ids = append(ids, m.ID)
	}
	d.log.Warn("this node's id is not in the Raft configuration recorded in its data directory; it cannot vote or lead until it is added (check --node-id)",
		"node_id", d.cfg.NodeID, "members", ids)
}

func (d *daemon) closeStore() error {
	err := d.st.Close()
	if d.trans != nil {
		err = errors.Join(err, d.trans.Close())
	}
	if err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (d *daemon) httpServer(h http.Handler) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true) // h2c: gRPC and Connect over HTTP/2 without TLS
	// Requests run under a context that shutdown cancels once draining has had its chance:
	// http.Server.Shutdown waits for handlers but never cancels them, and a watch stream only
	// ends when its context does.
	base, cancel := context.WithCancelCause(context.Background())
	d.cancelRequests = func() { cancel(api.ErrServerStopping) }
	return &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           h,
		Protocols:         &protos,
		ReadHeaderTimeout: d.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       d.cfg.HTTP.ReadTimeout,
		WriteTimeout:      d.cfg.HTTP.WriteTimeout,
		IdleTimeout:       d.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
}

// reconcile is the leader work: one reconcile runner with fence as its token, its metrics
// registered on the daemon's registry for the runner's lifetime.
func (d *daemon) reconcile(ctx context.Context, fence uint64) error {
	reg := &scopedRegisterer{reg: d.reg}
	defer reg.unregisterAll()
	r, err := reconcile.New(reconcile.Config{
		Client:           d.client,
		Fence:            fence,
		Domain:           d.cfg.Reconcile.Domain,
		Scheme:           d.cfg.Reconcile.Scheme,
		TLSSecretName:    d.cfg.Reconcile.TLSSecretName,
		IngressClassName: d.cfg.Reconcile.IngressClassName,
		RuntimeImage:     d.cfg.Reconcile.RuntimeImage,
		Network:          d.cfg.Reconcile.Network(),
		Clients:          d.kclient,
		Caches:           d.caches,

		DefaultAnthropicAuthToken: d.cfg.Reconcile.DefaultAnthropicToken,
		DefaultAnthropicBaseURL:   d.cfg.Reconcile.DefaultAnthropicBaseURL,
		Workers:                   d.cfg.Reconcile.Workers,
		Resync:                    d.cfg.Reconcile.Resync,
		Registerer:                reg,
		Logger:                    d.log,
	})
	if err != nil {
		return err
	}
	lc, err := reconcile.NewLifecycle(reconcile.LifecycleConfig{Client: d.client, Fence: fence, Registerer: reg, Logger: d.log})
	if err != nil {
		return err
	}
	// Both run until ctx ends or either stops (fenced, failed): then the other is stopped too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- r.Run(ctx) }()
	go func() { errs <- lc.Run(ctx) }()
	err = <-errs
	cancel()
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

// joinLoop asks the members in Config.Join to add this node until one (the leader) does.
func (d *daemon) joinLoop(ctx context.Context) {
	log := d.log.With("component", "join")
	for {
		err := d.join(ctx)
		if err == nil {
			d.joinedMu.Lock()
			d.joined = true
			d.joinedMu.Unlock()
			log.Info("joined the cluster")
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Info("join not done yet; retrying", "err", err, "after", retryBackoff)
		t := time.NewTimer(retryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (d *daemon) isJoined() bool {
	d.joinedMu.Lock()
	defer d.joinedMu.Unlock()
	return d.joined
}

// join asks the members in Config.Join, through ClusterService with the admin token, to add
// this node; the client follows a follower's leader hint.
func (d *daemon) join(ctx context.Context) error {
	c, err := fsaclient.New(d.cfg.Raft.Join, fsaclient.WithToken(d.cfg.AdminToken),
		fsaclient.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
		fsaclient.WithRetry(fsaclient.RetryPolicy{MaxAttempts: len(d.cfg.Raft.Join), InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}))
	if err != nil {
		return err
	}
	_, err = c.Cluster().JoinNode(ctx, connect.NewRequest(&fsav1.JoinNodeRequest{
		Id: d.cfg.NodeID, RaftAddress: d.cfg.Raft.Advertise, ApiAddress: d.cfg.HTTP.APIAdvertise}))
	return err
}

// NewLogger returns the daemon's structured logger writing to w in format "json" or "text".
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newHCLogger adapts slog to the hclog.Logger that Raft wants: an intercept logger that writes
// nothing itself and forwards every entry, with its level and key-value pairs, to l.
func newHCLogger(l *slog.Logger, level slog.Level) hclog.Logger {
	hl := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard, Level: hclogLevel(level)})
	hl.RegisterSink(slogSink{l})
	return hl
}

type slogSink struct{ l *slog.Logger }

func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	lv := slogLevel(level)
	ctx := context.Background()
	if !s.l.Enabled(ctx, lv) {
		return
	}
	s.l.Log(ctx, lv, msg, append(args, "logger", name)...)
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l <= slog.LevelDebug:
		return hclog.Debug
	case l <= slog.LevelInfo:
		return hclog.Info
	case l <= slog.LevelWarn:
		return hclog.Warn
	}
	return hclog.Error
}
