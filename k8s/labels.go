package k8s

import "strconv"

// Labels and annotations put on every object this package writes.
const (
	// LabelManagedBy marks objects written by fsa; informers select on it
	// (see ManagedSelector).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "fsa"
	// LabelComponent says which kind of project resource an object belongs to:
	// ComponentSandbox or ComponentDatabase.
	LabelComponent = "app.kubernetes.io/component"
	// LabelApp carries the resource name; it is the sandbox pods' selector.
	LabelApp = "app"
	// LabelProject carries the project's Kubernetes name.
	LabelProject = "project.fullstackagent.io/name"
	// LabelDeployManager carries the resource name for the Sealos console.
	LabelDeployManager = "cloud.sealos.io/app-deploy-manager"

	// AnnotationEpoch records the fencing epoch of the last write that
	// changed the object. A write always states the writer's epoch, but the
	// annotation alone is never a reason to write (see UpToDate and "The epoch
	// annotation" in the package documentation).
	AnnotationEpoch = "fsa.fullstackagent.io/epoch"
	// AnnotationHomeSize, on a sandbox's StatefulSet, is the size its home volume claims were
	// last grown to (SandboxSpec.HomeSize): the StatefulSet's volumeClaimTemplates cannot
	// change, so a larger size is carried out on the claims themselves (volume expansion) and
	// recorded here, where a change is a change of the StatefulSet that plans the expansion.
	AnnotationHomeSize = "fsa.fullstackagent.io/home-size"

	// ComponentSandbox is the LabelComponent value of sandbox objects.
	ComponentSandbox = "sandbox"
	// ComponentDatabase is the LabelComponent value of database objects.
	ComponentDatabase = "database"

	// FieldManager is the one server-side apply field manager fsa writes with.
	FieldManager = "fsa"
)

// ManagedSelector is the label selector matching every object fsa writes.
const ManagedSelector = LabelManagedBy + "=" + ManagedByValue

// objectLabels returns the labels of every object of a project resource.
func objectLabels(name, project, component string) map[string]string {
	return map[string]string{
		LabelApp:           name,
		LabelDeployManager: name,
		LabelProject:       project,
		LabelManagedBy:     ManagedByValue,
		LabelComponent:     component,
	}
}

func epochAnnotations(epoch uint64) map[string]string {
	return map[string]string{AnnotationEpoch: strconv.FormatUint(epoch, 10)}
}
