package k8stest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

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

// ClusterGVR is the KubeBlocks Cluster resource the control plane serves (a minimal CRD: any
// spec and status, with a status subresource).
var ClusterGVR = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1alpha1", Resource: "clusters"}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// bootstrap creates the fake node, the default StorageClass and the KubeBlocks CRD, then waits
// for what the components do on their own: the node turning Ready (kwok) and the default
// ServiceAccount (controller-manager).
func (cp *ControlPlane) bootstrap(ctx context.Context, cs kubernetes.Interface, step func(string, ...any)) error {
	if err := createNode(ctx, cs); err != nil {
		return err
	}
	if err := cp.createStorageClass(ctx, cs); err != nil {
		return err
	}
	if err := InstallClusterCRD(ctx, cp.cluster.Dynamic()); err != nil {
		return err
	}
	step("node, StorageClass and Cluster CRD created")
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

// InstallClusterCRD installs a minimal KubeBlocks CRD, clusters.apps.kubeblocks.io v1alpha1 (any
// fields preserved, status subresource), and waits until it is Established. It is idempotent.
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
				"additionalPrinterColumns": []any{
					map[string]any{"name": "Status", "type": "string", "jsonPath": ".status.phase"},
					map[string]any{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
				},
			}},
		},
	}}
	crds := dyn.Resource(crdGVR)
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: create Cluster CRD: %w", err)
	}
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
		_, err := dyn.Resource(ClusterGVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	}, func() error { return fmt.Errorf("k8stest: Cluster resource not served") })
}
