package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/fsa"
)

// TestPublicAppSwitch: a new project's app is private (no app Ingress, no AppURL); switching it
// public creates the Ingress and records the URL, switching it back deletes the Ingress, also
// while the sandbox is stopped. The terminal's Ingress is there throughout.
func TestPublicAppSwitch(t *testing.T) {
	f := newFixture(t, "pubapp")
	f.runner(f.acquire(1))
	p, err := f.c.CreateProject(f.ctx, f.user.ID, fsa.ProjectSpec{Name: "quiet"})
	require.NoError(t, err)
	require.True(t, p.Sandbox.PrivateApp)
	p = f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	ings := f.cluster.Clientset().NetworkingV1().Ingresses(f.kuser.Namespace)
	app, terminal := p.Sandbox.Name+"-app", p.Sandbox.Name+"-terminal"
	exists := func(name string) (bool, error) {
		_, err := ings.Get(f.ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	has := func(name string) bool {
		ok, err := exists(name)
		require.NoError(t, err)
		return ok
	}
	assert.False(t, has(app), "a private app has no Ingress")
	assert.True(t, has(terminal))
	assert.Empty(t, p.Sandbox.AppURL)

	_, err = f.c.SetPublicApp(f.ctx, f.user.ID, p.ID, true)
	require.NoError(t, err)
	f.waitK8s("app Ingress created", func() (bool, error) { return exists(app) })
	p = f.waitProject(p.ID, "app URL recorded", func(p *fsa.Project) bool { return p.Sandbox.AppURL != "" })
	assert.Equal(t, "https://"+p.Sandbox.AppHostLabel+".sandbox.fsa.test", p.Sandbox.AppURL)
	assert.Equal(t, fsa.StatusRunning, p.Sandbox.Status)

	_, err = f.c.SetPublicApp(f.ctx, f.user.ID, p.ID, false)
	require.NoError(t, err)
	f.waitK8s("app Ingress deleted", func() (bool, error) { ok, err := exists(app); return !ok, err })
	p = f.waitProject(p.ID, "sandbox RUNNING", func(p *fsa.Project) bool { return p.Sandbox.Status == fsa.StatusRunning })
	assert.Empty(t, p.Sandbox.AppURL)
	assert.True(t, has(terminal))

	// Stopped: withdrawing does not wait for a start; publishing does.
	_, err = f.c.SetPublicApp(f.ctx, f.user.ID, p.ID, true)
	require.NoError(t, err)
	f.waitK8s("app Ingress created again", func() (bool, error) { return exists(app) })
	_, err = f.c.StopProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitProject(p.ID, "both STOPPED", both(fsa.StatusStopped))
	_, err = f.c.SetPublicApp(f.ctx, f.user.ID, p.ID, false)
	require.NoError(t, err)
	f.waitK8s("app Ingress of a stopped sandbox deleted", func() (bool, error) { ok, err := exists(app); return !ok, err })
	_, err = f.c.SetPublicApp(f.ctx, f.user.ID, p.ID, true)
	require.NoError(t, err)
	_, err = f.c.StartProject(f.ctx, f.user.ID, p.ID)
	require.NoError(t, err)
	f.waitK8s("app Ingress published at start", func() (bool, error) { return exists(app) })
	f.waitProject(p.ID, "RUNNING with its app URL", func(p *fsa.Project) bool {
		return p.Sandbox.Status == fsa.StatusRunning && p.Sandbox.AppURL != ""
	})
}
