# The test world: the local Kubernetes control plane built from Go modules (internal/devenv/localcluster), its
# stand-ins, the dev cluster command and the demo launcher. Product code never imports internal/devenv.
K8S_LOCALCLUSTER  := $(ROOT)/internal/devenv/localcluster
# The last good build; internal/devenv/k8stest finds it through the same symlink.
K8S_BIN           := $(CACHE)/k8s/current/bin
FSA_DEVCLUSTER    := $(CACHE)/bin/fsa-devcluster
# Tests using internal/devenv/k8stest find the binaries here even when CACHE is overridden.
export FSA_K8S_BIN ?= $(K8S_BIN)
DEVCLUSTER_DIR    := $(CACHE)/devcluster

## k8s-bins: build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (no-op when up to date)
k8s-bins:
	@CACHE="$(CACHE)" GO="$(GO)" "$(K8S_LOCALCLUSTER)/build.sh"

## localcluster-check: shellcheck the control plane's build scripts
localcluster-check:
	@command -v shellcheck >/dev/null || { echo "localcluster-check: shellcheck is not installed (apt-get install -y shellcheck)" >&2; exit 1; }
	cd "$(ROOT)" && shellcheck -x --severity=style internal/devenv/localcluster/build.sh internal/devenv/localcluster/progress.sh

## k8s-bins-regen: rewrite the wrapper modules in internal/devenv/localcluster from pins.env (after changing a pin)
k8s-bins-regen:
	CACHE="$(CACHE)" GO="$(GO)" "$(K8S_LOCALCLUSTER)/build.sh" regen

k8s-devcluster-bin:
	@cd "$(ROOT)" && $(GO) build -o "$(FSA_DEVCLUSTER)" ./internal/devenv/cmd/fsa-devcluster

## cluster-up: start a local control plane + KubeBlocks stand-in in the background (prints export KUBECONFIG=...)
cluster-up: k8s-bins k8s-devcluster-bin
	@FSA_K8S_BIN="$(K8S_BIN)" "$(FSA_DEVCLUSTER)" up --dir "$(DEVCLUSTER_DIR)"

## cluster-down: stop the local control plane started by cluster-up (idempotent)
cluster-down: k8s-devcluster-bin
	@"$(FSA_DEVCLUSTER)" down --dir "$(DEVCLUSTER_DIR)"

## cluster-status: show whether the local control plane is running
cluster-status: k8s-devcluster-bin
	@"$(FSA_DEVCLUSTER)" status --dir "$(DEVCLUSTER_DIR)"

.PHONY: localcluster-check k8s-bins k8s-bins-regen cluster-up cluster-down cluster-status k8s-devcluster-bin
