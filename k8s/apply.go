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

// withdraw deletes the object gvr/name that fsa no longer wants, if it exists and fsa manages
// it (an object of that name made by someone else is left alone). The delete is conditional on
// the UID read, so an object created again meanwhile is not removed by mistake.
func withdraw(ctx context.Context, c *Client, gvr schema.GroupVersionResource, namespace, name string) error {
	op := fmt.Sprintf("delete %s %q", gvr.Resource, name)
	res := c.Dynamic.Resource(gvr).Namespace(namespace)
	live, err := res.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return apiError(op, err)
	}
	return deleteLive(ctx, c, gvr, live)
}

// deleteLive deletes live (read or cached) if fsa manages it, on the condition that its UID is
// still the one read; gone already is fine.
func deleteLive(ctx context.Context, c *Client, gvr schema.GroupVersionResource, live metav1.Object) error {
	if !managedByFSA(live) {
		return nil
	}
	op := fmt.Sprintf("delete %s %q", gvr.Resource, live.GetName())
	uid := live.GetUID()
	err := c.Dynamic.Resource(gvr).Namespace(live.GetNamespace()).Delete(ctx, live.GetName(),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	return ignoreNotFound(apiError(op, err))
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
	objs := []runtime.Object{o.Secret, o.StatefulSet, o.Service}
	if o.AppIngress != nil {
		objs = append(objs, o.AppIngress)
	}
	objs = append(objs, o.TerminalIngress)
	if o.NetworkPolicy != nil {
		objs = append(objs, o.NetworkPolicy)
	}
	return renderYAML(objs...)
}
