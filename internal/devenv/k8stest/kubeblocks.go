package k8stest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/fullstackagent/fsa/internal/devenv/repo"
)

// KubeBlocks names the KubeBlocks release whose clusters.apps.kubeblocks.io CRD a control plane
// serves: its real schema, as KubeBlocks publishes it (../shared/kubeblocks, see its README), so
// the API server validates and prunes every Cluster a test writes as a real cluster would.
type KubeBlocks string

// KubeBlocks releases the test world can serve.
const (
	// KubeBlocks09 is KubeBlocks v0.9.5: apps.kubeblocks.io/v1alpha1 only. The default.
	KubeBlocks09 KubeBlocks = "0.9"
	// KubeBlocks10 is KubeBlocks v1.0.2: apps.kubeblocks.io/v1 (storage) and v1alpha1, installed
	// exactly as published. Real KubeBlocks converts between the two with its conversion webhook;
	// the test world runs none, so the API server converts by rewriting apiVersion alone (the CRD's
	// default strategy, None) and a v1alpha1 Cluster written there is not what KubeBlocks would
	// store. That is why one API server cannot play both generations: tests of the 1.x API get a
	// control plane of their own (StartPrivate) and write v1 only.
	KubeBlocks10 KubeBlocks = "1.0"
)

// EnvKubeBlocksCRDs names the environment variable pointing at the directory holding the
// KubeBlocks CRD files; default: ../shared/kubeblocks beside the repository root.
const EnvKubeBlocksCRDs = "FSA_KUBEBLOCKS_CRDS"

// EnvKubeBlocks names the environment variable choosing the KubeBlocks release (KubeBlocks09 or
// KubeBlocks10) of the control plane Main starts, so a whole suite can run against either.
const EnvKubeBlocks = "FSA_TEST_KUBEBLOCKS"

// crdFiles are the published CRDs, by release.
var crdFiles = map[KubeBlocks]string{
	KubeBlocks09: "clusters-v0.9.5.yaml",
	KubeBlocks10: "clusters-v1.0.2.yaml",
}

// ClusterGVRs are the Cluster resources by API generation.
var (
	// ClusterGVRV1 is KubeBlocks 1.x's Cluster resource (ClusterGVR is 0.9's v1alpha1).
	ClusterGVRV1 = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1", Resource: "clusters"}
)

// GVR is the Cluster resource the release serves as its storage version: the one fsa writes.
func (kb KubeBlocks) GVR() schema.GroupVersionResource {
	if kb == KubeBlocks10 {
		return ClusterGVRV1
	}
	return ClusterGVR
}

// ErrNoKubeBlocksCRD is returned when the published CRD files are not where the test world
// looks for them.
var ErrNoKubeBlocksCRD = errors.New("k8stest: KubeBlocks CRD file not found")

// KubeBlocksCRDPath returns the path of the release's published Cluster CRD, or an error
// wrapping ErrNoKubeBlocksCRD naming where it looked.
func KubeBlocksCRDPath(kb KubeBlocks) (string, error) {
	file, ok := crdFiles[kb]
	if !ok {
		return "", fmt.Errorf("k8stest: unknown KubeBlocks release %q", kb)
	}
	dir := os.Getenv(EnvKubeBlocksCRDs)
	if dir == "" {
		root, err := repo.Root()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrNoKubeBlocksCRD, err)
		}
		dir = filepath.Join(root, "..", "shared", "kubeblocks")
	}
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s (set %s to the directory holding it)", ErrNoKubeBlocksCRD, path, EnvKubeBlocksCRDs)
		}
		return "", fmt.Errorf("k8stest: %w", err)
	}
	return path, nil
}

// RequireKubeBlocksCRD returns the path of the release's CRD for a test that needs the real
// schema: without it the test fails when CI=true and skips, naming the missing path, otherwise.
func RequireKubeBlocksCRD(t testing.TB, kb KubeBlocks) string {
	t.Helper()
	path, err := KubeBlocksCRDPath(kb)
	switch {
	case err == nil:
		return path
	case errors.Is(err, ErrNoKubeBlocksCRD) && os.Getenv("CI") != "true":
		t.Skipf("%v", err)
	default:
		t.Fatalf("%v", err)
	}
	return ""
}

// kubeBlocksFromEnv returns the release EnvKubeBlocks names, KubeBlocks09 when unset.
func kubeBlocksFromEnv() (KubeBlocks, error) {
	switch v := KubeBlocks(os.Getenv(EnvKubeBlocks)); v {
	case "":
		return KubeBlocks09, nil
	case KubeBlocks09, KubeBlocks10:
		return v, nil
	default:
		return "", fmt.Errorf("k8stest: %s=%q: want %q or %q", EnvKubeBlocks, v, KubeBlocks09, KubeBlocks10)
	}
}

// InstallKubeBlocksCRD server-side applies the release's published Cluster CRD and waits until
// it is Established and its storage version is served. It is idempotent; installing another
// release's CRD over it replaces it (do that only on a control plane no other test uses).
func InstallKubeBlocksCRD(ctx context.Context, dyn dynamic.Interface, kb KubeBlocks) error {
	path, err := KubeBlocksCRDPath(kb)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("k8stest: read KubeBlocks CRD: %w", err)
	}
	body, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("k8stest: KubeBlocks CRD %s: %w", path, err)
	}
	var crd unstructured.Unstructured
	if err := json.Unmarshal(body, &crd.Object); err != nil {
		return fmt.Errorf("k8stest: KubeBlocks CRD %s: %w", path, err)
	}
	if _, err := dyn.Resource(crdGVR).Patch(ctx, crd.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: "k8stest", Force: ptrTo(true)}); err != nil {
		return fmt.Errorf("k8stest: apply KubeBlocks %s Cluster CRD: %w", kb, err)
	}
	return waitClusterCRD(ctx, dyn, kb.GVR())
}

func ptrTo[T any](v T) *T { return &v }

// waitClusterCRD waits until the Cluster CRD is Established and gvr is served.
func waitClusterCRD(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource) error {
	crds := dyn.Resource(crdGVR)
	err := poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		got, err := crds.Get(ctx, "clusters.apps.kubeblocks.io", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	}, func() error { return fmt.Errorf("k8stest: Cluster CRD not Established") })
	if err != nil {
		return err
	}
	// Established can precede the resource showing up in the dynamic client's path; list once.
	return poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	}, func() error { return fmt.Errorf("k8stest: Cluster resource %s not served", gvr.Version) })
}
