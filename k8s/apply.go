package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Resources this package writes.
var (
	gvrStatefulSet = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	gvrService     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrIngress     = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	gvrSecret      = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrNetPol      = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
	// GVRCluster is KubeBlocks 0.9's Cluster resource (KubeBlocksV1Alpha1; see
	// KubeBlocksAPI.GVR for each generation's).
	GVRCluster = schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1alpha1", Resource: "clusters"}
)

// applyConfig turns obj into the configuration fsa applies: the object
// without status and without null fields. A server-side apply configuration
// states every field its manager owns, so it must say nothing it does not
// mean.
func applyConfig(obj runtime.Object) (map[string]any, error) {
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = runtime.DeepCopyJSON(u.Object)
	} else {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return nil, fmt.Errorf("convert %T: %w", obj, err)
		}
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		if vcts, ok := spec["volumeClaimTemplates"].([]any); ok {
			for _, v := range vcts {
				if vct, ok := v.(map[string]any); ok {
					delete(vct, "status")
				}
			}
		}
	}
	pruneNulls(m)
	return m, nil
}

// pruneNulls removes null values, and maps left empty by their removal, such
// as the creationTimestamp of an unsaved object.
func pruneNulls(v any) (empty bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			if sub, ok := e.(map[string]any); ok && len(sub) > 0 && pruneNulls(sub) {
				delete(t, k)
				continue
			}
			if _, ok := e.([]any); ok {
				pruneNulls(e)
			}
		}
		return len(t) == 0
	case []any:
		for _, e := range t {
			pruneNulls(e)
		}
	}
	return false
}

// apply server-side applies obj with FieldManager, forcing ownership of every
// field it states, unless the object as read is already up to date (UpToDate:
// then it sends nothing, so a new leader's epoch alone rewrites no object). An
// existing object without fsa's LabelManagedBy is left alone: ErrConflict.
func apply(ctx context.Context, c *Client, gvr schema.GroupVersionResource, obj runtime.Object) (*unstructured.Unstructured, error) {
	return applyChecked(ctx, c, gvr, obj, true)
}

// applyChecked is apply; without read it skips the GET (and the UpToDate check),
// for a caller that has checked both on an informer's copy of the object (or saw
// it absent).
func applyChecked(ctx context.Context, c *Client, gvr schema.GroupVersionResource, obj runtime.Object, read bool) (*unstructured.Unstructured, error) {
	cfg, err := applyConfig(obj)
	if err != nil {
		return nil, err
	}
	u := unstructured.Unstructured{Object: cfg}
	op := fmt.Sprintf("apply %s %q", gvr.Resource, u.GetName())
	body, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	res := c.Dynamic.Resource(gvr).Namespace(u.GetNamespace())
	if read {
		// Force takes every stated field from whoever owns it, so refuse to
		// adopt an object fsa did not create.
		live, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		switch {
		case err == nil && !managedByFSA(live):
			return nil, fmt.Errorf("%s: %w: exists and is not managed by %s", op, ErrConflict, ManagedByValue)
		case err == nil && UpToDate(obj, live):
			return live, nil
		case err != nil && !apierrors.IsNotFound(err):
			return nil, apiError(op, err)
		}
	}
	out, err := res.Patch(ctx, u.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)})
	if err != nil {
		return nil, apiError(op, err)
	}
	return out, nil
}

// managedByFSA reports whether the object carries fsa's LabelManagedBy.
func managedByFSA(o metav1.Object) bool { return o.GetLabels()[LabelManagedBy] == ManagedByValue }

// renderYAML renders objs as a multi-document YAML stream of their apply
// configurations.
func renderYAML(objs ...runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		cfg, err := applyConfig(o)
		if err != nil {
			return nil, err
		}
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("render %T: %w", o, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// YAML renders the objects as the YAML stream fsa applies, for review and
// golden tests.
func (o SandboxObjects) YAML() ([]byte, error) {
	objs := []runtime.Object{o.Secret, o.StatefulSet, o.Service, o.AppIngress, o.TerminalIngress}
	if o.NetworkPolicy != nil {
		objs = append(objs, o.NetworkPolicy)
	}
	return renderYAML(objs...)
}
