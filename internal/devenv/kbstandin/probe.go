package kbstandin

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
)

// Probe checks end to end that a stand-in playing API generation api (V1Alpha1 or V1) is
// serving: it creates a throw-away Cluster in namespace ns, waits until it is Running, deletes it
// and waits until it is gone. Run it once after starting Run, so the first real Cluster does not
// wait for the stand-in's watch to start. The Cluster is valid under KubeBlocks' real schema.
func Probe(ctx context.Context, dyn dynamic.Interface, ns, api string) error {
	gvr := GVR(api)
	clusters := dyn.Resource(gvr).Namespace(ns)
	name := "kbstandin-probe-" + rand.String(5)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(),
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"terminationPolicy": "Delete",
			"componentSpecs":    []any{map[string]any{"name": "probe", "replicas": int64(1)}},
		},
	}}
	if _, err := clusters.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kbstandin: probe: %w", err)
	}
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	deleted := false
	for {
		got, err := clusters.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && deleted:
			return nil
		case err != nil:
			return fmt.Errorf("kbstandin: probe: %w", err)
		case !deleted:
			if phase, _, _ := unstructured.NestedString(got.Object, "status", "phase"); phase == PhaseRunning {
				if err := clusters.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					return fmt.Errorf("kbstandin: probe: %w", err)
				}
				deleted = true
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kbstandin: probe: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}
