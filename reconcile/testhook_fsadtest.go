//go:build fsadtest

package reconcile

import (
	"context"

	"github.com/fullstackagent/fsa/fsa"
)

// SetTestHookAfterFenceCheck installs h to run in every runner of the process between its
// fencing check and each Kubernetes write, which then runs with the context h returns (nil
// removes it). It exists in the test build of fsad
// only (build tag fsadtest), which uses it to pause a leader exactly there.
func SetTestHookAfterFenceCheck(h func(ctx context.Context, fence uint64, kind fsa.ResourceKind, op string) context.Context) {
	if h == nil {
		testHookAfterFenceCheck.Store(nil)
		return
	}
	testHookAfterFenceCheck.Store(&h)
}
