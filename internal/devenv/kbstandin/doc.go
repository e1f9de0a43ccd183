// Package kbstandin is a STAND-IN for the KubeBlocks operator, for tests and local development
// only. Real KubeBlocks cannot run here (it needs container images, a kubelet and a database
// engine), so this package plays the part of its Cluster controller on the local control plane
// from internal/devenv/k8stest: it moves a Cluster's status.phase the way KubeBlocks does and writes the
// connection Secret. It starts no database and creates no pods; nothing in production uses it.
//
// # Contract
//
// Run watches clusters.apps.kubeblocks.io/v1alpha1 in every namespace until ctx ends. For each
// Cluster it:
//
//   - adds its finalizer (Finalizer) so it sees deletions;
//   - writes the Secret "<cluster>-conn-credential" if it is missing: keys host
//     ("<cluster>-postgresql.<namespace>.svc"), port ("5432"), username ("postgres") and password
//     (random), owned by the Cluster (so the garbage collector deletes it with the Cluster);
//   - moves status.phase, each transitional phase lasting Options.Delay:
//     new → Creating → Running; every spec.componentSpecs[*].replicas 0 → Stopping → Stopped;
//     replicas raised again → Updating → Running; deleted → Deleting, then the finalizer is
//     removed and the Cluster disappears;
//   - sets status.observedGeneration to the metadata.generation the phase was computed from.
//
// Sync is level-based and idempotent: a restarted stand-in picks up where the last one stopped.
// Run exactly one stand-in per cluster.
package kbstandin
