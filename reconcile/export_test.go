package reconcile

import (
	"context"

	"github.com/fullstackagent/fsa/fsa"
)

// SetWriteHooks sets the runners' write hooks (see testHookAfterFenceCheck); nil clears one.
// The returned restore clears both.
func SetWriteHooks(afterCheck func(ctx context.Context, fence uint64, kind fsa.ResourceKind, op string) context.Context,
	afterWrite func(fence uint64, kind fsa.ResourceKind, op string, err error)) (restore func()) {
	testHookAfterFenceCheck.Store(&afterCheck)
	testHookAfterWrite.Store(&afterWrite)
	if afterCheck == nil {
		testHookAfterFenceCheck.Store(nil)
	}
	if afterWrite == nil {
		testHookAfterWrite.Store(nil)
	}
	return func() {
		testHookAfterFenceCheck.Store(nil)
		testHookAfterWrite.Store(nil)
	}
}
