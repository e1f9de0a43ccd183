package k8stest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// ClusterGVR is KubeBlocks 0.9's Cluster resource (v1alpha1), the one a control plane serves by
// default (see KubeBlocks).
var ClusterGVR = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1alpha1", Resource: "clusters"}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// bootstrap creates the fake node and the default StorageClass, then waits
// for what the components do on their own: the node turning Ready (kwok) and the default
// ServiceAccount (controller-manager).
func (cp *ControlPlane) bootstrap(ctx context.Context, cs kubernetes.Interface, step func(string, ...any)) error {
	if err := createNode(ctx, cs); err != nil {
		return err
	}
	if err := cp.createStorageClass(ctx, cs); err != nil {
		return err
	}
	step("node and StorageClass created")
	waits := []struct {
		what, proc string
		ok         func(context.Context) (bool, error)
	}{
		{"node " + NodeName + " Ready", Kwok, func(ctx context.Context) (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // not there yet: keep polling
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		}},
		{"ServiceAccount default/default", ControllerManager, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		}},
		{"kube-controller-manager /healthz", ControllerManager, func(ctx context.Context) (bool, error) {
			return httpOK(ctx, loopbackTLS, "https://"+hostPort(cp.kcmPort)+"/healthz") == nil, nil
		}},
		{"kube-scheduler /readyz", Scheduler, func(ctx context.Context) (bool, error) {
			return httpOK(ctx, loopbackTLS, "https://"+hostPort(cp.schedPort)+"/readyz") == nil, nil
		}},
	}
	for _, w := range waits {
		if err := cp.waitFor(ctx, w.proc, func(ctx context.Context) error {
			ok, err := w.ok(ctx)
			if err == nil && !ok {
				err = fmt.Errorf("not yet: %s", w.what)
			}
			return err
		}); err != nil {
			return fmt.Errorf("%w (waiting for %s)", err, w.what)
		}
		step("%s", w.what)
	}
	return nil
}

func createNode(ctx context.Context, cs kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("256Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName,
				"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: create node: %w", err)
	}
	return nil
}

// createStorageClass applies kwok's volume StorageClass (kwok-volume, the default class), so
// PersistentVolumeClaims get volumes from internal/devenv/pvstandin (released and deleted by kwok's Stages).
func (cp *ControlPlane) createStorageClass(ctx context.Context, cs kubernetes.Interface) error {
	data, err := os.ReadFile(filepath.Join(cp.opts.KwokDir, "storage-class.yaml"))
	if err != nil {
		return fmt.Errorf("k8stest: kwok StorageClass: %w", err)
	}
	var sc storagev1.StorageClass
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		return fmt.Errorf("k8stest: kwok StorageClass: %w", err)
	}
	if sc.Annotations == nil {
		sc.Annotations = map[string]string{}
	}
	sc.Annotations["storageclass.kubernetes.io/is-default-class"] = "true"
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, &sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: create StorageClass: %w", err)
	}
	return nil
}

// installClusterCRD installs the Cluster CRD of Options.KubeBlocks (default: EnvKubeBlocks, else
// KubeBlocks09) as KubeBlocks publishes it. Without the published files it installs the minimal
// CRD instead, loudly, unless CI=true, where that is an error.
func (cp *ControlPlane) installClusterCRD(ctx context.Context) (string, error) {
	kb := cp.opts.KubeBlocks
	if kb == "" {
		var err error
		if kb, err = kubeBlocksFromEnv(); err != nil {
			return "", err
		}
	}
	err := InstallKubeBlocksCRD(ctx, cp.cluster.Dynamic(), kb)
	if errors.Is(err, ErrNoKubeBlocksCRD) && os.Getenv("CI") != "true" && kb == KubeBlocks09 {
		fmt.Fprintf(os.Stderr, "k8stest: WARNING: %v; serving a minimal Cluster CRD that accepts any Cluster instead\n", err)
		cp.kubeBlocks = ""
		return "minimal", InstallClusterCRD(ctx, cp.cluster.Dynamic())
	}
	if err != nil {
		return "", err
	}
	cp.kubeBlocks = kb
	return string(kb), nil
}

// InstallClusterCRD installs a minimal KubeBlocks CRD, clusters.apps.kubeblocks.io v1alpha1 (any
// fields preserved, status subresource), and waits until it is Established. It is idempotent.
// It is the fallback when the published CRDs (InstallKubeBlocksCRD) are missing: it validates
// nothing, so a test that needs the real schema calls RequireKubeBlocksCRD.
func InstallClusterCRD(ctx context.Context, dyn dynamic.Interface) error {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "clusters.apps.kubeblocks.io"},
		"spec": map[string]any{
			"group": "apps.kubeblocks.io",
			"scope": "Namespaced",
			"names": map[string]any{
				"kind": "Cluster", "listKind": "ClusterList", "plural": "clusters", "singular": "cluster",
				"shortNames": []any{"cl"},
			},
			"versions": []any{map[string]any{
				"name": "v1alpha1", "served": true, "storage": true,
				"subresources": map[string]any{"status": map[string]any{}},
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: create Cluster CRD: %w", err)
	}
	return waitClusterCRD(ctx, dyn, ClusterGVR)
}
