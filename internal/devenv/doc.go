// Package devenv is the root of fsa's test world: everything that stands in for the outside
// world so that the product can be tried and tested on one machine. Product code never imports
// it (TestImportRules); only the test build of fsad (go build -tags fsadtest) links its testapi.
//
//   - localcluster: the scripts that build a real Kubernetes control plane (etcd,
//     kube-apiserver, kube-controller-manager, kube-scheduler, kwok) from Go modules, with one
//     progress line per step;
//   - k8stest: starts that control plane for tests and programs, per-user namespaces and
//     kubeconfigs;
//   - kbstandin, pvstandin: stand-ins for the KubeBlocks operator and a volume provisioner;
//   - testapi: the test-only HTTP endpoints and Raft fault switch of the fsad test build;
//   - fsadtest: the one launcher of real fsad processes (tests, `make run`, `make run-cluster`,
//     the benchmarks);
//   - cmd/fsa-run: the demo of `make run` (-nodes 1) and `make run-cluster` (-nodes 3);
//   - cmd/fsa-devcluster: `make cluster-up`, a control plane left running in the background.
package devenv
