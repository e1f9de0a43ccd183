package k8s

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What a sandbox's pod is allowed, and what it keeps out of its spec.
//
// Secret values (the terminal token, DATABASE_URL, API keys, the user's variables marked
// secret: SandboxSpec.SecretEnv) never appear in the StatefulSet or its pods. They live in one
// Secret per sandbox (SecretName), owned by the StatefulSet so that garbage collection removes
// it with the sandbox, and the container reads them through secretKeyRef. Whoever may read
// StatefulSets and Pods but not Secrets sees the keys, never the values.
//
// A changed secret value reaches the running sandbox through AnnotationSecretChecksum on the pod
// template: a SHA-256 over the secret variables, so a change rolls the pod (env vars are read at
// container start) and an unchanged Secret leaves the template, and so the pod, alone. Keys in
// SandboxSpec.LiveKeys are the exception: they are left out of the checksum and also mounted as
// files in LiveEnvPath, which the runtime's shells read at every prompt, so a value that arrives
// or changes later (a new project's DATABASE_URL) reaches the open terminal without a restart;
// the environment variable follows at the pod's next start.
//
// The pod passes the Pod Security Standards profile "restricted": non-root uid, no privilege
// escalation, every capability dropped, the runtime's default seccomp profile, no service
// account token. runtime/README.md says what the image gives up for it (rootless Buildah).
//
// A NetworkPolicy per sandbox (SandboxSpec.Network) admits connections only from the ingress
// controller's namespaces and the project's own pods; egress is open unless
// NetworkSpec.RestrictEgress.

const (
	// AnnotationSecretChecksum, on the sandbox's pod template, is the SHA-256 of the secret
	// variables that take effect at container start (every key of SecretEnv not in LiveKeys).
	AnnotationSecretChecksum = "fsa.fullstackagent.io/secret-checksum"
	// LiveEnvPath is where the live secret variables (SandboxSpec.LiveKeys) are mounted, one
	// file per variable named after it.
	LiveEnvPath = "/run/fsa/env"
	// liveEnvVolume names the volume mounted at LiveEnvPath.
	liveEnvVolume = "fsa-live-env"
	// secretSuffix makes the Secret's name from the sandbox's.
	secretSuffix = "-env"
	// DefaultIngressNamespace is the namespace of the ingress controller a NetworkPolicy admits
	// when NetworkSpec.IngressNamespaces is empty.
	DefaultIngressNamespace = "ingress-nginx"
	// labelNamespaceName is the label the API server puts on every namespace, its name.
	labelNamespaceName = "kubernetes.io/metadata.name"
	// labelKubeBlocksInstance carries a KubeBlocks Cluster's name on its pods.
	labelKubeBlocksInstance = "app.kubernetes.io/instance"
)

// DefaultClusterCIDRs returns the ranges a restricted egress keeps the sandbox out of when
// NetworkSpec.ClusterCIDRs is empty: the private, shared, link-local (cloud metadata) and
// unique-local ranges, where pods, services and nodes usually live.
func DefaultClusterCIDRs() []string {
	return []string{"10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
		"fc00::/7", "fe80::/10"}
}

// NetworkSpec is the NetworkPolicy of a sandbox.
type NetworkSpec struct {
	// IngressNamespaces name the namespaces whose pods may connect to the sandbox: the ingress
	// controller's. Empty means DefaultIngressNamespace. The project's own pods (LabelProject)
	// in the sandbox's namespace may always connect.
	IngressNamespaces []string
	// RestrictEgress limits outgoing connections to: addresses outside ClusterCIDRs, DNS
	// (port 53) anywhere, the project's own pods, and its database's pods (DatabaseName) on
	// DatabasePort. Without it egress is open.
	RestrictEgress bool
	// ClusterCIDRs are the ranges a restricted egress excludes; DefaultClusterCIDRs() when empty.
	ClusterCIDRs []string
	// DatabaseName is the KubeBlocks Cluster of the project, if any: a restricted egress lets
	// the sandbox reach its pods.
	DatabaseName string
}

// SecretName returns the name of the sandbox's Secret.
func (s SandboxSpec) SecretName() string { return s.Name + secretSuffix }

// NetworkPolicyName returns the name of the sandbox's NetworkPolicy.
func (s SandboxSpec) NetworkPolicyName() string { return s.Name }

// validateSecurity adds the problems of the secret and network fields to bad.
func (s SandboxSpec) validateSecurity(bad func(string, ...any)) {
	for k := range s.SecretEnv {
		if msgs := validation.IsEnvVarName(k); len(msgs) > 0 {
			bad("secret env %q: %v", k, msgs)
		}
		if _, ok := s.Env[k]; ok {
			bad("env %q is both secret and not", k)
		}
	}
	for _, k := range s.LiveKeys {
		if msgs := validation.IsEnvVarName(k); len(msgs) > 0 {
			bad("live key %q: %v", k, msgs)
		}
		if _, ok := s.Env[k]; ok {
			bad("live key %q is also a non-secret variable", k)
		}
	}
	if s.Network == nil {
		return
	}
	for _, ns := range s.Network.IngressNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad("ingress namespace %q: %v", ns, msgs)
		}
	}
	for _, c := range s.Network.ClusterCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			bad("cluster CIDR %q: not a CIDR", c)
		}
	}
	if d := s.Network.DatabaseName; d != "" {
		if msgs := validation.IsValidLabelValue(d); len(msgs) > 0 {
			bad("database name %q: %v", d, msgs)
		}
	}
}

