package k8s_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/fullstackagent/fsa/k8s"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name.golden, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./k8s -run Golden -update to create it")
	assert.Equal(t, string(want), string(got), "rendered manifest differs from %s (-update rewrites it)", path)
}

func minimalSandbox() k8s.SandboxSpec {
	return k8s.SandboxSpec{
		Name:              "myblog-agentruntime-abc123",
		Namespace:         "ns-alice",
		Project:           "myblog",
		Epoch:             7,
		Domain:            "usw.example.io",
		AppHostLabel:      "x1y2z3a4b5c6",
		TerminalHostLabel: "t1u2v3w4x5y6",
	}
}

func fullSandbox() k8s.SandboxSpec {
	s := minimalSandbox()
	s.Stopped = true
	s.Image = "registry.example.io/runtime:test"
	s.Env = map[string]string{
		"PROJECT_NAME":       "myblog",
		"ANTHROPIC_BASE_URL": "https://ai.example.io",
	}
	s.SecretEnv = map[string]string{
		"DATABASE_URL":      "postgresql://u:p@db:5432/postgres",
		"TTYD_ACCESS_TOKEN": "ticket",
	}
	s.LiveKeys = []string{"DATABASE_URL"}
	s.StatefulSetUID = "0a1b2c3d-0000-4000-8000-000000000001"
	s.Network = &k8s.NetworkSpec{
		IngressNamespaces: []string{"sealos-system", "ingress-nginx"},
		RestrictEgress:    true,
		DatabaseName:      "myblog-agentruntime-abc123",
	}
	s.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")},
	}
	s.HomeSize = resource.MustParse("20Gi")
	s.StorageClassName = "fast"
	s.IngressClassName = "public"
	s.TLSSecretName = "wildcard-tls"
	return s
}

// networkDefaultSandbox has the default NetworkPolicy: ingress from the default ingress
// namespace and the project, egress open.
func networkDefaultSandbox() k8s.SandboxSpec {
	s := minimalSandbox()
	s.Network = &k8s.NetworkSpec{}
	return s
}

func TestGoldenSandbox(t *testing.T) {
	for name, spec := range map[string]k8s.SandboxSpec{
		"sandbox_minimal":         minimalSandbox(),
		"sandbox_full":            fullSandbox(),
		"sandbox_network_default": networkDefaultSandbox(),
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, spec.Validate())
			out, err := k8s.BuildSandbox(spec).YAML()
			require.NoError(t, err)
			golden(t, name, out)
		})
	}
}

func TestGoldenDatabase(t *testing.T) {
	base := k8s.DatabaseSpec{Name: "myblog-agentruntime-abc123", Namespace: "ns-alice", Project: "myblog", Epoch: 7}
	custom := base
	custom.Stopped = true
	custom.Size = resource.MustParse("8Gi")
	custom.StorageClassName = "fast"
	custom.Resources = corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("2Gi")},
	}
	for name, spec := range map[string]k8s.DatabaseSpec{
		"database_default": base,
		"database_custom":  custom,
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, spec.Validate())
			out, err := k8s.DatabaseYAML(k8s.BuildDatabase(spec))
			require.NoError(t, err)
			golden(t, name, out)
		})
	}
}

func TestBuildSandboxDeterministic(t *testing.T) {
	spec := fullSandbox()
	first, err := k8s.BuildSandbox(spec).YAML()
	require.NoError(t, err)
	for range 20 { // map iteration order differs between runs
		again, err := k8s.BuildSandbox(spec).YAML()
		require.NoError(t, err)
		require.Equal(t, string(first), string(again))
	}
}

