package k8s

import (
	"errors"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Names inside a sandbox's objects.
const (
	// ContainerName is the name of the runtime container.
	ContainerName = "sandbox"
	// HomeVolume is the name of the home volumeClaimTemplate; the claim of
	// pod 0 is "home-<name>-0".
	HomeVolume = "home"
	// HomePath is where the home volume is mounted.
	HomePath = "/home/agent"
	// RuntimeUID is the user and group the runtime runs as.
	RuntimeUID int64 = 1001
)

// SandboxSpec is the desired state of one sandbox: a StatefulSet running the
// runtime image, a Service, and two Ingresses (application and terminal), or
// one (terminal) when the application is private.
type SandboxSpec struct {
	// Name names the StatefulSet and the Service; the Ingresses are
	// Name+"-app" and Name+"-terminal". At most 52 characters (a StatefulSet's
	// pod labels must stay within 63), a DNS-1123 label.
	Name string
	// Namespace is the user's namespace. Managers set it from the Client.
	Namespace string
	// Project is the project's Kubernetes name, recorded in a label.
	Project string
	// Epoch is the fencing epoch of the writer, recorded in AnnotationEpoch
	// by the writes that change the object (an epoch alone is no change).
	Epoch uint64
	// Stopped asks for zero replicas; the home volume is kept.
	Stopped bool

	// Image is the runtime image; empty means RuntimeImage.
	Image string
	// Env is the non-secret environment of the runtime container, literal in
	// the pod spec. With SecretEnv and LiveKeys it is the complete
	// environment: variables absent from all three are removed from the
	// sandbox.
	Env map[string]string
	// SecretEnv are the variables whose values are secret. They live in the
	// sandbox's Secret (SecretName) and the container reads them through
	// secretKeyRef: no value is literal in the pod spec. A change of a value
	// rolls the pod (AnnotationSecretChecksum), unless its key is live. A key
	// may not be in both Env and SecretEnv.
	SecretEnv map[string]string
	// LiveKeys are secret variables delivered to the running sandbox without
	// a restart: mounted as files in LiveEnvPath (the runtime's shells read
	// them) and in the environment from the pod's next start (an optional
	// secretKeyRef, so the pod starts without a value still unknown). Their
	// values, if known, are in SecretEnv; their changes restart nothing.
	LiveKeys []string
	// StatefulSetUID is the UID of the sandbox's StatefulSet once it exists:
	// the Secret and NetworkPolicy name it as their owner, so garbage
	// collection removes them with it. The managers fill it in.
	StatefulSetUID types.UID
	// Network is the sandbox's NetworkPolicy; nil writes none.
	Network *NetworkSpec
	// Resources of the runtime container; empty means
	// DefaultSandboxResources().
	Resources corev1.ResourceRequirements
	// HomeSize is the size of the home volume; zero means DefaultHomeSize().
	// A StatefulSet's volumeClaimTemplates cannot change after creation (the
	// API server refuses it), so a larger HomeSize for an existing sandbox
	// grows its home volume claim instead (volume expansion: the claim's
	// StorageClass must have allowVolumeExpansion), before the StatefulSet is
	// written with the new size in AnnotationHomeSize. A smaller one leaves
	// the claim as it is: volumes never shrink.
	HomeSize resource.Quantity
	// ClaimTemplateSize is the storage request of the existing StatefulSet's
	// home volumeClaimTemplate, which must be stated unchanged; zero for a new
	// StatefulSet (the template then asks for HomeSize). The managers fill it
	// in from the live StatefulSet.
	ClaimTemplateSize resource.Quantity
	// StorageClassName of the home volume; empty means the cluster default.
	StorageClassName string

	// Domain is the parent domain of both ingress hosts.
	Domain string
	// AppHostLabel and TerminalHostLabel are the first DNS labels of the
	// application and terminal hosts (the caller generates them).
	AppHostLabel      string
	TerminalHostLabel string
	// IngressClassName; empty means DefaultIngressClass.
	IngressClassName string
	// TLSSecretName, if set, is the TLS secret of both ingresses.
	TLSSecretName string
	// PrivateApp publishes no application Ingress: the application is reached
	// only through fsa's private preview (pods/portforward). The managers
	// delete an application Ingress fsa made before (level-based: switching
	// back and forth converges). The zero value publishes it.
	PrivateApp bool
}

// homeSize returns HomeSize, or DefaultHomeSize() when zero.
func (s SandboxSpec) homeSize() resource.Quantity {
	if s.HomeSize.IsZero() {
		return DefaultHomeSize()
	}
	return s.HomeSize
}

// AppHost returns the application's public host name.
func (s SandboxSpec) AppHost() string { return s.AppHostLabel + "." + s.Domain }

// TerminalHost returns the terminal's public host name.
func (s SandboxSpec) TerminalHost() string { return s.TerminalHostLabel + "." + s.Domain }

// AppIngressName returns the name of the application Ingress.
func (s SandboxSpec) AppIngressName() string { return s.Name + "-app" }

// TerminalIngressName returns the name of the terminal Ingress.
func (s SandboxSpec) TerminalIngressName() string { return s.Name + "-terminal" }

// maxSandboxName keeps "<name>-<controller-revision-hash>" within 63.
const maxSandboxName = 52

// Validate reports what is wrong with the spec, wrapping ErrInvalidSpec.
func (s SandboxSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		bad("name %q: %v", s.Name, msgs)
	} else if len(s.Name) > maxSandboxName {
		bad("name %q: longer than %d characters", s.Name, maxSandboxName)
	}
	if s.Namespace == "" {
		bad("empty namespace")
	}
	if msgs := validation.IsValidLabelValue(s.Project); len(msgs) > 0 || s.Project == "" {
		bad("project %q: not a label value", s.Project)
	}
	for _, l := range []string{s.AppHostLabel, s.TerminalHostLabel} {
		if msgs := validation.IsDNS1123Label(l); len(msgs) > 0 {
			bad("host label %q: %v", l, msgs)
		}
	}
	if s.AppHostLabel == s.TerminalHostLabel {
		bad("application and terminal host labels are both %q", s.AppHostLabel)
	}
	if msgs := validation.IsDNS1123Subdomain(s.Domain); len(msgs) > 0 {
		bad("domain %q: %v", s.Domain, msgs)
	}
	for k := range s.Env {
		if msgs := validation.IsEnvVarName(k); len(msgs) > 0 {
			bad("env %q: %v", k, msgs)
		}
	}
	s.validateSecurity(bad)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("sandbox %q: %w: %w", s.Name, ErrInvalidSpec, errors.Join(errs...))
}

