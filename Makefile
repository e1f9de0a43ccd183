# fsa — developer entry points. `make help` lists them.
SHELL := /bin/bash
ROOT  := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# Everything built or downloaded for this repo lives under CACHE (ignored by git).
CACHE ?= $(ROOT)/.cache
GO    ?= go
export GOFLAGS ?= -buildvcs=false

.DEFAULT_GOAL := help

## help: list the targets
help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

# Each area may add its own targets in a make.mk beside its code.
include $(sort $(wildcard $(ROOT)/*/make.mk $(ROOT)/*/*/make.mk))

## build: compile every package and command
build:
	$(GO) build ./...

# Pinned tools, installed into $(CACHE)/tools/bin.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CACHE)/tools/bin/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	@mkdir -p $(CACHE)/tools/bin $(CACHE)/tools/tmp
	GOBIN=$(CACHE)/tools/tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(CACHE)/tools/tmp/staticcheck $@

## test: run every test: generated code up to date, proto lint, scripts, TypeScript, and all Go
##       tests with -race, integration tests against a local control plane included
test: k8s-bins check-generate clients-proto-lint runtime-check localcluster-check clients-ts-test web-check web-deps ts-frontend-deps
	$(GO) test -race -count=1 -timeout 45m ./...

## test-short: unit tests only (no control plane, no multi-process clusters)
test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet and staticcheck (also the test build of fsad, -tags fsadtest, and the bench module)
lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^clients/gen/')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) vet -tags fsadtest ./daemon/... ./internal/...
	$(STATICCHECK) -tags fsadtest ./daemon/... ./internal/...
	cd bench && $(GO) vet ./... && $(STATICCHECK) ./...

## run: the main job: local control plane + KubeBlocks stand-in, fsad (single node), a demo user
##      and project shown going CREATING → RUNNING; Ctrl-C stops everything (KUBECONFIG=… for a real cluster)
run: k8s-bins fsa-run-bin
	@$(CACHE)/bin/fsa-run -nodes 1 -dir $(CACHE)/run -fsad $(CACHE)/bin/fsad

## run-cluster: `make run` with three fsad nodes on 127.0.0.1-3 and a live leader/term/PID line;
##              kill -9 a node and watch the cluster fail over (Ctrl-C stops everything)
run-cluster: k8s-bins fsa-run-bin
	@$(CACHE)/bin/fsa-run -nodes 3 -dir $(CACHE)/run-cluster -fsad $(CACHE)/bin/fsad

# fsad and the demo launcher, with one progress line (their first build downloads Go modules).
fsa-run-bin:
	@mkdir -p "$(CACHE)/bin"
	@$(K8S_LOCALCLUSTER)/progress.sh "fsad and the demo launcher" "$(CACHE)/build.log" -- \
		bash -c '$(FSAD_BUILD) && $(GO) build -o "$(CACHE)/bin/fsa-run" ./internal/devenv/cmd/fsa-run'


## bench: run the Go benchmarks (results and commands in BENCHMARKS.md)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

.PHONY: help build test test-short lint bench run run-cluster fsa-run-bin
