package reconcile

import (
	"context"

	"github.com/fullstackagent/fsa/fsa"
)

// SetWriteHooks sets the runners' write hooks (see testHookAfterFenceCheck); call it before
// starting runners, and the returned restore after they stopped.
func SetWriteHooks(afterCheck func(ctx context.Context, fence uint64, kind fsa.ResourceKind, op string),
	afterWrite func(fence uint64, kind fsa.ResourceKind, op string, err error)) (restore func()) {
	testHookAfterFenceCheck, testHookAfterWrite = afterCheck, afterWrite
	return func() { testHookAfterFenceCheck, testHookAfterWrite = nil, nil }
}
