package k8s

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

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
	// Name names the Cluster; its credentials are in the Secret
	// CredentialSecretName names. A DNS-1123 label.
	Name string
	// Namespace is the user's namespace. Managers set it from the Client.
	Namespace string
	// API is the KubeBlocks API generation to write the Cluster in. Managers set
	// an empty one from the Client (Client.KubeBlocksAPI); the pure functions
	// (BuildDatabase, CredentialSecretName, ConnectionURL) read empty as
	// KubeBlocksV1Alpha1.
	API KubeBlocksAPI
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
	// TerminationPolicy is the Cluster's spec.terminationPolicy, what KubeBlocks
	// removes with it; empty means DefaultTerminationPolicy. Both generations
	// know DoNotTerminate, Delete and WipeOut; v1alpha1 also Halt.
	TerminationPolicy string
}

// api returns the spec's API generation, KubeBlocksV1Alpha1 when empty.
func (s DatabaseSpec) api() KubeBlocksAPI {
	if s.API == "" {
		return KubeBlocksV1Alpha1
	}
	return s.API
}

// CredentialSecretName returns the name of the Secret KubeBlocks writes the
// database's connection credentials to: "<name>-conn-credential" for
// KubeBlocksV1Alpha1, the postgres system account's
// "<name>-postgresql-account-postgres" for KubeBlocksV1.
func (s DatabaseSpec) CredentialSecretName() string {
	if s.api() == KubeBlocksV1 {
		return s.Name + "-" + DatabaseComponent + "-account-" + DatabaseAccount
	}
	return s.Name + "-conn-credential"
}

// ConnectionURL builds the database's URL,
// postgresql://user:password@host:port/postgres, from the data of the Secret
// CredentialSecretName names, escaping the user name and password. A
// KubeBlocksV1 account Secret holds only the user name and password: the host
// is then the component's Service, "<name>-postgresql-postgresql.<namespace>.svc",
// on DatabasePort (a host or port key in the Secret wins). It returns
// ErrNotReady when a key is missing or empty. The URL holds a password: do not
// log it.
func (s DatabaseSpec) ConnectionURL(data map[string][]byte) (string, error) {
	if s.api() == KubeBlocksV1 {
		filled := map[string][]byte{
			CredentialHost: []byte(s.Name + "-" + DatabaseComponent + "-" + DatabaseComponent + "." + s.Namespace + ".svc"),
			CredentialPort: []byte(strconv.Itoa(DatabasePort)),
		}
		for k, v := range data {
			if len(v) > 0 {
				filled[k] = v
			}
		}
		data = filled
	}
	return ConnectionURLOf(data)
}

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
	if s.API != "" && !s.API.valid() {
		errs = append(errs, fmt.Errorf("KubeBlocks API %q: want %q or %q", s.API, KubeBlocksV1Alpha1, KubeBlocksV1))
	}
	if p := s.TerminationPolicy; p != "" && !slices.Contains(terminationPolicies[s.api()], p) {
		errs = append(errs, fmt.Errorf("termination policy %q: want one of %v", p, terminationPolicies[s.api()]))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("database %q: %w: %w", s.Name, ErrInvalidSpec, errors.Join(errs...))
}

// terminationPolicies are the spec.terminationPolicy values each generation's
// schema allows.
var terminationPolicies = map[KubeBlocksAPI][]string{
	KubeBlocksV1Alpha1: {"DoNotTerminate", "Halt", "Delete", "WipeOut"},
	KubeBlocksV1:       {"DoNotTerminate", "Delete", "WipeOut"},
}

// BuildDatabase renders spec into a KubeBlocks Cluster of spec.API (see
// KubeBlocksAPI for what differs). It does no I/O and no validation; empty
// optional fields take their defaults. Equal specs give equal objects.
func BuildDatabase(spec DatabaseSpec) *unstructured.Unstructured {
	api := spec.api()
	replicas := int64(1)
	if spec.Stopped && api == KubeBlocksV1Alpha1 {
		replicas = 0
	}
	policy := spec.TerminationPolicy
	if policy == "" {
		policy = DefaultTerminationPolicy
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

	component := map[string]any{
		"name":      DatabaseComponent,
		"replicas":  replicas,
		"resources": resources,
		"volumeClaimTemplates": []any{map[string]any{
			"name": DataVolume,
			"spec": pvcSpec,
		}},
	}
	clusterSpec := map[string]any{
		"terminationPolicy": policy,
		"componentSpecs":    []any{component},
	}
	switch api {
	case KubeBlocksV1:
		clusterSpec["clusterDef"] = ClusterDefinition
		clusterSpec["topology"] = DatabaseTopology
		component["serviceVersion"] = DatabaseServiceVersion
		// KubeBlocks' PostgreSQL add-on has Patroni find its members by this
		// label, whose value must be "<cluster>-<component>".
		component["labels"] = map[string]any{patroniScopeLabel: spec.Name + "-" + DatabaseComponent}
		// Stated when running too: componentSpecs is an atomic list, whose
		// managedFields entry does not say which element fields fsa owns, so
		// a stop dropped from the configuration would not read as a change
		// (UpToDate); stop: false does, and KubeBlocks reads it as running.
		component["stop"] = spec.Stopped
	default:
		clusterSpec["clusterDefinitionRef"] = ClusterDefinition
		clusterSpec["clusterVersionRef"] = ClusterVersion
		component["componentDefRef"] = DatabaseComponent
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": api.GVR().GroupVersion().String(),
		"kind":       "Cluster",
		"metadata": map[string]any{
			"name":        spec.Name,
			"namespace":   spec.Namespace,
			"labels":      stringMap(objectLabels(spec.Name, spec.Project, ComponentDatabase)),
			"annotations": stringMap(epochAnnotations(spec.Epoch)),
		},
		"spec": clusterSpec,
	}}
}

// patroniScopeLabel is the component label KubeBlocks 1.x's PostgreSQL add-on
// requires (see BuildDatabase).
const patroniScopeLabel = "apps.kubeblocks.postgres.patroni/scope"

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
