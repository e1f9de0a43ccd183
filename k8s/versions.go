package k8s

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file is the single place where versions and resource defaults live.
// Nothing else in the repository should spell an image tag or a KubeBlocks
// version.

const (
	// RuntimeImageRepository is the repository of the sandbox runtime image.
	RuntimeImageRepository = "docker.io/fullstackagent/fullstack-web-runtime"

	// RuntimeImageTag is the tag of the runtime image this release runs. It must
	// equal the contents of runtime/VERSION; a test checks that it does.
	RuntimeImageTag = "v0.2.0"

	// RuntimeImage is the default runtime image reference; fsad's --sandbox-image
	// (reconcile.Config.RuntimeImage) chooses another.
	RuntimeImage = RuntimeImageRepository + ":" + RuntimeImageTag
)

// KubeBlocks identifiers of the PostgreSQL engine a database runs.
const (
	// ClusterDefinition is the KubeBlocks ClusterDefinition a database uses.
	ClusterDefinition = "postgresql"
	// ClusterVersion is the KubeBlocks ClusterVersion a database uses.
	ClusterVersion = "postgresql-14.8.0"
	// DatabaseComponent is the name (and, in v1alpha1, componentDefRef) of the
	// single PostgreSQL component of a database cluster.
	DatabaseComponent = "postgresql"
	// DatabaseTopology is the ClusterDefinition's topology a KubeBlocks 1.x
	// database uses.
	DatabaseTopology = "replication"
	// DatabaseServiceVersion is the PostgreSQL version a KubeBlocks 1.x
	// database asks for (componentSpecs[].serviceVersion); the same release
	// ClusterVersion names for 0.9.
	DatabaseServiceVersion = "14.8.0"
	// DatabaseAccount is the system account whose credentials DATABASE_URL
	// carries.
	DatabaseAccount = "postgres"
	// DatabasePort is PostgreSQL's port on the component's Service, and the port a restricted
	// egress still lets a sandbox reach on its database's pods.
	DatabasePort = 5432
	// DefaultTerminationPolicy is a Cluster's terminationPolicy when a spec
	// names none: KubeBlocks deletes the volumes and Secrets with the Cluster.
	DefaultTerminationPolicy = "Delete"
)

// Ports the runtime image listens on.
const (
	// AppPort serves the user's application.
	AppPort = 3000
	// TerminalPort serves the ttyd web terminal.
	TerminalPort = 7681
)

// Sandbox defaults, used when a SandboxSpec leaves the field empty. They are
// functions so that every caller gets its own copy of the maps.

// DefaultSandboxResources returns the runtime container's default requests
// and limits.
func DefaultSandboxResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("200m"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("2"),
			corev1.ResourceMemory: resource.MustParse("4Gi"),
		},
	}
}

// DefaultHomeSize returns the default size of a sandbox's home volume.
func DefaultHomeSize() resource.Quantity { return resource.MustParse("10Gi") }

// DefaultDatabaseResources returns the PostgreSQL component's default
// requests and limits.
func DefaultDatabaseResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1"),
			corev1.ResourceMemory: resource.MustParse("1Gi"),
		},
	}
}

// DefaultDatabaseSize returns the default size of a database's data volume.
func DefaultDatabaseSize() resource.Quantity { return resource.MustParse("3Gi") }

// Ingress defaults.
const (
	// DefaultIngressClass is the ingress class used when a spec names none.
	DefaultIngressClass = "nginx"
)

// Client defaults: a reconcile pass issues bursts of small requests per user,
// so the client-go defaults (5 QPS, burst 10) are raised.
const (
	DefaultQPS   float32 = 50
	DefaultBurst int     = 100
)
