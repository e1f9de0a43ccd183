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

// SyncOnce runs one sync of the child of kind of project, as a worker does (Run must be running:
// it owns the informers).
func (r *Runner) SyncOnce(ctx context.Context, user, project string, kind fsa.ResourceKind) error {
	return r.sync(ctx, user, item{kind: kind, project: project})
}

// ForgetUpToDate forgets every child remembered as up to date, so that the next sync of each
// does the whole work.
func (r *Runner) ForgetUpToDate() { r.memo.listed() }

// SetBaseline makes runners started from now on work as before issue 17 (caches of whole
// objects, nothing remembered as up to date, every resync a listing of the store), for
// benchmarks side by side; restore undoes it.
func SetBaseline(on bool) (restore func()) {
	old := baseline.Swap(on)
	return func() { baseline.Store(old) }
}

// SetListedProjects sets whether runners started from now on start each child's first sync from
// the project as listed (the default) or read it again; restore undoes it.
func SetListedProjects(on bool) (restore func()) {
	old := noListedProjects.Swap(!on)
	return func() { noListedProjects.Store(old) }
}

// Known returns how many children the runner knows of (what a resync from memory queues).
func (r *Runner) Known() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.known)
}

// ListFirst lists the store as a starting runner does, and returns the listing's revision.
func (r *Runner) ListFirst(ctx context.Context) (int64, error) { return r.enqueueAllAt(ctx) }

// OnStoreChange handles ch as the runner's change feed does.
func (r *Runner) OnStoreChange(ctx context.Context, ch fsa.ResourceChange) { r.onStoreChange(ctx, ch) }

// ListedProject returns the project a first sync of the child would start from instead of
// reading the store, nil if none, and forgets it as a sync that used it does.
func (r *Runner) ListedProject(kind fsa.ResourceKind, project string) *fsa.Project {
	it := item{kind: kind, project: project}
	p := r.listedProject(it)
	r.dropListed(it)
	return p
}
