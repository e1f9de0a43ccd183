package fsa_test

import (
	"context"
	"fmt"

	"github.com/fullstackagent/fsa/fsa"
	"github.com/fullstackagent/fsa/store/memstore"
)

// kubeconfig stands for a user's namespace-scoped kubeconfig (YAML).
const kubeconfig = "apiVersion: v1\nkind: Config\n"

func Example() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	client := fsa.New(st)

	user, _ := client.CreateUser(ctx, fsa.UserSpec{Name: "Ada"})
	// The user's Kubernetes access: projects are created in its namespace.
	_, _ = client.SetUserConfig(ctx, user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true})
	p, err := client.CreateProject(ctx, user.ID, fsa.ProjectSpec{Name: "My Blog!"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.K8sName, p.Status, p.Sandbox.Status, p.Database.Status)

	// The project is CREATING: only delete is allowed until reconcile reports it running.
	_, err = client.StopProject(ctx, user.ID, p.ID)
	fmt.Println(err != nil)
	// Output:
	// myblog CREATING CREATING CREATING
	// true
}

func ExampleAggregate() {
	fmt.Println(fsa.Aggregate(fsa.StatusRunning, fsa.StatusStarting))
	fmt.Println(fsa.Aggregate(fsa.StatusRunning, fsa.StatusStopped))
	fmt.Println(fsa.Aggregate(fsa.StatusRunning, fsa.StatusError))
	// Output:
	// STARTING
	// PARTIAL
	// ERROR
}

func ExampleK8sName() {
	fmt.Println(fsa.K8sName("My Blog!"))
	fmt.Println(fsa.K8sName("2048 game"))
	// Output:
	// myblog
	// p2048game
}

func ExampleClient_SetEnv() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	client := fsa.New(st)
	user, _ := client.CreateUser(ctx, fsa.UserSpec{Name: "Ada"})
	_, _ = client.SetUserConfig(ctx, user.ID, fsa.UserConfig{Key: fsa.ConfigKubeconfig, Value: kubeconfig, Category: fsa.CategoryKubeconfig, Secret: true})
	p, _ := client.CreateProject(ctx, user.ID, fsa.ProjectSpec{Name: "shop"})

	_, _ = client.SetEnv(ctx, user.ID, p.ID, fsa.EnvSpec{Key: "STRIPE_KEY", Value: "sk_test_1", Category: "payment", Secret: true})
	vars, _ := client.ListEnv(ctx, user.ID, p.ID, false)
	for _, v := range vars {
		fmt.Printf("%s=%q redacted=%v\n", v.Key, v.Value, v.Redacted)
	}
	// Output:
	// STRIPE_KEY="" redacted=true
	// TTYD_ACCESS_TOKEN="" redacted=true
}