// SandboxObjects are the objects of one sandbox, in apply order.
type SandboxObjects struct {
	// Secret holds the secret variables; it is applied before the
	// StatefulSet whose pod reads it.
	Secret      *corev1.Secret
	StatefulSet *appsv1.StatefulSet
	Service     *corev1.Service
	// AppIngress is nil when the application is private (SandboxSpec.PrivateApp).
	AppIngress      *networkingv1.Ingress
	TerminalIngress *networkingv1.Ingress
	// NetworkPolicy is nil when the spec asks for none.
	NetworkPolicy *networkingv1.NetworkPolicy
}

// BuildSandbox renders spec into objects. It does no I/O and no validation
// (see Validate); empty optional fields take their defaults. Equal specs give
// equal objects.
func BuildSandbox(spec SandboxSpec) SandboxObjects {
	labels := func() map[string]string { return objectLabels(spec.Name, spec.Project, ComponentSandbox) }
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:        name,
			Namespace:   spec.Namespace,
			Labels:      labels(),
			Annotations: epochAnnotations(spec.Epoch),
		}
	}
	objs := SandboxObjects{
		Secret:          buildSecret(spec, meta(spec.SecretName())),
		StatefulSet:     buildStatefulSet(spec, meta(spec.Name), labels),
		Service:         buildService(spec, meta(spec.Name)),
		TerminalIngress: buildIngress(spec, meta(spec.TerminalIngressName()), spec.TerminalHost(), TerminalPort, terminalIngressAnnotations),
		NetworkPolicy:   buildNetworkPolicy(spec, meta(spec.NetworkPolicyName())),
	}
	if !spec.PrivateApp {
		objs.AppIngress = buildIngress(spec, meta(spec.AppIngressName()), spec.AppHost(), AppPort, appIngressAnnotations)
	}
	return objs
}

