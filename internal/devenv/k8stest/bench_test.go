package k8stest_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// BenchmarkStatefulSetReady measures StatefulSet create -> pod Running and Ready (scheduler,
// controller-manager and kwok in the loop), the path every sandbox start takes.
func BenchmarkStatefulSetReady(b *testing.B) {
	c := k8stest.Env(b)
	u := c.NewTestUser(b, "bench")
	cs := c.Clientset()
	ctx := b.Context()
	ticker := time.NewTicker(5 * time.Millisecond) // polling interval of the measured wait
	defer ticker.Stop()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("web%d", i)
		i++
		if _, err := cs.AppsV1().StatefulSets(u.Namespace).Create(ctx, statefulSet(name, nil), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(waitFor)
		for {
			pod, err := cs.CoreV1().Pods(u.Namespace).Get(ctx, name+"-0", metav1.GetOptions{})
			if err == nil && podReady(pod) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("pod %s-0 not Ready after %v", name, waitFor)
			}
			<-ticker.C
		}
	}
}
