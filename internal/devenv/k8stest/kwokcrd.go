package k8stest

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// kwokCRDKinds are the kwok resources kwok reads from the API server (--enable-crds) rather
// than from its --config files: the per-pod answers of the fake kubelet API, which the sandbox
// stand-in (internal/devenv/sbstandin) creates as pods come and go.
var kwokCRDKinds = []string{"Exec", "Logs", "PortForward"}

// installKwokCRDs serves kwok.x-k8s.io/v1alpha1 Exec, Logs and PortForward (namespaced, any
// fields, status subresource) and waits until each is listed, so kwok's watches start cleanly.
func installKwokCRDs(ctx context.Context, dyn dynamic.Interface) error {
	for _, kind := range kwokCRDKinds {
		plural := strings.ToLower(kind)
		if !strings.HasSuffix(plural, "s") {
			plural += "s"
		}
		if err := installCRD(ctx, dyn, "kwok.x-k8s.io", "v1alpha1", kind, plural); err != nil {
			return err
		}
	}
	return nil
}

// installCRD creates a namespaced CRD that keeps any fields and has a status subresource, and
// waits until its resource is served. It is idempotent.
func installCRD(ctx context.Context, dyn dynamic.Interface, group, version, kind, plural string) error {
	name := plural + "." + group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{
				"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind),
			},
			"versions": []any{map[string]any{
				"name": version, "served": true, "storage": true,
				"subresources": map[string]any{"status": map[string]any{}},
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("k8stest: create CRD %s: %w", name, err)
	}
	gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
	return poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	}, func() error { return fmt.Errorf("k8stest: CRD %s not served", name) })
}