func buildStatefulSet(spec SandboxSpec, meta metav1.ObjectMeta, labels func() map[string]string) *appsv1.StatefulSet {
	replicas := int32(1)
	if spec.Stopped {
		replicas = 0
	}
	image := spec.Image
	if image == "" {
		image = RuntimeImage
	}
	res := spec.Resources
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = DefaultSandboxResources()
	}
	size := spec.homeSize()
	meta.Annotations[AnnotationHomeSize] = size.String()
	if !spec.ClaimTemplateSize.IsZero() {
		size = spec.ClaimTemplateSize
	}
	var storageClass *string
	if spec.StorageClassName != "" {
		storageClass = ptr(spec.StorageClassName)
	}
	claimMeta := metav1.ObjectMeta{Name: HomeVolume, Labels: labels()}
	volumes, liveMounts := liveEnvVolumes(spec)

	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:             &replicas,
			ServiceName:          spec.Name,
			Selector:             &metav1.LabelSelector{MatchLabels: podSelector(spec.Name)},
			PodManagementPolicy:  appsv1.ParallelPodManagement,
			RevisionHistoryLimit: ptr(int32(3)),
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(),
					Annotations: map[string]string{AnnotationSecretChecksum: secretChecksum(spec)},
				},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  ptr(false),
					EnableServiceLinks:            ptr(false),
					TerminationGracePeriodSeconds: ptr(int64(10)),
					SecurityContext:               podSecurityContext(),
					Volumes:                       volumes,
					Containers: []corev1.Container{{
						Name:            ContainerName,
						Image:           image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports: []corev1.ContainerPort{
							{Name: "app", ContainerPort: AppPort, Protocol: corev1.ProtocolTCP},
							{Name: "terminal", ContainerPort: TerminalPort, Protocol: corev1.ProtocolTCP},
						},
						Env:             containerEnv(spec),
						Resources:       res,
						SecurityContext: containerSecurityContext(),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(TerminalPort)}},
							InitialDelaySeconds: 2,
							PeriodSeconds:       5,
							TimeoutSeconds:      2,
							FailureThreshold:    3,
						},
						VolumeMounts: append([]corev1.VolumeMount{{Name: HomeVolume, MountPath: HomePath}}, liveMounts...),
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: claimMeta,
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: storageClass,
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: size},
					},
				},
			}},
		},
	}
}

// podSelector selects a sandbox's pods. It names the component too, because
// a project's database usually shares the sandbox's name.
func podSelector(name string) map[string]string {
	return map[string]string{LabelApp: name, LabelComponent: ComponentSandbox}
}

// envVars returns env sorted by name, so equal maps give equal lists.
func envVars(env map[string]string) []corev1.EnvVar {
	if len(env) == 0 {
		return nil
	}
	out := make([]corev1.EnvVar, 0, len(env))
	for k, v := range env {
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func buildService(spec SandboxSpec, meta metav1.ObjectMeta) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: podSelector(spec.Name),
			Ports: []corev1.ServicePort{
				{Name: "app", Port: AppPort, TargetPort: intstr.FromInt32(AppPort), Protocol: corev1.ProtocolTCP},
				{Name: "terminal", Port: TerminalPort, TargetPort: intstr.FromInt32(TerminalPort), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// Annotations for ingress-nginx. The terminal is one long-lived websocket,
// so its timeouts are an hour; the application gets generous defaults that
// still suit a development server's hot-reload socket.
var (
	appIngressAnnotations = map[string]string{
		"nginx.ingress.kubernetes.io/backend-protocol":   "HTTP",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "32m",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
		"nginx.ingress.kubernetes.io/proxy-send-timeout": "300",
	}
	terminalIngressAnnotations = map[string]string{
		"nginx.ingress.kubernetes.io/backend-protocol":   "HTTP",
		"nginx.ingress.kubernetes.io/proxy-body-size":    "32m",
		"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
		"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
	}
)

func buildIngress(spec SandboxSpec, meta metav1.ObjectMeta, host string, port int32, annotations map[string]string) *networkingv1.Ingress {
	for k, v := range annotations {
		meta.Annotations[k] = v
	}
	class := spec.IngressClassName
	if class == "" {
		class = DefaultIngressClass
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: meta,
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: spec.Name,
							Port: networkingv1.ServiceBackendPort{Number: port},
						}},
					}},
				}},
			}},
		},
	}
	if spec.TLSSecretName != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: spec.TLSSecretName}}
	}
	return ing
}

func ptr[T any](v T) *T { return &v }
