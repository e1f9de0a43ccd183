// Package pvstandin is a STAND-IN for a dynamic volume provisioner, for tests and local
// development only: it provisions PersistentVolumes for claims of kwok's StorageClass
// (kwok-volume) on the local control plane from internal/devenv/k8stest. kwok can do this through its
// pvc-provision Stage, but kwok plays Stages of PersistentVolumeClaims one at a time, which caps
// how fast volume-backed pods (every sandbox has a home volume) can start; this package creates
// the volumes with parallel workers. Nothing in production uses it; a real cluster has a CSI
// provisioner.
//
// # Contract
//
// Run watches PersistentVolumeClaims and PersistentVolumes in every namespace until ctx ends.
// For each claim of Options.StorageClass that is not being deleted, has no spec.volumeName and
// is not Bound, it creates, as an external provisioner does, the PersistentVolume
// "pvc-<claim uid>" that kwok's pvc-provision Stage would: the claim's access modes, volume mode
// and requested capacity, reclaim policy Delete, the StorageClass, a claimRef to the claim (with
// its uid), a hostPath source that nothing mounts, and the annotation
// pv.kubernetes.io/provisioned-by naming the class's provisioner.
//
// kube-controller-manager's PersistentVolume controller then binds the claim to that volume (it
// is pre-bound to the claim), as it does for any external provisioner. The stand-in does not
// bind claims itself: a claim bound before that controller has seen the volume would be marked
// Lost by it. Releasing and deleting volumes stays with kwok's pvc-delete and pv-delete Stages
// and the PersistentVolume controller. Sync is level-based and idempotent (a volume that exists
// is left alone), so a restarted stand-in, or kwok's own Stage racing it, converge on the same
// objects. Run exactly one stand-in per cluster.
package pvstandin
