package k8s

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Data a deleted project leaves behind: its sandbox's home volume claims and its database's
// Cluster (stopped, with a termination policy that keeps everything). Both are marked so that
// people with kubectl see what they are; fsa itself remembers them in its store.
const (
	// LabelRetained marks an object kept after its project was deleted.
	LabelRetained = "fsa.fullstackagent.io/retained"
	// AnnotationDeletedProject names the deleted project (its id) the object belonged to.
	AnnotationDeletedProject = "fsa.fullstackagent.io/deleted-project"

	// TerminationPolicyKeep makes KubeBlocks refuse to delete the Cluster: it, its volumes and
	// its credentials stay until a purge.
	TerminationPolicyKeep = "DoNotTerminate"
	// TerminationPolicyPurge makes KubeBlocks delete everything of the Cluster with it: volumes,
	// Secrets and backups.
	TerminationPolicyPurge = "WipeOut"
)

func retainedPatch(projectID string) map[string]any {
	return map[string]any{"metadata": map[string]any{
		"labels":      map[string]any{LabelRetained: "true"},
		"annotations": map[string]any{AnnotationDeletedProject: projectID},
	}}
}

func mergePatch(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return b, nil
}

// RetainClaims marks the home volume claims of sandbox name as kept for deleted project
// projectID. Claims already gone are fine.
func (SandboxManager) RetainClaims(ctx context.Context, c *Client, name, projectID string) error {
	op := fmt.Sprintf("retain volumes of sandbox %q", name)
	body, err := mergePatch(retainedPatch(projectID))
	if err != nil {
		return err
	}
	return forClaims(ctx, c, name, op, func(claim string) error {
		_, err := c.Clientset.CoreV1().PersistentVolumeClaims(c.Namespace).Patch(ctx, claim, types.MergePatchType, body,
			metav1.PatchOptions{FieldManager: FieldManager})
		return ignoreNotFound(apiError(op+": volume claim", err))
	})
}

// PurgeClaims deletes the home volume claims of sandbox name (a deleted project's kept data).
func (SandboxManager) PurgeClaims(ctx context.Context, c *Client, name string) error {
	return deleteClaims(ctx, c, name, fmt.Sprintf("purge volumes of sandbox %q", name))
}

// forClaims calls fn for each home volume claim of sandbox name: those labelled as its own, and
// the claim of pod 0 by name in case its labels were lost.
func forClaims(ctx context.Context, c *Client, name, op string, fn func(claim string) error) error {
	sel := labels.SelectorFromSet(labels.Set{LabelApp: name, LabelComponent: ComponentSandbox, LabelManagedBy: ManagedByValue}).String()
	list, err := c.Clientset.CoreV1().PersistentVolumeClaims(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return apiError(op+": list volume claims", err)
	}
	names := map[string]bool{fmt.Sprintf("%s-%s-0", HomeVolume, name): true}
	for _, p := range list.Items {
		names[p.Name] = true
	}
	for n := range names {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// Retain keeps the database of a deleted project instead of deleting it: its Cluster is
// stopped (spec; a Cluster that does not exist stays absent), then given the termination
// policy TerminationPolicyKeep and marked as kept for projectID. Once marked, it is not
// applied again, so the policy never goes back to the one of a live project.
func (m DatabaseManager) Retain(ctx context.Context, c *Client, spec DatabaseSpec, projectID string) error {
	op := fmt.Sprintf("retain database %q", spec.Name)
	api, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	res := c.Dynamic.Resource(api.GVR()).Namespace(c.Namespace)
	live, err := res.Get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		return ignoreNotFound(apiError(op, err))
	}
	if live.GetLabels()[LabelRetained] != "true" {
		if err := m.Stop(ctx, c, spec); err != nil {
			return err
		}
	}
	p := retainedPatch(projectID)
	p["spec"] = map[string]any{"terminationPolicy": TerminationPolicyKeep}
	body, err := mergePatch(p)
	if err != nil {
		return err
	}
	_, err = res.Patch(ctx, spec.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
	return ignoreNotFound(apiError(op, err))
}

// Purge deletes the database's Cluster with everything KubeBlocks keeps of it: the termination
// policy becomes TerminationPolicyPurge first (a kept Cluster's policy refuses deletion). A
// Cluster already gone is fine.
func (m DatabaseManager) Purge(ctx context.Context, c *Client, name string) error {
	body, err := mergePatch(map[string]any{"spec": map[string]any{"terminationPolicy": TerminationPolicyPurge}})
	if err != nil {
		return err
	}
	api, err := c.KubeBlocksAPI(ctx)
	if err != nil {
		return fmt.Errorf("purge database %q: %w", name, err)
	}
	_, err = c.Dynamic.Resource(api.GVR()).Namespace(c.Namespace).Patch(ctx, name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err := ignoreNotFound(apiError(fmt.Sprintf("purge database %q", name), err)); err != nil {
		return err
	}
	return m.Delete(ctx, c, name)
}
