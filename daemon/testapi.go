package daemon

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store"
)

// This file is the TEST-ONLY HTTP surface (--enable-test-endpoints, admin token required): SDK
// writes and reads over plain JSON for the multi-process tests and the failover benchmark,
// which must not depend on the RPC API, plus the fault switch (--fault-control). Writes on a
// follower answer 503 with the leader's API address, like the admin endpoints.

// TestUserRequest is the body of POST /test/v1/users.
type TestUserRequest struct {
	Name string `json:"name"`
	// Kubeconfig, if set, is stored as the user's kubeconfig (a secret).
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// TestUser is the answer of the user endpoints.
type TestUser struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TestProjectRequest is the body of POST /test/v1/projects and its start/stop actions.
type TestProjectRequest struct {
	UserID    string `json:"user_id"`
	ProjectID string `json:"project_id,omitempty"`
	Name      string `json:"name,omitempty"`
}

// TestProject is a project as the test endpoints show it.
type TestProject struct {
	ID             string `json:"id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	SandboxName    string `json:"sandbox_name,omitempty"`
	SandboxStatus  string `json:"sandbox_status,omitempty"`
	DatabaseName   string `json:"database_name,omitempty"`
	DatabaseStatus string `json:"database_status,omitempty"`
}

// TestState is a node's local store state (GET /test/v1/local/state).
type TestState struct {
	Revision int64  `json:"revision"`
	Epoch    uint64 `json:"epoch"`
}

// TestFaults is the body of POST /test/v1/faults.
type TestFaults struct {
	// Isolated cuts the node's Raft traffic in both directions.
	Isolated bool `json:"isolated"`
}

func (d *daemon) testRoutes(mux *http.ServeMux) {
	local := fsa.New(staleStore{d})
	mux.Handle("POST /test/v1/users", d.admin(func(r *http.Request) (any, error) {
		var req TestUserRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		u, err := d.client.CreateUser(r.Context(), fsa.UserSpec{Name: req.Name})
		if err != nil {
			return nil, err
		}
		if req.Kubeconfig != "" {
			if _, err := d.client.SetUserConfig(r.Context(), u.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig,
				Value: req.Kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true}); err != nil {
				return nil, err
			}
		}
		return TestUser{ID: u.ID, Name: u.Name}, nil
	}))
	mux.Handle("GET /test/v1/local/users/{id}", d.admin(func(r *http.Request) (any, error) {
		u, err := local.GetUser(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return TestUser{ID: u.ID, Name: u.Name}, nil
	}))
	mux.Handle("GET /test/v1/local/state", d.admin(func(r *http.Request) (any, error) {
		var st TestState
		err := staleStore{d}.View(r.Context(), func(s store.Snapshot) error {
			st = TestState{Revision: s.Revision(), Epoch: s.Epoch()}
			return nil
		})
		return st, err
	}))
	mux.Handle("POST /test/v1/projects", d.admin(func(r *http.Request) (any, error) {
		var req TestProjectRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		p, err := d.client.CreateProject(r.Context(), req.UserID, fsa.ProjectSpec{Name: req.Name})
		return testProject(p), err
	}))
	action := func(do func(ctx context.Context, userID, projectID string) (*fsa.Project, error)) http.Handler {
		return d.admin(func(r *http.Request) (any, error) {
			var req TestProjectRequest
			if err := decodeJSON(r, &req); err != nil {
				return nil, err
			}
			p, err := do(r.Context(), req.UserID, req.ProjectID)
			return testProject(p), err
		})
	}
	mux.Handle("POST /test/v1/projects/start", action(d.client.StartProject))
	mux.Handle("POST /test/v1/projects/stop", action(d.client.StopProject))
	mux.Handle("POST /test/v1/projects/delete", action(d.client.DeleteProject))
	mux.Handle("GET /test/v1/projects/{id}", d.admin(func(r *http.Request) (any, error) {
		p, err := d.client.ProjectByID(r.Context(), r.PathValue("id"))
		return testProject(p), err
	}))
	if d.cfg.FaultControl && d.sl != nil {
		mux.Handle("POST /test/v1/faults", d.admin(func(r *http.Request) (any, error) {
			var req TestFaults
			if err := decodeJSON(r, &req); err != nil {
				return nil, err
			}
			d.sl.SetIsolated(req.Isolated)
			d.log.Warn("TEST fault injection", "raft_isolated", req.Isolated)
			return req, nil
		}))
	}
}

func testProject(p *fsa.Project) *TestProject {
	if p == nil {
		return nil
	}
	out := &TestProject{ID: p.ID, UserID: p.UserID, Status: string(p.Status)}
	if p.Sandbox != nil {
		out.SandboxName, out.SandboxStatus = p.Sandbox.Name, string(p.Sandbox.Status)
	}
	if p.Database != nil {
		out.DatabaseName, out.DatabaseStatus = p.Database.ClusterName, string(p.Database.Status)
	}
	return out
}

// staleStore reads this node's local state on any node (raftstore.ViewStale); writes are
// refused. It lets tests check what a follower holds.
type staleStore struct{ d *daemon }

func (s staleStore) View(ctx context.Context, fn func(store.Snapshot) error) error {
	if s.d.rs != nil {
		return s.d.rs.ViewStale(ctx, fn)
	}
	return s.d.st.View(ctx, fn)
}

func (s staleStore) Commit(context.Context, store.Txn) (int64, error) {
	return 0, fmt.Errorf("%w: local reads only", errBadRequest)
}

func (s staleStore) Watch(ctx context.Context, after int64) (*store.Cursor, error) {
	return s.d.st.Watch(ctx, after)
}

func (s staleStore) Close() error { return nil }
