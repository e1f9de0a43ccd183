package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/fullstackagent/fsa/daemon"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

func TestMain(m *testing.M) { k8stest.Main(m) }

const manifestDir = "kubernetes"

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

// loadManifests reads kustomization.yaml and every resource it lists, split into objects, with
// the kustomization's namespace set on each (as kustomize does).
func loadManifests(t *testing.T) (kustomization, []*unstructured.Unstructured) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(data, &k, yaml.DisallowUnknownFields), "kustomization.yaml")
	require.NotEmpty(t, k.Resources)
	var objs []*unstructured.Unstructured
	for _, f := range k.Resources {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		require.NoError(t, err)
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			j, err := yaml.YAMLToJSON([]byte(doc))
			require.NoError(t, err, "%s document %d", f, i)
			if s := strings.TrimSpace(string(j)); s == "null" || s == "{}" {
				continue
			}
			o := &unstructured.Unstructured{}
			require.NoError(t, o.UnmarshalJSON(j), "%s document %d", f, i)
			objs = append(objs, o)
		}
	}
	return k, objs
}

// TestKustomizationListsEveryManifest: no manifest is left out of the kustomization.
func TestKustomizationListsEveryManifest(t *testing.T) {
	k, objs := loadManifests(t)
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			assert.Contains(t, k.Resources, b)
		}
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetKind()] = true
	}
	for _, want := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"} {
		assert.True(t, kinds[want], "a %s", want)
	}
	for _, o := range objs {
		assert.NotEqual(t, "Secret", o.GetKind(), "no Secret is committed")
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// fsadEnvNames returns FSA_<FLAG> for every fsad flag, from `fsad -h`.
func fsadEnvNames(t *testing.T) map[string]bool {
	var usage bytes.Buffer
	_, _ = daemon.ParseConfig([]string{"-h"}, func(string) string { return "" }, &usage)
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(usage.String(), -1) {
		out[daemon.EnvName(m[1])] = true
	}
	require.True(t, out["FSA_DATA_DIR"], "parsed fsad's usage")
	return out
}

// TestManifestsAreConsistent checks what the API server cannot: names that must match, and
// that every FSA_* variable is an fsad flag.
func TestManifestsAreConsistent(t *testing.T) {
	_, objs := loadManifests(t)
	sts := find(objs, "StatefulSet", "fsad")
	require.NotNil(t, sts)
	peers := find(objs, "Service", "fsad-peers")
	require.NotNil(t, peers)
	svcName, _, _ := unstructured.NestedString(sts.Object, "spec", "serviceName")
	assert.Equal(t, "fsad-peers", svcName)
	clusterIP, _, _ := unstructured.NestedString(peers.Object, "spec", "clusterIP")
	assert.Equal(t, "None", clusterIP, "the peer Service is headless")
	replicas, _, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	assert.EqualValues(t, 3, replicas)

	podLabels, _, _ := unstructured.NestedStringMap(sts.Object, "spec", "template", "metadata", "labels")
	for _, o := range objs {
		var sel map[string]string
		switch o.GetKind() {
		case "Service":
			sel, _, _ = unstructured.NestedStringMap(o.Object, "spec", "selector")
		case "StatefulSet", "PodDisruptionBudget":
			sel, _, _ = unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
		default:
			continue
		}
		require.NotEmpty(t, sel, "%s %s selector", o.GetKind(), o.GetName())
		for k, v := range sel {
			assert.Equal(t, v, podLabels[k], "%s %s selects the fsad pods", o.GetKind(), o.GetName())
		}
	}

	flags := fsadEnvNames(t)
	containers, _, _ := unstructured.NestedSlice(sts.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	env, _, _ := unstructured.NestedSlice(containers[0].(map[string]any), "env")
	var names []string
	for _, e := range env {
		name := e.(map[string]any)["name"].(string)
		names = append(names, name)
		if strings.HasPrefix(name, "FSA_") && name != daemon.EnvKEK { // the keyring is never a flag
			assert.True(t, flags[name], "%s is an fsad flag", name)
		}
		if name == "FSA_SIGNING_KEY" || name == "FSA_ADMIN_TOKEN" || name == daemon.EnvKEK {
			_, hasValue := e.(map[string]any)["value"]
			assert.False(t, hasValue, "%s comes from a Secret, not a literal", name)
		}
	}
	for _, want := range []string{"POD_NAME", "FSA_NODE_ID", "FSA_RAFT_ADDR", "FSA_RAFT_ADVERTISE", "FSA_JOIN", "FSA_SIGNING_KEY", "FSA_ADMIN_TOKEN", daemon.EnvKEK} {
		assert.Contains(t, names, want)
	}
	cm := find(objs, "ConfigMap", "fsad-config")
	require.NotNil(t, cm)
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	for k := range data {
		assert.True(t, flags[k], "ConfigMap key %s is an fsad flag", k)
	}
}

// applier applies objects with server-side apply, dry run and strict field validation.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	ns     string
}

func (a *applier) apply(ctx context.Context, o *unstructured.Unstructured, dryRun bool) error {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", gvk, err)
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "fsa-deploy-test", Force: ptr(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var r dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		r = a.dyn.Resource(m.Resource).Namespace(a.ns)
	}
	if _, err := r.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// TestManifestsValidate applies every manifest to the local control plane with server-side
// apply and DryRun=All: the API server runs defaulting, validation, strict field checks and
// admission, and stores nothing. The namespace is made unique for the test (and created for
// real, since namespaced dry runs need it), as kustomize's namespace field would.
func TestManifestsValidate(t *testing.T) {
	c := k8stest.Env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
	require.NoError(t, err)
	a := &applier{dyn: c.Dynamic(), mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), ns: testNamespace(t)}

	k, objs := loadManifests(t)
	require.Equal(t, "fsa-system", k.Namespace)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			o.SetName(a.ns)
			require.NoError(t, a.apply(ctx, o, false))
			t.Cleanup(func() {
				_ = c.Clientset().CoreV1().Namespaces().Delete(context.Background(), a.ns, metav1.DeleteOptions{})
			})
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			assert.NoError(t, a.apply(ctx, o, true))
		}
	}
	// Dry run stored nothing.
	_, err = c.Clientset().AppsV1().StatefulSets(a.ns).Get(ctx, "fsad", metav1.GetOptions{})
	assert.Error(t, err, "a dry run must not create the StatefulSet")

	// The same check refuses broken copies: the test can fail.
	broken := []struct {
		name, kind, objName string
		edit                func(o *unstructured.Unstructured)
		want                string
	}{
		{"unknown field", "StatefulSet", "fsad", func(o *unstructured.Unstructured) {
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(1), "spec", "replicaz"))
		}, "replicaz"},
		{"selector does not match the template", "StatefulSet", "fsad", func(o *unstructured.Unstructured) {
			require.NoError(t, unstructured.SetNestedStringMap(o.Object, map[string]string{"app": "other"}, "spec", "selector", "matchLabels"))
		}, "selector"},
		{"PDB with both bounds", "PodDisruptionBudget", "fsad", func(o *unstructured.Unstructured) {
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(2), "spec", "minAvailable"))
		}, "minAvailable"},
		{"headless Service without ports' names", "Service", "fsad-peers", func(o *unstructured.Unstructured) {
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			for _, p := range ports {
				delete(p.(map[string]any), "name")
			}
			require.NoError(t, unstructured.SetNestedSlice(o.Object, ports, "spec", "ports"))
		}, "name"},
	}
	for _, b := range broken {
		t.Run("broken/"+b.name, func(t *testing.T) {
			o := find(objs, b.kind, b.objName)
			require.NotNil(t, o)
			o = o.DeepCopy()
			b.edit(o)
			err := a.apply(ctx, o, true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), b.want)
		})
	}
}

func testNamespace(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "fsa-deploy-test-" + hex.EncodeToString(b)
}
