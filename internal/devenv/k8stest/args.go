package k8stest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// The flags below follow the recipe proven on this machine (shared/testcluster/start.sh).

func (cp *ControlPlane) etcdArgs() []string {
	client, peer := "http://"+hostPort(cp.etcdPort), "http://"+hostPort(cp.etcdPeerPort)
	return []string{
		"--name=fsa", "--data-dir=" + cp.path("etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=fsa=" + peer, "--log-level=warn",
		"--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
	}
}

func (cp *ControlPlane) apiServerArgs() []string {
	pki := func(f string) string { return cp.path("pki", f) }
	return []string{
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cp.apiPort), "--cert-dir=" + cp.path("pki", "apiserver-gen"),
		"--etcd-servers=http://" + hostPort(cp.etcdPort),
		"--tls-cert-file=" + pki(fileServerCert), "--tls-private-key-file=" + pki(fileServerKey),
		"--client-ca-file=" + pki(fileCACert),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki(fileSAPub), "--service-account-signing-key-file=" + pki(fileSAKey),
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=" + serviceCIDR,
		// Loopback is refused as an advertise address unless the endpoint reconciler is off.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true", "--profiling=false", "--v=1",
		// pods/exec, pods/log and pods/portforward go from here to the fake node's kubelet API
		// (kwok's server), verified against the cluster CA, as a real API server does.
		"--kubelet-client-certificate=" + pki(fileKubeletClientCert), "--kubelet-client-key=" + pki(fileKubeletClientKey),
		"--kubelet-certificate-authority=" + pki(fileCACert), "--kubelet-preferred-address-types=InternalIP",
	}
}

func (cp *ControlPlane) controllerManagerArgs() []string {
	kc := cp.KubeconfigPath()
	pki := func(f string) string { return cp.path("pki", f) }
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(cp.kcmPort),
		"--cert-dir=" + cp.path("pki", "kcm-gen"),
		"--controllers=*", "--use-service-account-credentials=false",
		"--service-account-private-key-file=" + pki(fileSAKey), "--root-ca-file=" + pki(fileCACert),
		"--cluster-signing-cert-file=" + pki(fileCACert), "--cluster-signing-key-file=" + pki(fileCAKey),
		"--leader-elect=false", "--cluster-name=fsa-local", "--service-cluster-ip-range=" + serviceCIDR,
		"--node-monitor-grace-period=40s", "--profiling=false", "--v=1",
		// The default client limits (20 QPS, burst 30) make pod creation wait ~250 ms once a
		// test has created a handful of StatefulSets; a single-tenant test cluster can afford more.
		"--kube-api-qps=200", "--kube-api-burst=400",
	}
}

func (cp *ControlPlane) schedulerArgs() []string {
	kc := cp.KubeconfigPath()
	return []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(cp.schedPort),
		"--leader-elect=false", "--profiling=false", "--v=1",
	}
}

// kwokConfig is kwok's own configuration, a second --config file beside the Stages. kwok plays
// pod Stages with podPlayStageParallelism workers (default 4), which caps how fast a burst of
// pods turns Running; Stages of other resources it plays one at a time, whatever the
// configuration (hence internal/devenv/pvstandin for volumes).
func (cp *ControlPlane) kwokConfig() string {
	n := cp.opts.KwokPodParallelism
	if n <= 0 {
		n = DefaultKwokPodParallelism
	}
	// kwok does not default the options of a configuration it loads: the others are its defaults.
	return fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: %d
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: true
  enableProfilingHandler: true
  enableContentionProfiling: false
`, n)
}

func (cp *ControlPlane) kwokArgs() []string {
	return []string{
		"--kubeconfig=" + cp.KubeconfigPath(),
		"--config=" + filepath.Join(cp.opts.KwokDir, "stages.yaml"),
		"--config=" + cp.path("kwok.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40", "--cidr=" + podCIDR, "--node-ip=127.0.0.1",
		// The kubelet API (exec, logs, port forward) on a TLS port the node advertises
		// (status.daemonEndpoints), answered by the Exec, Logs and PortForward objects the
		// sandbox stand-in (internal/devenv/sbstandin) creates per pod.
		"--node-port=" + strconv.Itoa(cp.kubeletPort), "--server-address=" + hostPort(cp.kubeletPort),
		"--tls-cert-file=" + cp.path("pki", fileKubeletCert), "--tls-private-key-file=" + cp.path("pki", fileKubeletKey),
		"--enable-crds=" + strings.Join(kwokCRDKinds, ","),
	}
}
