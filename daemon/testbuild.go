//go:build fsadtest

package daemon

import (
	"net/http"

	"github.com/hashicorp/raft"

	"github.com/fullstackagent/fsa/internal/devenv/testapi"
)

// The test build of fsad (go build -tags fsadtest, as internal/devenv/fsadtest builds it):
// with an admin token it serves the test-only endpoints of internal/devenv/testapi under
// /test/v1/, and its Raft traffic runs through a switch that can cut the node off. The
// production build (prodbuild.go) has neither.

// testBuild reports whether this binary is the test build.
const testBuild = true

func (d *daemon) testRoutes(mux *http.ServeMux) {
	if d.cfg.AdminToken == "" {
		return
	}
	d.log.Warn("TEST BUILD: test-only endpoints under /test/v1/; never run this binary in production")
	n := testapi.Node{Client: d.client, Watch: d.st.Watch, Token: d.cfg.AdminToken, View: d.st.View}
	if iso, ok := d.stream.(*testapi.Isolator); ok {
		n.Isolate = iso.SetIsolated
	}
	if d.rs != nil {
		n.View = d.rs.ViewStale
	}
	if d.cluster != nil {
		n.Leader = d.cluster.Leader
	}
	n.PauseBeforeWrite = d.pauseBeforeWrite()
	testapi.Mount(mux, n)
}

func (d *daemon) raftStreamLayer(sl raft.StreamLayer) raft.StreamLayer {
	return testapi.NewIsolator(sl)
}
