// Command fsa-devcluster runs the local Kubernetes control plane of internal/devenv/k8stest (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kwok) plus the KubeBlocks stand-in in
// the background, for development against a real API server:
//
//	fsa-devcluster up     [--dir D]   start (needs `make k8s-bins`); prints export KUBECONFIG=...
//	fsa-devcluster status [--dir D]   say whether it runs and answers
//	fsa-devcluster down   [--dir D]   stop everything up started; idempotent
//
// D defaults to <repo>/.cache/devcluster. up starts a detached supervisor (`fsa-devcluster serve`,
// in its own session) that owns the control-plane processes (they die with it) and writes the
// admin kubeconfig to D/admin.kubeconfig; down sends it SIGTERM and waits until it has stopped
// them. Logs: D/supervisor.log and D/work/logs/. For tests, point FSA_TEST_KUBECONFIG at
// D/admin.kubeconfig to reuse this cluster instead of starting one per test binary.
package main
