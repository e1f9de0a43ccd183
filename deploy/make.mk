# Deployment artefacts of fsad: the container image (deploy/fsad.Dockerfile), the Kubernetes
# manifests (deploy/kubernetes, kustomize).
DEPLOY_DIR         := $(ROOT)/deploy
DEPLOY_IMAGE       ?= fsad:$(FSAD_VERSION)

## deploy-test: the deployment's tests: Dockerfile structure, static build, manifests validated
##              by a local control plane (server-side dry run)
deploy-test: k8s-bins
	cd "$(ROOT)" && $(GO) test -race -count=1 -timeout 30m ./deploy/...

## deploy-image: build the fsad image (needs a container engine: docker or podman)
deploy-image:
	cd "$(ROOT)" && $${ENGINE:-docker} build -f deploy/fsad.Dockerfile --build-arg VERSION=$(FSAD_VERSION) -t $(DEPLOY_IMAGE) .

.PHONY: deploy-test deploy-image