func TestBuildSandboxShape(t *testing.T) {
	spec := fullSandbox()
	spec.Stopped = false
	objs := k8s.BuildSandbox(spec)
	sts := objs.StatefulSet

	require.NotNil(t, sts.Spec.Replicas)
	assert.Equal(t, int32(1), *sts.Spec.Replicas)
	assert.Equal(t, int32(0), *k8s.BuildSandbox(fullSandbox()).StatefulSet.Spec.Replicas, "stopped spec")

	wantLabels := map[string]string{
		k8s.LabelApp:           spec.Name,
		k8s.LabelDeployManager: spec.Name,
		k8s.LabelProject:       spec.Project,
		k8s.LabelManagedBy:     k8s.ManagedByValue,
		k8s.LabelComponent:     k8s.ComponentSandbox,
	}
	for _, obj := range []struct {
		name   string
		labels map[string]string
		annot  map[string]string
	}{
		{"statefulset", sts.Labels, sts.Annotations},
		{"service", objs.Service.Labels, objs.Service.Annotations},
		{"app ingress", objs.AppIngress.Labels, objs.AppIngress.Annotations},
		{"terminal ingress", objs.TerminalIngress.Labels, objs.TerminalIngress.Annotations},
	} {
		assert.Equal(t, wantLabels, obj.labels, obj.name)
		assert.Equal(t, "7", obj.annot[k8s.AnnotationEpoch], obj.name)
	}
	// The epoch must not reach the pod template: a new leader would restart
	// every sandbox.
	assert.NotContains(t, sts.Spec.Template.Annotations, k8s.AnnotationEpoch)
	assert.Equal(t, wantLabels, sts.Spec.Template.Labels)

	c := sts.Spec.Template.Spec.Containers[0]
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"ANTHROPIC_BASE_URL", "DATABASE_URL", "PROJECT_NAME", "TTYD_ACCESS_TOKEN"}, names)
	assert.Equal(t, int32(k8s.TerminalPort), c.ReadinessProbe.TCPSocket.Port.IntVal)
	assert.Equal(t, k8s.HomePath, c.VolumeMounts[0].MountPath)
	assert.False(t, *sts.Spec.Template.Spec.AutomountServiceAccountToken)
	assert.Equal(t, "Retain", string(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled))
	assert.Equal(t, "Retain", string(sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted))

	assert.Equal(t, "x1y2z3a4b5c6.usw.example.io", objs.AppIngress.Spec.Rules[0].Host)
	assert.Equal(t, int32(k8s.AppPort), objs.AppIngress.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number)
	assert.Equal(t, "t1u2v3w4x5y6.usw.example.io", objs.TerminalIngress.Spec.Rules[0].Host)
	assert.Equal(t, int32(k8s.TerminalPort), objs.TerminalIngress.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number)
}

func TestBuildSandboxDefaults(t *testing.T) {
	sts := k8s.BuildSandbox(minimalSandbox()).StatefulSet
	c := sts.Spec.Template.Spec.Containers[0]
	assert.Equal(t, k8s.RuntimeImage, c.Image, "the builder is pure: the default image")
	assert.Equal(t, k8s.DefaultSandboxResources(), c.Resources)
	got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	want := k8s.DefaultHomeSize()
	assert.Equal(t, want.String(), got.String())
	ing := k8s.BuildSandbox(minimalSandbox()).AppIngress
	assert.Equal(t, k8s.DefaultIngressClass, *ing.Spec.IngressClassName)
	assert.Empty(t, ing.Spec.TLS)
}

func TestSandboxSpecValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*k8s.SandboxSpec)
		ok     bool
	}{
		{"minimal", func(*k8s.SandboxSpec) {}, true},
		{"empty name", func(s *k8s.SandboxSpec) { s.Name = "" }, false},
		{"upper-case name", func(s *k8s.SandboxSpec) { s.Name = "MyBlog" }, false},
		{"name of 53", func(s *k8s.SandboxSpec) { s.Name = string(make53()) }, false},
		{"no namespace", func(s *k8s.SandboxSpec) { s.Namespace = "" }, false},
		{"no project", func(s *k8s.SandboxSpec) { s.Project = "" }, false},
		{"bad host label", func(s *k8s.SandboxSpec) { s.AppHostLabel = "a.b" }, false},
		{"same host labels", func(s *k8s.SandboxSpec) { s.TerminalHostLabel = s.AppHostLabel }, false},
		{"no domain", func(s *k8s.SandboxSpec) { s.Domain = "" }, false},
		{"bad env name", func(s *k8s.SandboxSpec) { s.Env = map[string]string{"A=B": "x"} }, false},
		{"good env", func(s *k8s.SandboxSpec) { s.Env = map[string]string{"A_B": "x=y"} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := minimalSandbox()
			tt.mutate(&s)
			err := s.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, k8s.ErrInvalidSpec)
			}
		})
	}
}

func make53() []byte {
	b := make([]byte, 53)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

func TestDatabaseSpecValidate(t *testing.T) {
	ok := k8s.DatabaseSpec{Name: "db", Namespace: "ns", Project: "p"}
	require.NoError(t, ok.Validate())
	for _, bad := range []k8s.DatabaseSpec{
		{Namespace: "ns", Project: "p"},
		{Name: "db", Project: "p"},
		{Name: "db", Namespace: "ns"},
		{Name: "DB", Namespace: "ns", Project: "p"},
	} {
		require.ErrorIs(t, bad.Validate(), k8s.ErrInvalidSpec, "%+v", bad)
	}
}

func TestRuntimeImage(t *testing.T) {
	assert.Equal(t, "docker.io/fullstackagent/fullstack-web-runtime:"+k8s.RuntimeImageTag, k8s.RuntimeImage)
}
