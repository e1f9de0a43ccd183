// Package testapi is the test-only HTTP surface of the test build of fsad (go build -tags
// fsadtest): SDK writes and local reads over plain JSON for the multi-process tests and the
// failover benchmark, which must not depend on the RPC API they test, and a switch that cuts
// the node's Raft traffic (Isolator). The production fsad binary contains none of it.
//
// Every endpoint needs the cluster's admin token as its bearer token. Writes on a follower
// answer 503 with the leader's API address.
package testapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
	"github.com/fullstackagent/fsa/store/raftstore"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// UserRequest is the body of POST /test/v1/users.
type UserRequest struct {
	Name string `json:"name"`
	// Kubeconfig, if set, is stored as the user's kubeconfig (a secret).
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// User is the answer of the user endpoints.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ProjectRequest is the body of POST /test/v1/projects and its start/stop/delete actions.
type ProjectRequest struct {
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Project is a project as the test endpoints show it.
type Project struct {
	ID             string `json:"id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	SandboxName    string `json:"sandbox_name,omitempty"`
	SandboxStatus  string `json:"sandbox_status,omitempty"`
	DatabaseName   string `json:"database_name,omitempty"`
	DatabaseStatus string `json:"database_status,omitempty"`
	// Reasons are the reasons of the sandbox's timeline, oldest first.
	Reasons []string `json:"reasons,omitempty"`
	// NextDue is when the project's lifecycle policies act next (zero: never), and why.
	NextDue       time.Time `json:"next_due,omitempty"`
	NextDueReason string    `json:"next_due_reason,omitempty"`
}

// State is a node's local store state (GET /test/v1/local/state).
type State struct {
	Revision int64  `json:"revision"`
	Epoch    uint64 `json:"epoch"`
}

// Faults is the body of POST /test/v1/faults.
type Faults struct {
	// Isolated cuts the node's Raft traffic in both directions.
	Isolated bool `json:"isolated"`
}

// EnvRequest is the body of POST /test/v1/projects/env: set (create or replace) one plain
// variable of a project.
type EnvRequest struct {
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id"`
	Key       string `json:"key"`
	Value     string `json:"value"`
}

// Node is what the endpoints need of the daemon they are mounted in.
type Node struct {
	// Client is the SDK on the node's store: its writes need the leader.
	Client *fsa.Client
	// View reads the node's local state without asking the leader.
	View func(ctx context.Context, fn func(store.Snapshot) error) error
	// Watch is the node's change feed.
	Watch func(ctx context.Context, after int64) (*store.Cursor, error)
	// Leader names the leader (id and API address) for a follower's 503.
	Leader func() (id, apiAddress string)
	// Token is the admin token every call must carry. Required: without it nothing is mounted.
	Token string
	// Isolate, when set, serves POST /test/v1/faults.
	Isolate func(bool)
	// PauseBeforeWrite, when set, serves POST /test/v1/faults/pause-before-write: it arms the
	// node so that its next sandbox write to Kubernetes, once past the fencing check, stops the
	// whole process (SIGSTOP to itself) until it gets SIGCONT.
	PauseBeforeWrite func()
}

// Mount registers the endpoints on mux. It does nothing without n.Token.
func Mount(mux *http.ServeMux, n Node) {
	if n.Token == "" {
		return
	}
	local := fsa.New(localStore{n})
	h := func(fn func(r *http.Request) (any, error)) http.Handler { return handler(n, fn) }
	mux.Handle("POST /test/v1/users", h(func(r *http.Request) (any, error) {
		var req UserRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		u, err := n.Client.CreateUser(r.Context(), fsa.UserSpec{Name: req.Name})
		if err != nil {
			return nil, err
		}
		if req.Kubeconfig != "" {
			if _, err := n.Client.SetUserConfig(r.Context(), u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig,
				Value: req.Kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true}); err != nil {
				return nil, err
			}
		}
		return User{ID: u.ID, Name: u.Name}, nil
	}))
	mux.Handle("GET /test/v1/local/users/{id}", h(func(r *http.Request) (any, error) {
		u, err := local.GetUser(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return User{ID: u.ID, Name: u.Name}, nil
	}))
	mux.Handle("GET /test/v1/local/state", h(func(r *http.Request) (any, error) {
		var st State
		err := n.View(r.Context(), func(s store.Snapshot) error {
			st = State{Revision: s.Revision(), Epoch: s.Epoch()}
			return nil
		})
		return st, err
	}))
	mux.Handle("POST /test/v1/projects", h(func(r *http.Request) (any, error) {
		var req ProjectRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		p, err := n.Client.CreateProject(r.Context(), req.UserID, fsa.ProjectSpec{Name: req.Name})
		return project(p), err
	}))
	action := func(do func(ctx context.Context, userID, projectID string) (*fsa.Project, error)) http.Handler {
		return h(func(r *http.Request) (any, error) {
			var req ProjectRequest
			if err := decode(r, &req); err != nil {
				return nil, err
			}
			p, err := do(r.Context(), req.UserID, req.ProjectID)
			return project(p), err
		})
	}
	mux.Handle("POST /test/v1/projects/start", action(n.Client.StartProject))
	mux.Handle("POST /test/v1/projects/stop", action(n.Client.StopProject))
	mux.Handle("POST /test/v1/projects/keepalive", action(func(ctx context.Context, userID, projectID string) (*fsa.Project, error) {
		if err := n.Client.KeepAlive(ctx, userID, projectID); err != nil {
			return nil, err
		}
		return n.Client.GetProject(ctx, userID, projectID)
	}))
	mux.Handle("POST /test/v1/projects/delete", action(func(ctx context.Context, userID, projectID string) (*fsa.Project, error) {
		return n.Client.DeleteProject(ctx, userID, projectID)
	}))
	mux.Handle("GET /test/v1/projects/{id}", h(func(r *http.Request) (any, error) {
		p, err := n.Client.ProjectByID(r.Context(), r.PathValue("id"))
		return project(p), err
	}))
	mux.Handle("POST /test/v1/projects/env", h(func(r *http.Request) (any, error) {
		var req EnvRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		_, err := n.Client.SetEnv(r.Context(), req.UserID, req.ProjectID, fsa.EnvSpec{Key: req.Key, Value: req.Value})
		return req, err
	}))
	if n.PauseBeforeWrite != nil {
		mux.Handle("POST /test/v1/faults/pause-before-write", h(func(*http.Request) (any, error) {
			n.PauseBeforeWrite()
			return struct{}{}, nil
		}))
	}
	if n.Isolate != nil {
		mux.Handle("POST /test/v1/faults", h(func(r *http.Request) (any, error) {
			var req Faults
			if err := decode(r, &req); err != nil {
				return nil, err
			}
			n.Isolate(req.Isolated)
			return req, nil
		}))
	}
}

func project(p *fsa.Project) *Project {
	if p == nil {
		return nil
	}
	out := &Project{ID: p.ID, UserID: p.UserID, Status: string(p.Status)}
	if p.Sandbox != nil {
		out.SandboxName, out.SandboxStatus = p.Sandbox.Name, string(p.Sandbox.Status)
		for _, c := range p.Sandbox.Conditions {
			out.Reasons = append(out.Reasons, c.Reason)
		}
	}
	if d, ok := p.NextDue(); ok {
		out.NextDue, out.NextDueReason = d.At, d.Reason
	}
	if p.Database != nil {
		out.DatabaseName, out.DatabaseStatus = p.Database.ClusterName, string(p.Database.Status)
	}
	return out
}

// localStore reads the node's local state on any node; writes are refused. It lets tests check
// what a follower holds.
type localStore struct{ n Node }

func (s localStore) View(ctx context.Context, fn func(store.Snapshot) error) error {
	return s.n.View(ctx, fn)
}

func (s localStore) Commit(context.Context, store.Txn) (int64, error) {
	return 0, fmt.Errorf("%w: local reads only", errBadRequest)
}

func (s localStore) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	return s.n.Watch(ctx, after)
}

func (s localStore) Close() error { return nil }

var errBadRequest = errors.New("bad request")

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// errorBody is the JSON of a failed call. A follower answering a leader-only call sets
// LeaderID and LeaderAPIAddress (when known) with status 503.
type errorBody struct {
	Error            string `json:"error"`
	LeaderID         string `json:"leader_id,omitempty"`
	LeaderAPIAddress string `json:"leader_api_address,omitempty"`
	// Uncertain: the write may or may not have committed (leadership lost while in flight).
	Uncertain bool `json:"uncertain,omitempty"`
}

// handler checks the admin token in constant time, then answers fn's result as JSON.
func handler(n Node, fn func(r *http.Request) (any, error)) http.Handler {
	want := []byte("Bearer " + n.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "missing or wrong admin token"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if key := r.Header.Get(idempotencyHeader); key != "" {
			r = r.WithContext(fsa.WithIdempotencyKey(r.Context(), key))
		}
		out, err := fn(r)
		if err != nil {
			code, body := status(n, err)
			writeJSON(w, code, body)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// status maps an error to an HTTP status and body.
func status(n Node, err error) (int, errorBody) {
	body := errorBody{Error: err.Error()}
	var nl *raftstore.NotLeaderError
	switch {
	case errors.As(err, &nl):
		body.Uncertain = nl.Uncertain
		if n.Leader != nil {
			body.LeaderID, body.LeaderAPIAddress = n.Leader()
		}
		return http.StatusServiceUnavailable, body
	case errors.Is(err, fsa.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, body
	case errors.Is(err, errBadRequest), errors.Is(err, fsa.ErrInvalidArgument):
		return http.StatusBadRequest, body
	case errors.Is(err, fsa.ErrFailedPrecondition):
		return http.StatusPreconditionFailed, body
	case errors.Is(err, fsa.ErrConflict), errors.Is(err, fsa.ErrFenced), errors.Is(err, fsa.ErrAlreadyExists),
		errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrFenced):
		return http.StatusConflict, body
	case errors.Is(err, store.ErrClosed), errors.Is(err, raftstore.ErrNoLeader):
		return http.StatusServiceUnavailable, body
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout, body
	}
	return http.StatusInternalServerError, body
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
