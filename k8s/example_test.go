package k8s_test

import (
	"fmt"

	"github.com/fullstackagent/fsa/k8s"
)

func ExampleBuildSandbox() {
	objs := k8s.BuildSandbox(k8s.SandboxSpec{
		Name:              "myblog-agentruntime-abc123",
		Namespace:         "ns-alice",
		Project:           "myblog",
		Epoch:             3,
		Env:               map[string]string{"PROJECT_NAME": "myblog", "DATABASE_URL": "postgresql://..."},
		Domain:            "example.io",
		AppHostLabel:      "x1y2z3a4b5c6",
		TerminalHostLabel: "t1u2v3w4x5y6",
	})
	c := objs.StatefulSet.Spec.Template.Spec.Containers[0]
	fmt.Println(objs.StatefulSet.Name, *objs.StatefulSet.Spec.Replicas, c.Image)
	for _, e := range c.Env {
		fmt.Println(e.Name)
	}
	fmt.Println(objs.AppIngress.Spec.Rules[0].Host, "->", objs.AppIngress.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number)
	fmt.Println(objs.TerminalIngress.Spec.Rules[0].Host, "->", objs.TerminalIngress.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number)
	fmt.Println(objs.StatefulSet.Annotations[k8s.AnnotationEpoch])
	// Output:
	// myblog-agentruntime-abc123 1 docker.io/fullstackagent/fullstack-web-runtime:v0.2.0
	// DATABASE_URL
	// PROJECT_NAME
	// x1y2z3a4b5c6.example.io -> 3000
	// t1u2v3w4x5y6.example.io -> 7681
	// 3
}

func ExampleConnectionURLOf() {
	u, err := k8s.ConnectionURLOf(map[string][]byte{
		"host": []byte("db-postgresql.ns-alice.svc"), "port": []byte("5432"),
		"username": []byte("postgres"), "password": []byte("s3cr:t@"),
	})
	fmt.Println(u, err)
	// Output: postgresql://postgres:s3cr%3At%40@db-postgresql.ns-alice.svc:5432/postgres <nil>
}
