package k8stest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/fullstackagent/fsa/internal/devenv/repo"
)

// EpochFencingFile is the optional admission policy fsa ships for operators
// (deploy/fencing/epoch-fencing.yaml), relative to the repository root.
const EpochFencingFile = "deploy/fencing/epoch-fencing.yaml"

var (
	vapGVR  = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	vapbGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// LoadEpochFencing reads the shipped ValidatingAdmissionPolicy and its binding.
func LoadEpochFencing() (policy, binding *unstructured.Unstructured, err error) {
	root, err := repo.Root()
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(filepath.Join(root, EpochFencingFile))
	if err != nil {
		return nil, nil, fmt.Errorf("k8stest: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("k8stest: %s: %w", EpochFencingFile, err)
		}
		switch u.GetKind() {
		case "ValidatingAdmissionPolicy":
			policy = &u
		case "ValidatingAdmissionPolicyBinding":
			binding = &u
		}
	}
	if policy == nil || binding == nil {
		return nil, nil, fmt.Errorf("k8stest: %s: want a ValidatingAdmissionPolicy and its binding", EpochFencingFile)
	}
	return policy, binding, nil
}

// InstallEpochFencing installs the shipped epoch fencing policy, bound to namespace ns only (so
// tests sharing the cluster are not affected), and waits until the API server enforces it. The
// returned function removes the binding.
func (c *Cluster) InstallEpochFencing(ctx context.Context, ns string) (remove func(context.Context) error, err error) {
	policy, binding, err := LoadEpochFencing()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(policy.Object)
	if err != nil {
		return nil, err
	}
	apply := metav1.PatchOptions{FieldManager: "k8stest", Force: ptrTo(true)}
	if _, err := c.dynamic.Resource(vapGVR).Patch(ctx, policy.GetName(), types.ApplyPatchType, body, apply); err != nil {
		return nil, fmt.Errorf("k8stest: apply fencing policy: %w", err)
	}
	binding.SetName(binding.GetName() + "-" + ns)
	if err := unstructured.SetNestedMap(binding.Object, map[string]any{
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": ns}},
	}, "spec", "matchResources"); err != nil {
		return nil, err
	}
	if body, err = json.Marshal(binding.Object); err != nil {
		return nil, err
	}
	if _, err := c.dynamic.Resource(vapbGVR).Patch(ctx, binding.GetName(), types.ApplyPatchType, body, apply); err != nil {
		return nil, fmt.Errorf("k8stest: apply fencing binding: %w", err)
	}
	remove = func(ctx context.Context) error {
		err := c.dynamic.Resource(vapbGVR).Delete(ctx, binding.GetName(), metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := c.waitFencing(ctx, ns); err != nil {
		_ = remove(ctx)
		return nil, err
	}
	return remove, nil
}

// waitFencing waits until lowering the epoch of an fsa-labelled object in ns is refused: the
// API server loads policies and bindings asynchronously.
func (c *Cluster) waitFencing(ctx context.Context, ns string) error {
	cms := c.clientset.CoreV1().ConfigMaps(ns)
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:        "fencing-probe-" + randSuffix(5),
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "fsa"},
		Annotations: map[string]string{"fsa.fullstackagent.io/epoch": "5"},
	}}
	probe, err := cms.Create(ctx, probe, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("k8stest: fencing probe: %w", err)
	}
	defer func() { _ = cms.Delete(context.WithoutCancel(ctx), probe.Name, metav1.DeleteOptions{}) }()
	return poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		cur, err := cms.Get(ctx, probe.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("k8stest: fencing probe: %w", err)
		}
		if cur.Annotations["fsa.fullstackagent.io/epoch"] != "5" { // an earlier try went through
			cur.Annotations["fsa.fullstackagent.io/epoch"] = "5"
			_, err := cms.Update(ctx, cur, metav1.UpdateOptions{})
			return false, err
		}
		cur.Annotations["fsa.fullstackagent.io/epoch"] = "4"
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
			return true, nil
		case err != nil && !apierrors.IsConflict(err):
			return false, fmt.Errorf("k8stest: fencing probe: %w", err)
		}
		return false, nil
	}, func() error { return errors.New("k8stest: the epoch fencing policy is not enforced") })
}
