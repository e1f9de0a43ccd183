// Package kbstandin is a STAND-IN for the KubeBlocks operator, for tests and local development
// only. Real KubeBlocks cannot run here (it needs container images, a kubelet and a database
// engine), so this package plays the part of its Cluster controller on the local control plane
// from internal/devenv/k8stest: it moves a Cluster's status.phase the way KubeBlocks does and writes the
// connection Secret. It starts no database and creates no pods; nothing in production uses it.
//
// # Contract
//
// Run watches KubeBlocks Clusters in every namespace until ctx ends, in the API generation
// Options.API names (V1Alpha1, KubeBlocks 0.9; V1, KubeBlocks 1.x; by default the one the cluster
// serves, Discover). For each Cluster it:
//
//   - adds its finalizer (Finalizer) so it sees deletions;
//   - writes its connection Secrets if they are missing, owned by the Cluster (so the garbage
//     collector deletes them with it), labelled app.kubernetes.io/managed-by=kubeblocks and
//     app.kubernetes.io/instance=<cluster>: for V1Alpha1 "<cluster>-conn-credential" with keys
//     host ("<cluster>-postgresql.<namespace>.svc"), port ("5432"), username ("postgres") and
//     password (random); for V1, per component, the system account's
//     "<cluster>-<component>-account-postgres" with username and password only, as KubeBlocks
//     1.x does;
//   - moves status.phase, each transitional phase lasting Options.Delay:
//     new → Creating → Running; every spec.componentSpecs[*] stopped (replicas 0, or stop: true) →
//     Stopping → Stopped;
//     replicas raised again → Updating → Running; deleted → Deleting, then the finalizer is
//     removed and the Cluster disappears;
//   - sets status.observedGeneration to the metadata.generation the phase was computed from.
//
// Sync is level-based and idempotent: a restarted stand-in picks up where the last one stopped.
// Run exactly one stand-in per cluster.
package kbstandin
