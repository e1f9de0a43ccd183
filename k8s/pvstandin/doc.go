// Package pvstandin is a STAND-IN for a dynamic volume provisioner, for tests and local
// development only: it provisions PersistentVolumes for claims of kwok's StorageClass
// (kwok-volume) on the local control plane from k8s/k8stest. kwok can do this through its
// pvc-provision Stage, but kwok plays Stages of PersistentVolumeClaims one at a time, which caps
// how fast volume-backed pods (every sandbox has a home volume) can start; this package does the
// same work with parallel workers. Nothing in production uses it; a real cluster has a CSI
// provisioner.
//
// # Contract
//
// Run watches PersistentVolumeClaims in every namespace until ctx ends. For each claim of
// Options.StorageClass that is not being deleted, has no spec.volumeName and is not Bound, it
// does what kwok's pvc-provision Stage does, with the same names and fields:
//
//   - creates the PersistentVolume "pvc-<claim uid>": the claim's access modes, volume mode and
//     requested capacity, reclaim policy Delete, the StorageClass, a claimRef to the claim (with
//     its uid), a hostPath source that nothing mounts, and the annotation
//     pv.kubernetes.io/provisioned-by naming the class's provisioner;
//   - binds the claim to it: spec.volumeName, the bind-completed and storage-provisioner
//     annotations, then status.phase Bound with the capacity and access modes.
//
// kube-controller-manager's PersistentVolume controller then sees a bound pair and marks the
// volume Bound; releasing and deleting volumes stays with kwok's pvc-delete and pv-delete Stages
// and the PersistentVolume controller. Sync is level-based and idempotent (an existing volume of
// that name is reused), so a restarted stand-in, or kwok's own Stage racing it, converge on the
// same objects. Run exactly one stand-in per cluster.
package pvstandin
