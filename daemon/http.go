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
	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// maxAdminBody bounds admin and test request bodies.
const maxAdminBody = 1 << 20

// handler builds the daemon's HTTP routes: health, metrics, pprof (opt-in), the admin cluster
// endpoints, the test-only endpoints (opt-in), the web console under /ui/ and, for everything
// else, the RPC API.
func (d *daemon) handler() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	if d.cfg.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if d.cfg.AdminToken != "" {
		mux.Handle("GET /admin/v1/cluster/status", d.admin(d.adminStatus))
		mux.Handle("POST /admin/v1/cluster/join", d.admin(d.adminJoin))
		mux.Handle("POST /admin/v1/cluster/remove", d.admin(d.adminRemove))
		mux.Handle("POST /admin/v1/cluster/transfer", d.admin(d.adminTransfer))
		mux.HandleFunc("POST /admin/v1/snapshot", d.adminSnapshot)
	}
	if d.cfg.EnableTestEndpoints {
		d.log.Warn("TEST-ONLY endpoints enabled under /test/v1/: never run this in production")
		d.testRoutes(mux)
	}
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
		if len(d.cfg.Join) > 0 && !d.isJoined() {
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

// admin wraps an admin endpoint: bearer-token check in constant time, then fn's result as JSON.
func (d *daemon) admin(fn func(r *http.Request) (any, error)) http.Handler {
	want := []byte("Bearer " + d.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong admin token"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		out, err := fn(r)
		if err != nil {
			d.writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// errorBody is the JSON of a failed admin or test call. A follower answering a leader-only
// call sets LeaderID and LeaderAPIAddress (when known) with status 503.
type errorBody struct {
	Error            string `json:"error"`
	LeaderID         string `json:"leader_id,omitempty"`
	LeaderAPIAddress string `json:"leader_api_address,omitempty"`
	// Uncertain: the write may or may not have committed (leadership lost while in flight).
	Uncertain bool `json:"uncertain,omitempty"`
}

func (d *daemon) writeError(w http.ResponseWriter, err error) {
	body := errorBody{Error: err.Error()}
	var nl *raftstore.NotLeaderError
	code := http.StatusInternalServerError
	switch {
	case errors.As(err, &nl):
		code = http.StatusServiceUnavailable
		body.Uncertain = nl.Uncertain
		if d.cluster != nil {
			body.LeaderID, body.LeaderAPIAddress = d.cluster.Leader()
		}
	case errors.Is(err, errSingleNode):
		code = http.StatusPreconditionFailed
	case errors.Is(err, ErrNoMember), errors.Is(err, fsa.ErrNotFound), errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errBadRequest), errors.Is(err, fsa.ErrInvalidArgument):
		code = http.StatusBadRequest
	case errors.Is(err, ErrLastVoter), errors.Is(err, fsa.ErrFailedPrecondition):
		code = http.StatusPreconditionFailed
	case errors.Is(err, fsa.ErrConflict), errors.Is(err, fsa.ErrFenced), errors.Is(err, fsa.ErrAlreadyExists),
		errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrFenced):
		code = http.StatusConflict
	case errors.Is(err, store.ErrClosed), errors.Is(err, raftstore.ErrNoLeader):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = http.StatusGatewayTimeout
	}
	if code == http.StatusInternalServerError {
		d.log.Error("admin call failed", "err", err)
	}
	writeJSON(w, code, body)
}

var (
	errSingleNode = errors.New("single-node daemon: no cluster to administer")
	errBadRequest = errors.New("bad request")
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// JoinRequest is the body of POST /admin/v1/cluster/join.
type JoinRequest struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	APIAddress  string `json:"api_address"`
}

// RemoveRequest is the body of POST /admin/v1/cluster/remove.
type RemoveRequest struct {
	ID string `json:"id"`
}

// TransferResponse is the answer of POST /admin/v1/cluster/transfer.
type TransferResponse struct {
	LeaderID string `json:"leader_id"`
}

func (d *daemon) adminStatus(r *http.Request) (any, error) {
	if d.cluster == nil {
		return ClusterStatus{NodeID: d.cfg.NodeID, State: "Single", Reconcile: d.mon.status()}, nil
	}
	return d.cluster.Status(r.Context())
}

func (d *daemon) adminJoin(r *http.Request) (any, error) {
	if d.cluster == nil {
		return nil, errSingleNode
	}
	var req JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.ID == "" || req.RaftAddress == "" {
		return nil, fmt.Errorf("%w: id and raft_address are required", errBadRequest)
	}
	if err := d.cluster.Join(r.Context(), req.ID, req.RaftAddress, req.APIAddress); err != nil {
		return nil, err
	}
	d.log.Info("node joined", "id", req.ID, "raft", req.RaftAddress, "api", req.APIAddress)
	return struct{}{}, nil
}

func (d *daemon) adminRemove(r *http.Request) (any, error) {
	if d.cluster == nil {
		return nil, errSingleNode
	}
	var req RemoveRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.ID == "" {
		return nil, fmt.Errorf("%w: id is required", errBadRequest)
	}
	if err := d.cluster.Remove(r.Context(), req.ID); err != nil {
		return nil, err
	}
	d.log.Info("node removed", "id", req.ID)
	return struct{}{}, nil
}

func (d *daemon) adminTransfer(r *http.Request) (any, error) {
	if d.cluster == nil {
		return nil, errSingleNode
	}
	if err := d.cluster.TransferLeadership(r.Context()); err != nil {
		return nil, err
	}
	// The handover is done; this node learns the new leader's id from its first heartbeat.
	ctx, cancel := context.WithTimeout(r.Context(), 2*d.cfg.HeartbeatTimeout)
	defer cancel()
	id, _, err := d.rs.WaitLeader(ctx)
	if err != nil {
		return TransferResponse{}, nil
	}
	return TransferResponse{LeaderID: id}, nil
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
