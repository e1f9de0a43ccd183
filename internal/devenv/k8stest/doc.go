// Package k8stest runs a real Kubernetes control plane for tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok (a fake kubelet), built from Go modules by
// `make k8s-bins` (internal/devenv/localcluster) and run as child processes on 127.0.0.1 free ports. Pods are
// scheduled and turned Running/Ready by kwok on one fake node; PVCs of kwok's default
// StorageClass get volumes from a provisioner stand-in the control plane runs in-process
// (internal/devenv/pvstandin, in place of kwok's pvc-provision Stage, which kwok plays one claim at a time)
// and are released and deleted through kwok's volume Stages; RBAC is enforced; KubeBlocks'
// published Cluster CRD (../shared/kubeblocks: v0.9.5 by default, v1.0.2 with Options.KubeBlocks
// or FSA_TEST_KUBEBLOCKS=1.0; the minimal accept-anything CRD only when the files are missing and
// CI is not set) is served, so the API server validates and prunes Clusters as a real one would,
// and the KubeBlocks stand-in (internal/devenv/kbstandin) moves Clusters through their phases.
// StartPrivate gives a test a control plane of its own (another KubeBlocks release), and
// Cluster.InstallEpochFencing installs the shipped admission policy of deploy/fencing for one
// namespace. Options.ExtraArgs and the FSA_K8S_ARGS_<COMPONENT> environment variables
// (EnvExtraArgs) add flags to a component's command line.
//
// # Tests
//
// A package with integration tests calls Main from TestMain and Env from each test:
//
//	func TestMain(m *testing.M) { k8stest.Main(m) }
//
//	func TestX(t *testing.T) {
//		c := k8stest.Env(t)             // skips under -short
//		u := c.NewTestUser(t, "alice")  // namespace + ServiceAccount kubeconfig, like a Sealos user
//		...
//	}
//
// Main starts one control plane per test binary (about 6-10 s), or reuses the cluster named by
// FSA_TEST_KUBECONFIG (e.g. one from `make cluster-up`). Tests share it, so each test works in
// namespaces of its own (NewUser / NewTestUser make fresh ones).
//
// Pods annotated fsa.test/simulate: crashloop never become Ready: their containers wait in
// CrashLoopBackOff (restartCount > 0); fsa.test/simulate: imagepull leaves them Pending in
// ImagePullBackOff.
//
// # Contract
//
// Start returns a usable control plane or stops everything it started. Stop kills every child
// (SIGTERM to its process group, SIGKILL after a grace period) and waits for them. On Linux each
// child also gets SIGKILL when the test process dies (Pdeathsig), so a panic, a test timeout or a
// kill -9 of the test binary leaves nothing running. Component logs are in Dir()/logs.
// Credentials (admin kubeconfig, user tokens) are never logged.
package k8stest
