package k8s

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// annotationLastApplied is the copy of the whole object kubectl apply keeps in an annotation.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache drops from an object read from the API server what no reader of a cache of
// fsa's objects needs, for informer caches that hold thousands of them (an informer's
// transform: it changes obj in place and returns it). What stays is what UpToDate, Differs,
// the planners, SandboxStatusOf, DatabaseStatusOf and ConnectionURLOf read:
//   - every object: its metadata, its spec and status, and its data; of its managedFields only
//     fsa's own entries (UpToDate checks that fsa owns no field it no longer states); not the
//     last-applied annotation kubectl leaves;
//   - a pod (fsa writes none; its StatefulSet does): its metadata without managedFields or
//     annotations, and of its status the phase and its containers' names and waiting states;
//     not its spec.
//
// Anything else (a tombstone of a deleted object) is returned as is.
func TrimForCache(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return trimPod(o), nil
	case *unstructured.Unstructured:
		trimUnstructured(o)
	case metav1.Object:
		o.SetManagedFields(fsaEntries(o.GetManagedFields()))
		dropAnnotation(o, annotationLastApplied)
	}
	return obj, nil
}

// fsaEntries returns the managedFields entries of fsa's field manager.
func fsaEntries(entries []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if e.Manager == FieldManager {
			out = append(out, e)
		}
	}
	return out
}

func dropAnnotation(o metav1.Object, key string) {
	if a := o.GetAnnotations(); a != nil {
		if _, ok := a[key]; ok {
			delete(a, key)
			o.SetAnnotations(a)
		}
	}
}

// trimPod keeps what SandboxStatusOf and the reconcilers' pod index read of a pod.
func trimPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.ObjectMeta}
	out.ManagedFields, out.Annotations = nil, nil
	out.Status.Phase = p.Status.Phase
	keep := func(in []corev1.ContainerStatus) []corev1.ContainerStatus {
		if len(in) == 0 {
			return nil
		}
		cs := make([]corev1.ContainerStatus, len(in))
		for i, c := range in {
			cs[i] = corev1.ContainerStatus{Name: c.Name, State: corev1.ContainerState{Waiting: c.State.Waiting}}
		}
		return cs
	}
	out.Status.InitContainerStatuses = keep(p.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = keep(p.Status.ContainerStatuses)
	return out
}

// trimUnstructured keeps fsa's managedFields entries of a custom resource (a Cluster).
func trimUnstructured(u *unstructured.Unstructured) {
	meta, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return
	}
	if entries, ok := meta["managedFields"].([]any); ok {
		kept := entries[:0]
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok && m["manager"] == FieldManager {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			delete(meta, "managedFields")
		} else {
			meta["managedFields"] = kept
		}
	}
	if a, ok := meta["annotations"].(map[string]any); ok {
		delete(a, annotationLastApplied)
	}
}
