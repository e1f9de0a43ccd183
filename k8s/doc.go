// Package k8s is fsa's only door to Kubernetes: it turns a sandbox or
// database spec into Kubernetes objects, applies them with a user's own
// credentials, and maps what the cluster reports back onto fsa's states.
//
// # Clients
//
// Every call runs as a user, through a Client built from that user's
// kubeconfig and bound to the namespace of its current context. Clients
// caches one Client per user and rebuilds it when the kubeconfig changes.
// Kubeconfigs come from users and run on the server's machine, so only
// self-contained ones are accepted: no exec or auth-provider plugins, no
// local file references (ErrInvalidKubeconfig); none at all is
// ErrNoKubeconfig.
//
// # Builders
//
// BuildSandbox and BuildDatabase are pure: a spec in, typed (or, for the
// KubeBlocks Cluster, unstructured) objects out, no I/O. A sandbox is a
// one-replica StatefulSet running the runtime image (ports AppPort and
// TerminalPort, home volume at HomePath kept on scale-down and delete), a
// Service, and two Ingresses on caller-chosen hosts. A database is a
// KubeBlocks apps.kubeblocks.io/v1alpha1 Cluster of ClusterDefinition and
// ClusterVersion. Every object carries the labels of labels.go
// (ManagedSelector selects them all) and the writer's fencing epoch in
// AnnotationEpoch. Versions and defaults live in versions.go alone.
//
// # Managers
//
// SandboxManager and DatabaseManager take ctx first and a *Client, and are
// idempotent. Writes are server-side applies of the complete objects under
// the single field manager FieldManager, with force: applying the same spec
// twice writes nothing (the resourceVersion stays), and a field dropped from
// the spec (such as an environment variable) is removed from the object.
// Status calls never fail because an object is missing: that is
// StateTerminated.
//
// A caller that keeps informer caches of the namespace can instead ask
// SandboxManager.Plan / DatabaseManager.Plan for only the objects that differ
// from the cached ones (UpToDate applies server-side apply's no-op rule) and
// send them with ApplyPlan: concurrently, without the GET that Apply makes
// first. plan.go says what trusting the cache costs.
//
// # Errors
//
// Errors wrap the sentinels of errors.go (ErrNotFound, ErrConflict,
// ErrForbidden, ...), test them with errors.Is. API errors keep the original
// *apierrors.StatusError in the chain. No error quotes a kubeconfig, token or
// password.
package k8s
