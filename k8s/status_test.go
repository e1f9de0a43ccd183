package k8s_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fullstackagent/fsa/k8s"
)

// sts returns a StatefulSet at generation 2 wanting desired replicas, with the
// given observed generation and replica counts.
func sts(desired, observedGen, replicas, ready, updated int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "sb", Generation: 2},
		Spec:       appsv1.StatefulSetSpec{Replicas: &desired},
		Status: appsv1.StatefulSetStatus{
			ObservedGeneration: int64(observedGen),
			Replicas:           replicas,
			ReadyReplicas:      ready,
			UpdatedReplicas:    updated,
		},
	}
}

func pod(name string, waiting ...string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "sandbox", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	if len(waiting) > 0 {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting[0], Message: strings.Join(waiting[1:], " ")}}
	}
	return p
}

func TestSandboxStatusOf(t *testing.T) {
	deleting := sts(1, 2, 1, 1, 1)
	deleting.DeletionTimestamp = &metav1.Time{}
	nilReplicas := sts(1, 2, 1, 1, 1)
	nilReplicas.Spec.Replicas = nil
	initCrash := pod("sb-0")
	initCrash.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	terminatingCrash := pod("sb-0", "CrashLoopBackOff")
	terminatingCrash.DeletionTimestamp = &metav1.Time{}

	tests := []struct {
		name       string
		sts        *appsv1.StatefulSet
		pods       []corev1.Pod
		want       k8s.State
		wantReason string
	}{
		{"absent", nil, nil, k8s.StateTerminated, ""},
		{"being deleted", deleting, []corev1.Pod{pod("sb-0")}, k8s.StateTerminating, ""},
		{"running", sts(1, 2, 1, 1, 1), []corev1.Pod{pod("sb-0")}, k8s.StateRunning, ""},
		{"nil replicas means one", nilReplicas, []corev1.Pod{pod("sb-0")}, k8s.StateRunning, ""},
		{"generation not observed", sts(1, 1, 1, 1, 1), []corev1.Pod{pod("sb-0")}, k8s.StateStarting, ""},
		{"not ready", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0")}, k8s.StateStarting, ""},
		{"no pod yet", sts(1, 2, 0, 0, 0), nil, k8s.StateStarting, ""},
		{"rolling update", sts(1, 2, 1, 1, 0), []corev1.Pod{pod("sb-0")}, k8s.StateStarting, ""},
		{"pending pod", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "ContainerCreating")}, k8s.StateStarting, ""},
		{"crash loop", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "CrashLoopBackOff", "back-off 10s")}, k8s.StateError,
			"pod sb-0 container sandbox: CrashLoopBackOff: back-off 10s"},
		{"image pull back-off", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "ImagePullBackOff")}, k8s.StateError,
			"pod sb-0 container sandbox: ImagePullBackOff"},
		{"err image pull", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "ErrImagePull")}, k8s.StateError,
			"pod sb-0 container sandbox: ErrImagePull"},
		{"config error", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "CreateContainerConfigError", `secret "x" not found`)}, k8s.StateError,
			`pod sb-0 container sandbox: CreateContainerConfigError: secret "x" not found`},
		{"invalid image", sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "InvalidImageName")}, k8s.StateError,
			"pod sb-0 container sandbox: InvalidImageName"},
		{"init container crash", sts(1, 2, 1, 0, 1), []corev1.Pod{initCrash}, k8s.StateError,
			"pod sb-0 container init: CrashLoopBackOff"},
		{"crash of a terminating pod", sts(1, 2, 1, 0, 1), []corev1.Pod{terminatingCrash}, k8s.StateStarting, ""},
		{"first pod by name", sts(1, 2, 2, 0, 2), []corev1.Pod{pod("sb-1", "ErrImagePull"), pod("sb-0", "CrashLoopBackOff")}, k8s.StateError,
			"pod sb-0 container sandbox: CrashLoopBackOff"},
		{"scaled to zero, pod remains", sts(0, 2, 1, 1, 1), []corev1.Pod{pod("sb-0")}, k8s.StateStopping, ""},
		{"scaled to zero, crash-looping pod remains", sts(0, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "CrashLoopBackOff")}, k8s.StateStopping, ""},
		{"scaled to zero, not observed", sts(0, 1, 1, 1, 1), nil, k8s.StateStopping, ""},
		{"scaled to zero, status lags", sts(0, 2, 1, 0, 0), nil, k8s.StateStopping, ""},
		{"stopped", sts(0, 2, 0, 0, 0), nil, k8s.StateStopped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := k8s.SandboxStatusOf(tt.sts, tt.pods)
			assert.Equal(t, tt.want, got.State, "state")
			assert.Equal(t, tt.wantReason, got.Reason, "reason")
		})
	}
}

