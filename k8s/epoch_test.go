package k8s_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/fullstackagent/fsa/k8s"
)

// The epoch annotation records the epoch of the last write that changed an object. A new
// leader's epoch alone is no reason to write (a leadership change must not rewrite every
// object), but any other difference is, and that write carries the new epoch.

// epochSandbox is a valid sandbox spec written by the leader of epoch.
func epochSandbox(epoch uint64) k8s.SandboxSpec {
	return k8s.SandboxSpec{
		Name: "sb", Namespace: "ns", Project: "proj", Epoch: epoch, Image: k8s.RuntimeImage,
		Domain: "fsa.test", AppHostLabel: "app1", TerminalHostLabel: "term1",
		Env: map[string]string{"PROJECT_NAME": "proj"},
	}
}

// fsaOwns is a managedFields entry of fsa's apply owning the epoch annotation and a label: all
// the no-op rule needs to see that fsa applied the object and owns nothing it stopped stating.
func fsaOwns() []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{
		Manager: k8s.FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{"f:` + k8s.AnnotationEpoch + `":{}},"f:labels":{"f:app":{}}}}`),
	}}
}

// applied returns the sandbox's objects as the API server holds them after fsa's apply.
func applied(spec k8s.SandboxSpec) k8s.SandboxLive {
	spec.StatefulSetUID = "uid-sb"
	o := k8s.BuildSandbox(spec)
	o.StatefulSet.UID = spec.StatefulSetUID
	for _, m := range []metav1.Object{o.Secret, o.StatefulSet, o.Service, o.AppIngress, o.TerminalIngress} {
		m.SetManagedFields(fsaOwns())
		m.SetResourceVersion("5")
	}
	return k8s.SandboxLive(o)
}

func appliedDatabase(spec k8s.DatabaseSpec) *unstructured.Unstructured {
	u := k8s.BuildDatabase(spec)
	u.SetManagedFields(fsaOwns())
	u.SetResourceVersion("5")
	return u
}

func TestUpToDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		live   func(k8s.SandboxLive) // changes the StatefulSet written at epoch 3
		change func(*k8s.SandboxSpec)
		want   bool
	}{
		{name: "identical but for an older epoch", want: true},
		{name: "identical but for a newer epoch", want: true,
			live: func(l k8s.SandboxLive) { l.StatefulSet.Annotations[k8s.AnnotationEpoch] = "9" }},
		{name: "epoch annotation removed out of band",
			live: func(l k8s.SandboxLive) { delete(l.StatefulSet.Annotations, k8s.AnnotationEpoch) }},
		{name: "epoch annotation not a number",
			live: func(l k8s.SandboxLive) { l.StatefulSet.Annotations[k8s.AnnotationEpoch] = "x" }},
		{name: "older epoch and a label changed out of band",
			live: func(l k8s.SandboxLive) { l.StatefulSet.Labels[k8s.LabelApp] = "other" }},
		{name: "older epoch and replicas changed out of band",
			live: func(l k8s.SandboxLive) { l.StatefulSet.Spec.Replicas = new(int32) }},
		{name: "older epoch and a changed environment",
			change: func(s *k8s.SandboxSpec) { s.Env["NEW"] = "1" }},
		{name: "older epoch and stopped", change: func(s *k8s.SandboxSpec) { s.Stopped = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := applied(epochSandbox(3))
			if tc.live != nil {
				tc.live(live)
			}
			spec := epochSandbox(4)
			if tc.change != nil {
				tc.change(&spec)
			}
			want := k8s.BuildSandbox(spec)
			assert.Equal(t, tc.want, k8s.UpToDate(want.StatefulSet, live.StatefulSet), "statefulset: %s", k8s.Differs(want.StatefulSet, live.StatefulSet))
			// The other objects differ in their epoch only.
			assert.True(t, k8s.UpToDate(want.Service, live.Service), k8s.Differs(want.Service, live.Service))
			assert.True(t, k8s.UpToDate(want.AppIngress, live.AppIngress), k8s.Differs(want.AppIngress, live.AppIngress))
			assert.True(t, k8s.UpToDate(want.TerminalIngress, live.TerminalIngress), k8s.Differs(want.TerminalIngress, live.TerminalIngress))
		})
	}

	t.Run("database", func(t *testing.T) {
		spec := k8s.DatabaseSpec{Name: "db", Namespace: "ns", Project: "proj", Epoch: 3}
		live := appliedDatabase(spec)
		spec.Epoch = 4
		assert.True(t, k8s.UpToDate(k8s.BuildDatabase(spec), live), k8s.Differs(k8s.BuildDatabase(spec), live))
		spec.Stopped = true
		assert.Equal(t, "spec.componentSpecs[0].replicas: value", k8s.Differs(k8s.BuildDatabase(spec), live))
	})
}

// fakeAPI is an API server holding objects by URL path: it answers GETs from them and records
// (and applies, by replacing the object) every other request.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	objects map[string][]byte
	gets    []string
	writes  []apiWrite
}

type apiWrite struct {
	method, path string
	body         map[string]any
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, objects: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		f.gets = append(f.gets, r.URL.Path)
		obj, ok := f.objects[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		_, _ = w.Write(obj)
		return
	}
	body, err := io.ReadAll(r.Body)
	if !assert.NoError(f.t, err) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var m map[string]any
	if !assert.NoError(f.t, json.Unmarshal(body, &m), "request body of %s %s", r.Method, r.URL.Path) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.writes = append(f.writes, apiWrite{r.Method, r.URL.Path, m})
	f.objects[r.URL.Path] = body
	_, _ = w.Write(body)
}

// put stores obj at path as the API server would return it.
func (f *fakeAPI) put(path string, obj runtime.Object) {
	f.t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(f.t, err)
	b, err := json.Marshal(m)
	require.NoError(f.t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[path] = b
}

// putSandbox stores the sandbox's objects.
func (f *fakeAPI) putSandbox(l k8s.SandboxLive) {
	f.put("/api/v1/namespaces/ns/secrets/sb-env", l.Secret)
	f.put("/apis/apps/v1/namespaces/ns/statefulsets/sb", l.StatefulSet)
	f.put("/api/v1/namespaces/ns/services/sb", l.Service)
	f.put("/apis/networking.k8s.io/v1/namespaces/ns/ingresses/sb-app", l.AppIngress)
	f.put("/apis/networking.k8s.io/v1/namespaces/ns/ingresses/sb-terminal", l.TerminalIngress)
}

// takeWrites returns the writes recorded since the last call.
func (f *fakeAPI) takeWrites() []apiWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.writes
	f.writes = nil
	return w
}

func (f *fakeAPI) client() *k8s.Client {
	c, err := k8s.NewClient(&rest.Config{Host: f.srv.URL}, "ns")
	require.NoError(f.t, err)
	return c
}

func epochOf(t *testing.T, w apiWrite) string {
	t.Helper()
	u := unstructured.Unstructured{Object: w.body}
	return u.GetAnnotations()[k8s.AnnotationEpoch]
}

func epochCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPlanAfterLeadershipChange(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client()
	ctx := epochCtx(t)
	var m k8s.SandboxManager

	// Written by the leader of epoch 3; the leader of epoch 4 finds nothing to do.
	live := applied(epochSandbox(3))
	p, err := m.Plan(c, epochSandbox(4), live, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.True(t, p.Empty(), "an older epoch alone is no reason to write: %s", p.String())
	require.NoError(t, m.ApplyPlan(ctx, c, p))
	assert.Empty(t, api.takeWrites())

	// The same for the database.
	var d k8s.DatabaseManager
	dspec := k8s.DatabaseSpec{Name: "db", Project: "proj", Epoch: 3}
	dlive := appliedDatabase(k8s.DatabaseSpec{Name: "db", Namespace: "ns", Project: "proj", Epoch: 3})
	dspec.Epoch = 4
	dp, err := d.Plan(c, dspec, dlive)
	require.NoError(t, err)
	assert.True(t, dp.Empty(), dp.String())

	// A label changed out of band on the Service: that object, and only it, is written, with the
	// new epoch.
	live.Service.Labels[k8s.LabelApp] = "other"
	p, err = m.Plan(c, epochSandbox(4), live, k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "service (metadata.labels.app: value)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, c, p))
	writes := api.takeWrites()
	require.Len(t, writes, 1)
	assert.Equal(t, "/api/v1/namespaces/ns/services/sb", writes[0].path)
	assert.Equal(t, "4", epochOf(t, writes[0]), "a write carries the writer's epoch")

	// A changed desired state (stopped) writes the StatefulSet, with the new epoch.
	stopped := epochSandbox(4)
	stopped.Stopped = true
	p, err = m.Plan(c, stopped, applied(epochSandbox(3)), k8s.PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, "statefulset (spec.replicas: value)", p.String())
	require.NoError(t, m.ApplyPlan(ctx, c, p))
	writes = api.takeWrites()
	require.Len(t, writes, 1)
	assert.Equal(t, "4", epochOf(t, writes[0]))
}

// Apply reads each object before writing it (the path taken while informer caches are not
// synced, as right after a leadership change): the same rule holds.
func TestApplyAfterLeadershipChange(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client()
	ctx := epochCtx(t)
	var m k8s.SandboxManager

	api.putSandbox(applied(epochSandbox(3)))
	require.NoError(t, m.Apply(ctx, c, epochSandbox(4)))
	assert.Empty(t, api.takeWrites(), "an older epoch alone is no reason to write")
	require.NoError(t, m.Stop(ctx, c, epochSandbox(4)))
	writes := api.takeWrites()
	require.Len(t, writes, 1, "stopping changes the StatefulSet")
	assert.Equal(t, http.MethodPatch, writes[0].method)
	assert.True(t, strings.HasSuffix(writes[0].path, "/statefulsets/sb"), writes[0].path)
	assert.Equal(t, "4", epochOf(t, writes[0]))

	// Drift on an Ingress: repaired, with the new epoch; the rest is left alone.
	live := applied(epochSandbox(3))
	live.TerminalIngress.Spec.Rules[0].Host = "elsewhere.example"
	api.putSandbox(live)
	require.NoError(t, m.Apply(ctx, c, epochSandbox(4)))
	writes = api.takeWrites()
	require.Len(t, writes, 1)
	assert.Equal(t, "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/sb-terminal", writes[0].path)
	assert.Equal(t, "4", epochOf(t, writes[0]))

	var d k8s.DatabaseManager
	api.put("/apis/apps.kubeblocks.io/v1alpha1/namespaces/ns/clusters/db",
		appliedDatabase(k8s.DatabaseSpec{Name: "db", Namespace: "ns", Project: "proj", Epoch: 3}))
	require.NoError(t, d.Apply(ctx, c, k8s.DatabaseSpec{Name: "db", Project: "proj", Epoch: 4}))
	assert.Empty(t, api.takeWrites(), "an older epoch alone is no reason to write")
	require.NoError(t, d.Stop(ctx, c, k8s.DatabaseSpec{Name: "db", Project: "proj", Epoch: 4}))
	writes = api.takeWrites()
	require.Len(t, writes, 1)
	assert.Equal(t, "4", epochOf(t, writes[0]))
}
