# Deployment artefacts of fsad: the container image (deploy/fsad.Dockerfile), the Kubernetes
# manifests (deploy/kubernetes, kustomize) and `make run-cluster`.
DEPLOY_DIR         := $(ROOT)/deploy
FSA_RUN_CLUSTER    := $(CACHE)/bin/fsa-run-cluster
DEPLOY_IMAGE       ?= fsad:$(FSAD_VERSION)

## run-cluster: `make run` with three fsad nodes on 127.0.0.1-3 and a live leader/term/PID line;
##              kill -9 a node to watch failover; Ctrl-C stops everything
run-cluster: k8s-bins fsad
	@cd "$(ROOT)" && $(GO) build -o "$(FSA_RUN_CLUSTER)" ./daemon/cmd/fsa-run-cluster
	@"$(FSA_RUN_CLUSTER)" -dir "$(CACHE)/run-cluster" -fsad "$(FSAD_BIN)"

## deploy-test: the deployment's tests: Dockerfile structure, static build, manifests validated
##              by a local control plane (server-side dry run)
deploy-test: k8s-bins
	cd "$(ROOT)" && $(GO) test -race -count=1 -timeout 30m ./deploy/...

## deploy-image: build the fsad image (needs a container engine: docker or podman)
deploy-image:
	cd "$(ROOT)" && $${ENGINE:-docker} build -f deploy/fsad.Dockerfile --build-arg VERSION=$(FSAD_VERSION) -t $(DEPLOY_IMAGE) .

.PHONY: run-cluster deploy-test deploy-image
