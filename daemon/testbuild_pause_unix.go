//go:build fsadtest && unix

package daemon

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/reconcile"
)

// pauseBeforeWrite installs the reconcile hook that stops this process between a runner's
// fencing check and its next sandbox write once armed, and returns the function that arms it
// (POST /test/v1/faults/pause-before-write). The process stops itself with SIGSTOP, as an
// operator's kill -STOP or a stalled VM would stop it: every thread, Raft included, so another
// node takes over; after SIGCONT the write goes out as planned, with this node's epoch (even if
// the node has meanwhile noticed it is no longer leader, see below).
func (d *daemon) pauseBeforeWrite() func() {
	var armed atomic.Bool
	reconcile.SetTestHookAfterFenceCheck(func(ctx context.Context, fence uint64, kind fsa.ResourceKind, op string) context.Context {
		if kind != fsa.ResourceSandbox || !armed.CompareAndSwap(true, false) {
			return ctx
		}
		d.log.Warn("TEST BUILD: stopping this process between the fencing check and a write", "fence", fence, "op", op)
		// The stop takes effect on whichever thread the kernel picks, not necessarily before
		// this goroutine's next instruction: wait for the SIGCONT that ends it.
		cont := make(chan os.Signal, 1)
		signal.Notify(cont, syscall.SIGCONT)
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		<-cont
		signal.Stop(cont)
		d.log.Warn("TEST BUILD: resumed; writing", "fence", fence, "op", op)
		// On resuming, the node learns at once that it lost leadership and cancels its runner,
		// which usually aborts this write before it leaves. A write already on the wire when the
		// pause struck would not be aborted: play that worst case, the one fencing must survive.
		return context.WithoutCancel(ctx)
	})
	return func() { armed.Store(true) }
}
