//go:build !fsadtest

package daemon

import (
	"net/http"

	"github.com/hashicorp/raft"
)

// The production build: no test endpoint, no fault switch. testbuild.go has the test build's
// versions of these (go build -tags fsadtest).

// testBuild reports whether this binary is the test build.
const testBuild = false

func (d *daemon) testRoutes(*http.ServeMux) {}

func (d *daemon) raftStreamLayer(sl raft.StreamLayer) raft.StreamLayer { return sl }
