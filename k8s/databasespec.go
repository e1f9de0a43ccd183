package k8s

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DataVolume is the name of a database's data volumeClaimTemplate.
const DataVolume = "data"

// DatabaseSpec is the desired state of one PostgreSQL database: a KubeBlocks
// Cluster with one component.
type DatabaseSpec struct {
	// Name names the Cluster; its credentials are in Secret
	// Name+"-conn-credential". A DNS-1123 label.
	Name string
	// Namespace is the user's namespace. Managers set it from the Client.
	Namespace string
	// Project is the project's Kubernetes name, recorded in a label.
	Project string
	// Epoch is the fencing epoch of the writer, recorded in AnnotationEpoch
	// by the writes that change the object (an epoch alone is no change).
	Epoch uint64
	// Stopped asks for zero replicas; the data volume is kept.
	Stopped bool

	// Resources of the PostgreSQL component; empty means
	// DefaultDatabaseResources().
	Resources corev1.ResourceRequirements
	// Size of the data volume; zero means DefaultDatabaseSize().
	Size resource.Quantity
	// StorageClassName of the data volume; empty means the cluster default.
	StorageClassName string
}

// CredentialSecretName returns the name of the Secret KubeBlocks writes the
// database's connection credentials to.
func (s DatabaseSpec) CredentialSecretName() string { return credentialSecret(s.Name) }

func credentialSecret(cluster string) string { return cluster + "-conn-credential" }

// Validate reports what is wrong with the spec, wrapping ErrInvalidSpec.
func (s DatabaseSpec) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %q: %v", s.Name, msgs))
	}
	if s.Namespace == "" {
		errs = append(errs, errors.New("empty namespace"))
	}
	if msgs := validation.IsValidLabelValue(s.Project); len(msgs) > 0 || s.Project == "" {
		errs = append(errs, fmt.Errorf("project %q: not a label value", s.Project))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("database %q: %w: %w", s.Name, ErrInvalidSpec, errors.Join(errs...))
}

// BuildDatabase renders spec into a KubeBlocks apps.kubeblocks.io/v1alpha1
// Cluster. It does no I/O and no validation; empty optional fields take
// their defaults. Equal specs give equal objects.
func BuildDatabase(spec DatabaseSpec) *unstructured.Unstructured {
	replicas := int64(1)
	if spec.Stopped {
		replicas = 0
	}
	res := spec.Resources
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = DefaultDatabaseResources()
	}
	size := spec.Size
	if size.IsZero() {
		size = DefaultDatabaseSize()
	}
	pvcSpec := map[string]any{
		"accessModes": []any{string(corev1.ReadWriteOnce)},
		"resources":   map[string]any{"requests": map[string]any{"storage": size.String()}},
	}
	if spec.StorageClassName != "" {
		pvcSpec["storageClassName"] = spec.StorageClassName
	}
	resources := map[string]any{}
	if len(res.Requests) > 0 {
		resources["requests"] = resourceList(res.Requests)
	}
	if len(res.Limits) > 0 {
		resources["limits"] = resourceList(res.Limits)
	}

	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": GVRCluster.GroupVersion().String(),
		"kind":       "Cluster",
		"metadata": map[string]any{
			"name":        spec.Name,
			"namespace":   spec.Namespace,
			"labels":      stringMap(objectLabels(spec.Name, spec.Project, ComponentDatabase)),
			"annotations": stringMap(epochAnnotations(spec.Epoch)),
		},
		"spec": map[string]any{
			"clusterDefinitionRef": ClusterDefinition,
			"clusterVersionRef":    ClusterVersion,
			"terminationPolicy":    "Delete",
			"componentSpecs": []any{map[string]any{
				"name":            DatabaseComponent,
				"componentDefRef": DatabaseComponent,
				"replicas":        replicas,
				"resources":       resources,
				"volumeClaimTemplates": []any{map[string]any{
					"name": DataVolume,
					"spec": pvcSpec,
				}},
			}},
		},
	}}
	return u
}

func resourceList(l corev1.ResourceList) map[string]any {
	out := make(map[string]any, len(l))
	for k, q := range l {
		out[string(k)] = q.String()
	}
	return out
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// DatabaseYAML renders the Cluster as the YAML fsa applies, for review and
// golden tests.
func DatabaseYAML(cluster *unstructured.Unstructured) ([]byte, error) {
	return renderYAML(cluster)
}
