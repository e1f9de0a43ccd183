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
// Secret of its secret variables, a Service, two Ingresses on caller-chosen
// hosts (one, the terminal's, with SandboxSpec.PrivateApp) and, optionally, a
// NetworkPolicy; its pod passes the Pod Security
// Standards profile "restricted" (see sandboxsecurity.go). A database is a
// KubeBlocks Cluster in the API generation DatabaseSpec.API names (see
// KubeBlocksAPI): 0.9's apps.kubeblocks.io/v1alpha1 of ClusterDefinition and
// ClusterVersion, or 1.x's apps.kubeblocks.io/v1 of clusterDef, topology and
// serviceVersion. Every object carries the labels of labels.go
// (ManagedSelector selects them all) and the writer's fencing epoch in
// AnnotationEpoch (see "The epoch annotation"). Versions and defaults live in
// versions.go alone.
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
// # KubeBlocks generations
//
// Which Cluster API a user's cluster serves is found by discovery
// (Client.KubeBlocksAPI: v1 when apps.kubeblocks.io/v1 serves clusters, else
// v1alpha1), kept per Client for a while; DatabaseManager uses it whenever a
// spec names no generation. Each generation's connection Secret
// (DatabaseSpec.CredentialSecretName) maps onto the same URL
// (DatabaseSpec.ConnectionURL).
//
// Apply reads each object first, and sends nothing for an object already up
// to date (UpToDate).
//
// A caller that keeps informer caches of the namespace can instead ask
// SandboxManager.Plan / DatabaseManager.Plan for only the objects that differ
// from the cached ones (UpToDate applies server-side apply's no-op rule) and
// send them with ApplyPlan: concurrently, without the GET that Apply makes
// first. plan.go says what trusting the cache costs. For typed objects the
// comparison walks the desired and the live object side by side instead of
// converting both to maps (uptodate_typed.go); custom resources are compared
// in their unstructured form.
//
// # The epoch annotation
//
// AnnotationEpoch holds the fencing epoch of the last write that changed the
// object: every write states the writer's epoch (SandboxSpec.Epoch,
// DatabaseSpec.Epoch), but the annotation's value is never itself a reason to
// write. UpToDate, and so Plan and Apply, ignore it when the live object
// carries an epoch there, so a leadership change rewrites only the objects
// whose other fields differ (drift, or a changed desired state), and those
// writes carry the new epoch. An object whose annotation was removed or is not
// a number is not up to date, and is written.
//
// Epochs only grow (a new leader's is above every earlier one; restoring a
// backup into a new cluster is the exception, see docs/operations.md), so the
// annotation of an object only grows with each write: a write that would
// lower it comes from a deposed leader, and the optional admission policy of
// deploy/fencing, comparing the annotation of the old and the new object,
// rejects it (Forbidden). Without it, the caller's fencing keeps a deposed
// leader out (package reconcile re-reads the epoch, linearizably, before each
// write) except for one paused between that check and its write; a lowered
// annotation in an audit log is the trace of one that slipped through.
//
// # Errors
//
// Errors wrap the sentinels of errors.go (ErrNotFound, ErrConflict,
// ErrForbidden, ...), test them with errors.Is. API errors keep the original
// *apierrors.StatusError in the chain. No error quotes a kubeconfig, token or
// password.
package k8s
