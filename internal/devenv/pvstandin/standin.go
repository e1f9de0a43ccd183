package pvstandin

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Defaults of Options.
const (
	// DefaultStorageClass is kwok's volume StorageClass (kwok's kustomize/stage/volume).
	DefaultStorageClass = "kwok-volume"
	// DefaultProvisioner is the provisioner that StorageClass names.
	DefaultProvisioner = "kwok.x-k8s.io/volume"
	// DefaultWorkers is how many claims are provisioned in parallel.
	DefaultWorkers = 8
)

// Annotations: AnnProvisionedBy is written on provisioned volumes; the PersistentVolume
// controller writes AnnBindCompleted on the claims it binds.
const (
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
)

// Options tune Run. The zero value is ready to use.
type Options struct {
	// StorageClass whose claims are provisioned. Default DefaultStorageClass.
	StorageClass string
	// Provisioner recorded on volumes and claims. Default DefaultProvisioner.
	Provisioner string
	// Workers is the number of claims provisioned in parallel. Default DefaultWorkers.
	Workers int
	// Logf, if set, receives one line per sync error.
	Logf func(format string, args ...any)
}

// VolumeName is the name of the PersistentVolume provisioned for the claim with this uid.
func VolumeName(claimUID types.UID) string { return "pvc-" + string(claimUID) }

// Run provisions volumes (see the package doc) until ctx ends, then stops its workers and
// informer, waits for them and returns nil. It returns an error only if it cannot start.
func Run(ctx context.Context, kube kubernetes.Interface, opts Options) error {
	if opts.StorageClass == "" {
		opts.StorageClass = DefaultStorageClass
	}
	if opts.Provisioner == "" {
		opts.Provisioner = DefaultProvisioner
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	factory := informers.NewSharedInformerFactory(kube, 0)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "pvstandin"})
	p := &provisioner{opts: opts, kube: kube, queue: queue, lister: claims.Lister(), volumes: volumes.Lister()}
	enqueue := func(obj any) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && p.wants(pvc) {
			if key, err := cache.MetaNamespaceKeyFunc(pvc); err == nil {
				queue.Add(key)
			}
		}
	}
	if _, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		queue.ShutDown()
		return fmt.Errorf("pvstandin: watch claims: %w", err)
	}
	factory.Start(ctx.Done())

	var wg sync.WaitGroup
	if cache.WaitForCacheSync(ctx.Done(), claims.Informer().HasSynced, volumes.Informer().HasSynced) {
		for range opts.Workers {
			wg.Go(func() { p.work(ctx) })
		}
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	factory.Shutdown()
	return nil
}

type provisioner struct {
	opts    Options
	kube    kubernetes.Interface
	queue   workqueue.TypedRateLimitingInterface[string]
	lister  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
}

// wants reports whether the claim still needs a volume from this stand-in.
func (p *provisioner) wants(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName == p.opts.StorageClass &&
		pvc.DeletionTimestamp == nil && pvc.Spec.VolumeName == "" && pvc.Status.Phase != corev1.ClaimBound
}

func (p *provisioner) work(ctx context.Context) {
	for {
		key, quit := p.queue.Get()
		if quit {
			return
		}
		if err := p.sync(ctx, key); err != nil {
			if ctx.Err() == nil {
				p.opts.Logf("pvstandin: provision %s: %v", key, err)
			}
			p.queue.AddRateLimited(key)
		} else {
			p.queue.Forget(key)
		}
		p.queue.Done(key)
	}
}

func (p *provisioner) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil //nolint:nilerr // a malformed key never becomes valid
	}
	pvc, err := p.lister.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !p.wants(pvc) {
		return nil
	}
	pvName := VolumeName(pvc.UID)
	if _, err := p.volumes.Get(pvName); err == nil {
		return nil // provisioned; the PersistentVolume controller binds it
	}
	if _, err := p.kube.CoreV1().PersistentVolumes().Create(ctx, p.volumeFor(pvc), metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create volume %s: %w", pvName, err)
	}
	return nil
}

// volumeFor is the volume kwok's pvc-provision Stage would create for the claim.
func (p *provisioner) volumeFor(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	mode := corev1.PersistentVolumeFilesystem
	if pvc.Spec.VolumeMode != nil {
		mode = *pvc.Spec.VolumeMode
	}
	hostPathType := corev1.HostPathDirectoryOrCreate
	name := VolumeName(pvc.UID)
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{AnnProvisionedBy: p.opts.Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:                   pvc.Spec.AccessModes,
			Capacity:                      pvc.Spec.Resources.Requests,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.opts.StorageClass,
			VolumeMode:                    &mode,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/tmp/kwok-local-path-provisioner/" + name, Type: &hostPathType,
			}},
		},
	}
}
