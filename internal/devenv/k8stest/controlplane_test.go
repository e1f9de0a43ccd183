package k8stest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

const (
	waitFor = 60 * time.Second
	tick    = 20 * time.Millisecond
)

func statefulSet(name string, annotations map[string]string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    new(int32(1)),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/sandbox:1", Ports: []corev1.ContainerPort{{ContainerPort: 3000}},
				}}},
			},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestStatefulSetPodBecomesReady(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "sts")
	cs := c.Clientset()
	ctx := t.Context()

	start := time.Now()
	_, err := cs.AppsV1().StatefulSets(u.Namespace).Create(ctx, statefulSet("web", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	var pod *corev1.Pod
	require.Eventually(t, func() bool {
		pod, err = cs.CoreV1().Pods(u.Namespace).Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning && podReady(pod)
	}, waitFor, tick, "pod web-0 never Running and Ready")
	podReadyAfter := time.Since(start)
	require.Eventually(t, func() bool {
		sts, err := cs.AppsV1().StatefulSets(u.Namespace).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && sts.Status.ReadyReplicas == 1
	}, waitFor, tick, "statefulset never reported readyReplicas=1")
	t.Logf("StatefulSet create -> pod Ready %v -> readyReplicas=1 %v", podReadyAfter.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))
	assert.Equal(t, k8stest.NodeName, pod.Spec.NodeName)
	assert.NotEmpty(t, pod.Status.PodIP)
}

func TestSimulateAnnotation(t *testing.T) {
	c := k8stest.Env(t)
	u := c.NewTestUser(t, "simulate")
	cs := c.Clientset()
	tests := []struct {
		simulate     string
		wantPhase    corev1.PodPhase
		wantReason   string
		wantRestarts bool
	}{
		{simulate: "crashloop", wantPhase: corev1.PodRunning, wantReason: "CrashLoopBackOff", wantRestarts: true},
		{simulate: "imagepull", wantPhase: corev1.PodPending, wantReason: "ImagePullBackOff"},
	}
	for _, tt := range tests {
		t.Run(tt.simulate, func(t *testing.T) {
			ctx := t.Context()
			name := "sim-" + tt.simulate
			_, err := cs.AppsV1().StatefulSets(u.Namespace).Create(ctx,
				statefulSet(name, map[string]string{"fsa.test/simulate": tt.simulate}), metav1.CreateOptions{})
			require.NoError(t, err)
			var pod *corev1.Pod
			require.Eventually(t, func() bool {
				pod, err = cs.CoreV1().Pods(u.Namespace).Get(ctx, name+"-0", metav1.GetOptions{})
				return err == nil && len(pod.Status.ContainerStatuses) == 1
			}, waitFor, tick, "pod %s-0 never got a container status", name)
			st := pod.Status.ContainerStatuses[0]
			require.NotNil(t, st.State.Waiting, "container state: got %+v, want waiting", st.State)
			assert.Equal(t, tt.wantReason, st.State.Waiting.Reason)
			assert.Equal(t, tt.wantPhase, pod.Status.Phase)
			assert.False(t, st.Ready)
			assert.False(t, podReady(pod))
			assert.Equal(t, tt.wantRestarts, st.RestartCount > 0, "restartCount %d", st.RestartCount)
			sts, err := cs.AppsV1().StatefulSets(u.Namespace).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Zero(t, sts.Status.ReadyReplicas)
		})
	}
}

func TestUserKubeconfigIsLimitedToItsNamespace(t *testing.T) {
	c := k8stest.Env(t)
	alice := c.NewTestUser(t, "alice")
	bob := c.NewTestUser(t, "bob")
	require.NotEqual(t, alice.Namespace, bob.Namespace)

	// The kubeconfig's current context carries the namespace, as a Sealos kubeconfig does.
	cc, err := clientcmd.NewClientConfigFromBytes(alice.Kubeconfig)
	require.NoError(t, err)
	ns, _, err := cc.Namespace()
	require.NoError(t, err)
	assert.Equal(t, alice.Namespace, ns)

	cfg, err := cc.ClientConfig()
	require.NoError(t, err)
	as, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := t.Context()

	_, err = as.AppsV1().StatefulSets(alice.Namespace).Create(ctx, statefulSet("mine", nil), metav1.CreateOptions{})
	require.NoError(t, err, "create in own namespace")
	_, err = as.CoreV1().Secrets(alice.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "list secrets in own namespace")

	tests := []struct {
		name string
		call func() error
	}{
		{"create statefulset in another user's namespace", func() error {
			_, err := as.AppsV1().StatefulSets(bob.Namespace).Create(ctx, statefulSet("theirs", nil), metav1.CreateOptions{})
			return err
		}},
		{"list secrets in another user's namespace", func() error {
			_, err := as.CoreV1().Secrets(bob.Namespace).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list nodes", func() error {
			_, err := as.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			assert.True(t, apierrors.IsForbidden(err), "got %v, want Forbidden", err)
		})
	}
}

func TestStopAndStartAPIServer(t *testing.T) {
	c := k8stest.Env(t)
	if c.ControlPlane() == nil {
		t.Skip("the cluster was not started by this test binary")
	}
	ctx := t.Context()
	cs := c.Clientset()
	_, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)

	stopStart := time.Now()
	require.NoError(t, c.StopAPIServer())
	t.Logf("kube-apiserver stopped in %v", time.Since(stopStart).Round(time.Millisecond))
	_, err = cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	require.Error(t, err, "API server still answering after StopAPIServer")

	start := time.Now()
	require.NoError(t, c.StartAPIServer(ctx))
	t.Logf("kube-apiserver restarted in %v", time.Since(start).Round(time.Millisecond))
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2", v.GitVersion)

	// The rest of the control plane carries on: a new StatefulSet still gets a Ready pod.
	u := c.NewTestUser(t, "restart")
	_, err = cs.AppsV1().StatefulSets(u.Namespace).Create(ctx, statefulSet("after", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		pod, err := cs.CoreV1().Pods(u.Namespace).Get(ctx, "after-0", metav1.GetOptions{})
		return err == nil && podReady(pod)
	}, waitFor, tick, "no Ready pod after the API server restart")
}

func TestStartAPIServerTwiceFails(t *testing.T) {
	c := k8stest.Env(t)
	if c.ControlPlane() == nil {
		t.Skip("the cluster was not started by this test binary")
	}
	err := c.StartAPIServer(t.Context())
	require.Error(t, err, "starting a running API server must fail")
}

func TestNotLocalCluster(t *testing.T) {
	c, err := k8stest.NewCluster(k8stest.Env(t).AdminKubeconfig())
	require.NoError(t, err)
	assert.True(t, errors.Is(c.StopAPIServer(), k8stest.ErrNotLocal))
	assert.True(t, errors.Is(c.StartAPIServer(context.Background()), k8stest.ErrNotLocal))
}

func TestNewUserRejectsBadNames(t *testing.T) {
	c := k8stest.Env(t)
	for _, name := range []string{"", "Upper", "under_score", "a-very-long-name-that-goes-past-fifty-characters-xyz"} {
		_, err := c.NewUser(t.Context(), name)
		assert.Error(t, err, "name %q", name)
	}
}
