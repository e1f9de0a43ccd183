package k8s

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// SandboxManager applies sandboxes to Kubernetes and observes them. Every
// method is idempotent: calling it again with the same arguments changes
// nothing. Writes are server-side applies of the complete desired objects
// under FieldManager, so a field fsa stops stating (an environment variable
// dropped from the spec, say) is removed. The zero value is ready to use.
type SandboxManager struct{}

// prepare fills the spec's namespace from the client and, if it names none,
// its image (RuntimeImage), then validates it.
func (SandboxManager) prepare(c *Client, spec SandboxSpec) (SandboxSpec, error) {
	switch spec.Namespace {
	case "":
		spec.Namespace = c.Namespace
	case c.Namespace:
	default:
		return spec, fmt.Errorf("sandbox %q: %w: namespace %q is not the client's %q",
			spec.Name, ErrInvalidSpec, spec.Namespace, c.Namespace)
	}
	if spec.Image == "" {
		spec.Image = RuntimeImage
	}
	return spec, spec.Validate()
}

// Apply makes the sandbox's Secret, StatefulSet, Service, Ingresses and NetworkPolicy match
// spec, creating what is missing, and deletes the application Ingress of a private
// application (SandboxSpec.PrivateApp). The Secret goes first, so that a new pod finds it; once the
// StatefulSet exists the Secret and NetworkPolicy name it as their owner.
func (m SandboxManager) Apply(ctx context.Context, c *Client, spec SandboxSpec) error {
	spec, err := m.prepare(c, spec)
	if err != nil {
		return err
	}
	if spec.StatefulSetUID == "" || spec.ClaimTemplateSize.IsZero() {
		sts, err := c.Clientset.AppsV1().StatefulSets(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
		switch err = apiError(fmt.Sprintf("sandbox %q", spec.Name), err); {
		case err == nil:
			spec = spec.over(sts)
			if err := spec.growClaims(ctx, c, sts); err != nil {
				return err
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	objs := BuildSandbox(spec)
	if _, err := apply(ctx, c, gvrSecret, objs.Secret); err != nil {
		return fmt.Errorf("sandbox %q: %w", spec.Name, err)
	}
	sts, err := apply(ctx, c, gvrStatefulSet, objs.StatefulSet)
	if err != nil {
		return fmt.Errorf("sandbox %q: %w", spec.Name, err)
	}
	if spec.StatefulSetUID == "" && sts.GetUID() != "" {
		// Created just now: own the Secret (and the policy, below) by it.
		spec.StatefulSetUID = sts.GetUID()
		objs = BuildSandbox(spec)
		if _, err := apply(ctx, c, gvrSecret, objs.Secret); err != nil {
			return fmt.Errorf("sandbox %q: %w", spec.Name, err)
		}
	}
	if _, err := apply(ctx, c, gvrService, objs.Service); err != nil {
		return fmt.Errorf("sandbox %q: %w", spec.Name, err)
	}
	if err := m.applyAppIngress(ctx, c, spec, objs); err != nil {
		return err
	}
	if _, err := apply(ctx, c, gvrIngress, objs.TerminalIngress); err != nil {
		return fmt.Errorf("sandbox %q: %w", spec.Name, err)
	}
	if objs.NetworkPolicy != nil {
		if _, err := apply(ctx, c, gvrNetPol, objs.NetworkPolicy); err != nil {
			return fmt.Errorf("sandbox %q: %w", spec.Name, err)
		}
	}
	return nil
}

// applyAppIngress applies the application Ingress, or deletes it for a private application.
func (SandboxManager) applyAppIngress(ctx context.Context, c *Client, spec SandboxSpec, objs SandboxObjects) error {
	var err error
	if objs.AppIngress == nil {
		err = withdraw(ctx, c, gvrIngress, spec.Namespace, spec.AppIngressName())
	} else {
		_, err = apply(ctx, c, gvrIngress, objs.AppIngress)
	}
	if err != nil {
		return fmt.Errorf("sandbox %q: %w", spec.Name, err)
	}
	return nil
}

// Start applies spec with one replica (spec.Stopped is ignored), recreating
// any missing object.
func (m SandboxManager) Start(ctx context.Context, c *Client, spec SandboxSpec) error {
	spec.Stopped = false
	return m.Apply(ctx, c, spec)
}

// Stop applies spec's StatefulSet with zero replicas; the home volume, the
// Service and the Ingresses stay, except the application Ingress of a private
// application, which is deleted (withdrawing it does not wait for a start).
// Stopping a sandbox that does not exist does nothing.
func (m SandboxManager) Stop(ctx context.Context, c *Client, spec SandboxSpec) error {
	spec.Stopped = true
	spec, err := m.prepare(c, spec)
	if err != nil {
		return err
	}
	sts, err := c.Clientset.AppsV1().StatefulSets(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		err = apiError(fmt.Sprintf("stop sandbox %q", spec.Name), err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	spec = spec.over(sts)
	if err := spec.growClaims(ctx, c, sts); err != nil {
		return err
	}
	if _, err := apply(ctx, c, gvrStatefulSet, BuildSandbox(spec).StatefulSet); err != nil {
		return fmt.Errorf("stop sandbox %q: %w", spec.Name, err)
	}
	if spec.PrivateApp {
		if err := withdraw(ctx, c, gvrIngress, spec.Namespace, spec.AppIngressName()); err != nil {
			return fmt.Errorf("stop sandbox %q: %w", spec.Name, err)
		}
	}
	return nil
}

// UpdateEnv makes the sandbox's environment exactly spec.Env, SecretEnv and
// LiveKeys: variables are added, changed and removed (the Secret, then the
// StatefulSet). The replica count stays as it is (spec.Stopped is ignored); a
// running sandbox restarts to pick the change up, except for a change of a
// live key's value alone.
// It returns ErrNotFound if the sandbox does not exist.
func (m SandboxManager) UpdateEnv(ctx context.Context, c *Client, spec SandboxSpec) error {
	spec, err := m.prepare(c, spec)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("update env of sandbox %q", spec.Name)
	sts, err := c.Clientset.AppsV1().StatefulSets(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		return apiError(op, err)
	}
	spec.Stopped = sts.Spec.Replicas != nil && *sts.Spec.Replicas == 0
	spec = spec.over(sts)
	if err := spec.growClaims(ctx, c, sts); err != nil {
		return err
	}
	objs := BuildSandbox(spec)
	if _, err := apply(ctx, c, gvrSecret, objs.Secret); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, err := apply(ctx, c, gvrStatefulSet, objs.StatefulSet); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Delete removes the sandbox's StatefulSet (waiting, through foreground
// deletion, for its pods), Secret, Service, Ingresses and NetworkPolicy, and with deleteVolume its
// home volume too. Objects already gone are fine.
func (SandboxManager) Delete(ctx context.Context, c *Client, name string, deleteVolume bool) error {
	ns := c.Namespace
	fg := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &fg}
	op := fmt.Sprintf("delete sandbox %q", name)
	spec := SandboxSpec{Name: name}
	steps := []struct {
		kind string
		del  func() error
	}{
		{"ingress", func() error {
			return c.Clientset.NetworkingV1().Ingresses(ns).Delete(ctx, spec.AppIngressName(), opts)
		}},
		{"ingress", func() error {
			return c.Clientset.NetworkingV1().Ingresses(ns).Delete(ctx, spec.TerminalIngressName(), opts)
		}},
		{"service", func() error { return c.Clientset.CoreV1().Services(ns).Delete(ctx, name, opts) }},
		{"networkpolicy", func() error {
			return c.Clientset.NetworkingV1().NetworkPolicies(ns).Delete(ctx, spec.NetworkPolicyName(), opts)
		}},
		{"statefulset", func() error { return c.Clientset.AppsV1().StatefulSets(ns).Delete(ctx, name, opts) }},
		// Owned by the StatefulSet, so garbage collection removes it too; deleted here as well
		// for one that lost its owner reference.
		{"secret", func() error { return c.Clientset.CoreV1().Secrets(ns).Delete(ctx, spec.SecretName(), opts) }},
	}
	for _, s := range steps {
		err := ignoreNotFound(apiError(op+": "+s.kind, s.del()))
		if s.kind == "networkpolicy" && errors.Is(err, ErrForbidden) {
			continue // a user who may not manage NetworkPolicies has none from fsa
		}
		if err != nil {
			return err
		}
	}
	if !deleteVolume {
		return nil
	}
	return deleteClaims(ctx, c, name, op)
}

// deleteClaims deletes the home volume claims of sandbox name (see forClaims).
func deleteClaims(ctx context.Context, c *Client, name, op string) error {
	pvcs := c.Clientset.CoreV1().PersistentVolumeClaims(c.Namespace)
	return forClaims(ctx, c, name, op, func(n string) error {
		return ignoreNotFound(apiError(op+": volume claim", pvcs.Delete(ctx, n, metav1.DeleteOptions{})))
	})
}

// Status observes the sandbox; see SandboxStatusOf. A sandbox that does not
// exist is TERMINATED, not an error.
func (SandboxManager) Status(ctx context.Context, c *Client, name string) (SandboxStatus, error) {
	op := fmt.Sprintf("status of sandbox %q", name)
	sts, err := c.Clientset.AppsV1().StatefulSets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		err = apiError(op, err)
		if errors.Is(err, ErrNotFound) {
			return SandboxStatusOf(nil, nil), nil
		}
		return SandboxStatus{}, err
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return SandboxStatus{}, fmt.Errorf("%s: selector: %w", op, err)
	}
	pods, err := c.Clientset.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return SandboxStatus{}, apiError(op+": list pods", err)
	}
	return SandboxStatusOf(sts, ownedPods(sts.UID, pods.Items)), nil
}

// ownedPods keeps the pods controlled by the object with uid.
func ownedPods(uid types.UID, pods []corev1.Pod) []corev1.Pod {
	out := pods[:0:0]
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == uid {
			out = append(out, p)
		}
	}
	return out
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// over returns spec as written over the existing StatefulSet sts: owned by it, and with its
// home volumeClaimTemplate unchanged (the API server refuses a change).
func (s SandboxSpec) over(sts *appsv1.StatefulSet) SandboxSpec {
	if s.StatefulSetUID == "" {
		s.StatefulSetUID = sts.UID
	}
	if s.ClaimTemplateSize.IsZero() {
		s.ClaimTemplateSize = claimTemplateSize(sts)
	}
	return s
}

// claimTemplateSize returns the storage request of sts's home volumeClaimTemplate, zero if it
// has none.
func claimTemplateSize(sts *appsv1.StatefulSet) resource.Quantity {
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == HomeVolume {
			return t.Spec.Resources.Requests[corev1.ResourceStorage]
		}
	}
	return resource.Quantity{}
}

// mustGrow reports whether the home volume claims of the existing StatefulSet sts must grow to
// reach s's home size: it is larger than the size sts records (AnnotationHomeSize, else its
// volumeClaimTemplate's).
func (s SandboxSpec) mustGrow(sts *appsv1.StatefulSet) bool {
	recorded := claimTemplateSize(sts)
	if v, ok := sts.Annotations[AnnotationHomeSize]; ok {
		if q, err := resource.ParseQuantity(v); err == nil {
			recorded = q
		}
	}
	size := s.homeSize()
	return size.Cmp(recorded) > 0
}

// growClaims grows the home volume claims of the existing StatefulSet sts to s's home size when
// it must (mustGrow). It runs before the StatefulSet is written, so the size the StatefulSet
// records is one its claims have: a failed expansion is tried again by the next write.
func (s SandboxSpec) growClaims(ctx context.Context, c *Client, sts *appsv1.StatefulSet) error {
	if !s.mustGrow(sts) {
		return nil
	}
	return expandClaims(ctx, c, s.Name, s.homeSize())
}

// expandClaims asks for the home volume claims of sandbox name to be size, those smaller (a
// claim never shrinks; a claim not created yet is left to the StatefulSet). Kubernetes refuses
// it unless the claim's StorageClass has allowVolumeExpansion: true (ErrForbidden, with the API
// server's message); the volume then grows as its CSI driver does it, often only once the pod
// is started again.
func expandClaims(ctx context.Context, c *Client, name string, size resource.Quantity) error {
	op := fmt.Sprintf("grow home volume of sandbox %q to %s", name, size.String())
	pvcs := c.Clientset.CoreV1().PersistentVolumeClaims(c.Namespace)
	return forClaims(ctx, c, name, op, func(n string) error {
		pvc, err := pvcs.Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return ignoreNotFound(apiError(op+": volume claim "+n, err))
		}
		cur := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if cur.Cmp(size) >= 0 {
			return nil
		}
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"resources": map[string]any{
			"requests": map[string]any{string(corev1.ResourceStorage): size.String()}}}})
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if _, err := pvcs.Patch(ctx, n, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("%s: volume claim %s from %s (its StorageClass must allow volume expansion): %w",
				op, n, cur.String(), apiError("patch", err))
		}
		return nil
	})
}