func TestSandboxStatusReasonBounded(t *testing.T) {
	long := strings.Repeat("é", 1000)
	got := k8s.SandboxStatusOf(sts(1, 2, 1, 0, 1), []corev1.Pod{pod("sb-0", "CrashLoopBackOff", long)})
	assert.Equal(t, k8s.StateError, got.State)
	assert.Less(t, len(got.Reason), 320)
	assert.True(t, strings.HasPrefix(got.Reason, "pod sb-0 container sandbox: CrashLoopBackOff: é"))
	assert.True(t, strings.ToValidUTF8(got.Reason, "?") == got.Reason, "reason is valid UTF-8")
}

func TestDatabaseStateOfPhase(t *testing.T) {
	tests := []struct {
		phase string
		want  k8s.State
	}{
		{"", k8s.StateStarting},
		{"Creating", k8s.StateStarting},
		{"Updating", k8s.StateStarting},
		{"Running", k8s.StateRunning},
		{"Stopping", k8s.StateStopping},
		{"Stopped", k8s.StateStopped},
		{"Deleting", k8s.StateTerminating},
		{"Failed", k8s.StateError},
		{"Abnormal", k8s.StateError},
		{"SomethingNew", k8s.StateStarting},
	}
	for _, tt := range tests {
		t.Run(tt.phase, func(t *testing.T) {
			assert.Equal(t, tt.want, k8s.DatabaseStateOfPhase(tt.phase))
		})
	}
}

func cluster(status map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "db"}}}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func TestDatabaseStatusOf(t *testing.T) {
	deleting := cluster(map[string]any{"phase": "Running"})
	now := metav1.Now()
	deleting.SetDeletionTimestamp(&now)
	tests := []struct {
		name       string
		cluster    *unstructured.Unstructured
		want       k8s.State
		wantReason string
	}{
		{"absent", nil, k8s.StateTerminated, ""},
		{"no status yet", cluster(nil), k8s.StateStarting, ""},
		{"running", cluster(map[string]any{"phase": "Running"}), k8s.StateRunning, ""},
		{"being deleted", deleting, k8s.StateTerminating, ""},
		{"failed bare", cluster(map[string]any{"phase": "Failed"}), k8s.StateError, "cluster phase Failed"},
		{"failed with condition", cluster(map[string]any{"phase": "Failed", "conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "message": "fine"},
			map[string]any{"type": "ProvisioningStarted", "status": "False", "message": "pvc not bound"},
		}}), k8s.StateError, "cluster phase Failed: ProvisioningStarted: pvc not bound"},
		{"abnormal with component message", cluster(map[string]any{"phase": "Abnormal", "components": map[string]any{
			"postgresql": map[string]any{"phase": "Abnormal", "message": map[string]any{"Pod/db-postgresql-0": "crash"}},
		}}), k8s.StateError, "cluster phase Abnormal: postgresql Pod/db-postgresql-0: crash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := k8s.DatabaseStatusOf(tt.cluster)
			assert.Equal(t, tt.want, got.State, "state")
			assert.Equal(t, tt.wantReason, got.Reason, "reason")
		})
	}
}
