package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
	"github.com/fullstackagent/fsa/reconcile"
)

// TestIdleStopAndRestartKeepsData runs the reconcile loops and the lifecycle loop against the
// local control plane with an idle limit of two seconds: the project is stopped with the reason
// IdleTimeout, its home volume claim and its database's Cluster stay (same objects), and a start
// brings it back RUNNING on them.
func TestIdleStopAndRestartKeepsData(t *testing.T) {
	f := newFixture(t, "idle")
	fence := f.acquire(1)
	f.runner(fence)
	l, err := reconcile.NewLifecycle(reconcile.LifecycleConfig{Client: f.c, Fence: fence})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	ns := f.kuser.Namespace
	p := f.create("idler")
	p = f.waitProject(p.ID, "both RUNNING", both(fsa.StatusRunning))
	claim := f.homeClaim(p.Sandbox.Name)
	var pvcUID, dbUID string
	f.waitK8s("home volume claim and database exist", func() (bool, error) {
		pvc, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not yet
		}
		db, err := f.cluster.Dynamic().Resource(k8stest.ClusterGVR).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not yet
		}
		pvcUID, dbUID = string(pvc.UID), string(db.GetUID())
		return true, nil
	})

	// A two-second idle limit, counted from now.
	_, err = f.c.SetProjectLifecycle(f.ctx, f.user.ID, p.ID, fsa.LifecyclePolicy{IdleTimeout: ptrDur(2 * time.Second)})
	require.NoError(t, err)
	p = f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	reasons := map[string]int{}
	for _, c := range p.Sandbox.Conditions {
		reasons[c.Reason]++
	}
	assert.Equal(t, 1, reasons[fsa.ReasonIdleTimeout], "stopped once, for the idle limit: %v", p.Sandbox.Conditions)
	_, ok := p.NextDue()
	assert.False(t, ok, "nothing due while stopped")

	// The data stays: the same claim and the same database Cluster.
	pvc, err := f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
	require.NoError(t, err, "the home volume claim is kept")
	assert.Equal(t, pvcUID, string(pvc.UID))
	db, err := f.cluster.Dynamic().Resource(k8stest.ClusterGVR).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err, "the database Cluster is kept")
	assert.Equal(t, dbUID, string(db.GetUID()))

	// Start brings it back on the same data. (Without the two-second limit, which a slow
	// start could outlast.)
	_, err = f.c.SetProjectLifecycle(f.ctx, f.user.ID, p.ID, fsa.LifecyclePolicy{IdleTimeout: ptrDur(0)})
	require.NoError(t, err)
	_, err = f.c.StartProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	p = f.waitProject(p.ID, "both RUNNING again", both(fsa.StatusRunning))
	pvc, err = f.cluster.Clientset().CoreV1().PersistentVolumeClaims(ns).Get(f.ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pvcUID, string(pvc.UID), "the same home volume claim")
	db, err = f.cluster.Dynamic().Resource(k8stest.ClusterGVR).Namespace(ns).Get(f.ctx, p.Database.ClusterName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, dbUID, string(db.GetUID()), "the same database Cluster")
}

func ptrDur(d time.Duration) *time.Duration { return &d }
