package daemon

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/fullstackagent/fsa/daemon/ui"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// maxAdminBody bounds the error answers of the admin endpoint that AdminClient reads.
const maxAdminBody = 1 << 20

// handler builds the daemon's HTTP routes: health, metrics, pprof (opt-in), the backup
// snapshot (with an admin token), the test-only endpoints (opt-in), the web console under /ui/
// and, for everything else, the RPC API (cluster administration is its ClusterService).
func (d *daemon) handler() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	if d.cfg.HTTP.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if d.cfg.AdminToken != "" {
		mux.HandleFunc("POST /admin/v1/snapshot", d.adminSnapshot)
	}
	d.testRoutes(mux) // nothing in the production build (prodbuild.go)
	api, err := d.apiHandler()
	if err != nil {
		return nil, fmt.Errorf("api handler: %w", err)
	}
	mux.Handle(ui.Prefix, ui.Handler()) // the web console (clients/web, embedded)
	if api != nil {
		mux.Handle("/", api)
	}
	return mux, nil
}

// readyz is 200 once the node can serve: always in single-node mode; in cluster mode when a
// leader is known (and, for a node started with --join, once it has joined).
func (d *daemon) readyz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if d.rs != nil {
		if id, _ := d.rs.Leader(); id == "" {
			problems = append(problems, "no raft leader known")
		}
		if len(d.cfg.Raft.Join) > 0 && !d.isJoined() {
			problems = append(problems, "not joined yet")
		}
	}
	if d.devKube != nil {
		// Reported, not required: reconcile uses each user's own kubeconfig.
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := kubeReachable(ctx, d.devKube); err != nil {
			_, _ = fmt.Fprintf(w, "kubernetes: unreachable: %v\n", err)
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "; "), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// kubeReachable asks the API server for its version.
func kubeReachable(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return err
	}
	return dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}

// errorBody is the JSON of a failed admin call.
type errorBody struct {
	Error string `json:"error"`
}

func (d *daemon) writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errSingleNode):
		code = http.StatusPreconditionFailed
	case errors.Is(err, store.ErrClosed), errors.Is(err, raftstore.ErrNoLeader):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = http.StatusGatewayTimeout
	default:
		d.log.Error("admin call failed", "err", err)
	}
	writeJSON(w, code, errorBody{Error: err.Error()})
}

var errSingleNode = errors.New("single-node daemon: no raft snapshot to take")

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Headers of the answer of POST /admin/v1/snapshot.
const (
	SnapshotIndexHeader = "Fsa-Snapshot-Index"
	SnapshotTermHeader  = "Fsa-Snapshot-Term"
)

// adminSnapshot takes a Raft snapshot of the answering node's state and streams it back
// (application/octet-stream), with the snapshot's index and term in headers. Any node answers,
// with its own (possibly slightly stale) state.
func (d *daemon) adminSnapshot(w http.ResponseWriter, r *http.Request) {
	got := []byte(r.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare(got, []byte("Bearer "+d.cfg.AdminToken)) != 1 {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong admin token"})
		return
	}
	if d.rs == nil {
		d.writeError(w, errSingleNode)
		return
	}
	meta, rc, err := d.rs.Backup(r.Context())
	if err != nil {
		d.writeError(w, err)
		return
	}
	defer func() { _ = rc.Close() }()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	w.Header().Set(SnapshotIndexHeader, strconv.FormatUint(meta.Index, 10))
	w.Header().Set(SnapshotTermHeader, strconv.FormatUint(meta.Term, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		d.log.Warn("snapshot stream interrupted", "err", err)
	}
}