// isLive reports whether key is one of the spec's live keys.
func (s SandboxSpec) isLive(key string) bool {
	for _, k := range s.LiveKeys {
		if k == key {
			return true
		}
	}
	return false
}

// secretChecksum returns the SHA-256 (hex) of the secret variables that are read at container
// start: every key of SecretEnv that is not live, with its value, in key order.
func secretChecksum(spec SandboxSpec) string {
	keys := make([]string, 0, len(spec.SecretEnv))
	for k := range spec.SecretEnv {
		if !spec.isLive(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		// Lengths first, so that no two different maps hash the same bytes.
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(spec.SecretEnv[k]), spec.SecretEnv[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// containerEnv returns the container's environment in name order: the literal Env values, and
// a secretKeyRef for every secret and live key (optional for a live key, whose value may come
// later).
func containerEnv(spec SandboxSpec) []corev1.EnvVar {
	out := envVars(spec.Env)
	refs := map[string]bool{}
	for k := range spec.SecretEnv {
		refs[k] = spec.isLive(k)
	}
	for _, k := range spec.LiveKeys {
		refs[k] = true
	}
	for k, live := range refs {
		ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: spec.SecretName()}, Key: k}
		if live {
			ref.Optional = ptr(true)
		}
		out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil
	}
	return out
}

// liveEnvVolume returns the volume and mount of the live keys, or nothing when there are none.
// The files are readable by the runtime's group (fsGroup), not by others.
func liveEnvVolumes(spec SandboxSpec) ([]corev1.Volume, []corev1.VolumeMount) {
	if len(spec.LiveKeys) == 0 {
		return nil, nil
	}
	keys := append([]string(nil), spec.LiveKeys...)
	sort.Strings(keys)
	items := make([]corev1.KeyToPath, 0, len(keys))
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		items = append(items, corev1.KeyToPath{Key: k, Path: k})
	}
	vol := corev1.Volume{Name: liveEnvVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  spec.SecretName(),
		Items:       items,
		DefaultMode: ptr(int32(0o440)),
		// A live key's value may not exist yet: its file appears when it does.
		Optional: ptr(true),
	}}}
	return []corev1.Volume{vol}, []corev1.VolumeMount{{Name: liveEnvVolume, MountPath: LiveEnvPath, ReadOnly: true}}
}

// podSecurityContext and containerSecurityContext make the pod pass the Pod Security
// Standards profile "restricted".
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		RunAsUser:      ptr(RuntimeUID),
		RunAsGroup:     ptr(RuntimeUID),
		FSGroup:        ptr(RuntimeUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Privileged:               ptr(false),
		RunAsNonRoot:             ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// ownerReferences names the sandbox's StatefulSet as the owner of its Secret and NetworkPolicy,
// once its UID is known.
func ownerReferences(spec SandboxSpec) []metav1.OwnerReference {
	if spec.StatefulSetUID == "" {
		return nil
	}
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: spec.Name, UID: spec.StatefulSetUID}}
}

func buildSecret(spec SandboxSpec, meta metav1.ObjectMeta) *corev1.Secret {
	meta.OwnerReferences = ownerReferences(spec)
	var data map[string][]byte
	if len(spec.SecretEnv) > 0 {
		data = make(map[string][]byte, len(spec.SecretEnv))
		for k, v := range spec.SecretEnv {
			data[k] = []byte(v)
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

func buildNetworkPolicy(spec SandboxSpec, meta metav1.ObjectMeta) *networkingv1.NetworkPolicy {
	if spec.Network == nil {
		return nil
	}
	n := spec.Network
	meta.OwnerReferences = ownerReferences(spec)
	nss := n.IngressNamespaces
	if len(nss) == 0 {
		nss = []string{DefaultIngressNamespace}
	}
	nss = append([]string(nil), nss...)
	sort.Strings(nss)
	project := &metav1.LabelSelector{MatchLabels: map[string]string{LabelProject: spec.Project}}
	from := []networkingv1.NetworkPolicyPeer{{PodSelector: project}}
	for _, ns := range nss {
		from = append(from, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{labelNamespaceName: ns}}})
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta,
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podSelector(spec.Name)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from}},
		},
	}
	if n.RestrictEgress {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		np.Spec.Egress = restrictedEgress(spec, project)
	}
	return np
}

// restrictedEgress: DNS anywhere, the project's pods, its database, and everything outside the
// cluster's ranges.
func restrictedEgress(spec SandboxSpec, project *metav1.LabelSelector) []networkingv1.NetworkPolicyEgressRule {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	rules := []networkingv1.NetworkPolicyEgressRule{
		{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}}},
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: project}}},
	}
	if db := spec.Network.DatabaseName; db != "" {
		port := intstr.FromInt32(DatabasePort)
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{
			To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelKubeBlocksInstance: db}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
		})
	}
	cidrs := spec.Network.ClusterCIDRs
	if len(cidrs) == 0 {
		cidrs = DefaultClusterCIDRs()
	}
	var v4, v6 []string
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	sort.Strings(v4)
	sort.Strings(v6)
	rules = append(rules, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: v4}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: v6}},
	}})
	return rules
}
