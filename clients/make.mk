# clients/: the wire contract (clients/proto), the Go and TypeScript code
# generated from it (clients/gen, clients/ts/src/gen), its API reference
# (clients/gen/api.md) and the TypeScript package (clients/ts).
#
# Tools are pinned and built from source into $(CACHE)/tools; nothing is
# installed globally and no remote buf registry is used.

CLIENTS_DIR       := $(ROOT)/clients
CLIENTS_TS        := $(CLIENTS_DIR)/ts
CLIENTS_TOOLS_BIN := $(CACHE)/tools/bin
CLIENTS_STAMPS    := $(CACHE)/tools/stamps

# Tool pins. protoc-gen-go and protoc-gen-connect-go must match the versions of
# google.golang.org/protobuf and connectrpc.com/connect in go.mod (the
# generated code names them; check-generate catches a drift).
CLIENTS_BUF_VERSION                   := v1.75.0
CLIENTS_PROTOC_GEN_GO_VERSION         := v1.36.12
CLIENTS_PROTOC_GEN_CONNECT_GO_VERSION := v1.21.1

CLIENTS_BUF := $(CLIENTS_TOOLS_BIN)/buf
# One stamp per tool and version: bumping a pin rebuilds that tool.
CLIENTS_GO_TOOLS := \
	$(CLIENTS_STAMPS)/buf@$(CLIENTS_BUF_VERSION) \
	$(CLIENTS_STAMPS)/protoc-gen-go@$(CLIENTS_PROTOC_GEN_GO_VERSION) \
	$(CLIENTS_STAMPS)/protoc-gen-connect-go@$(CLIENTS_PROTOC_GEN_CONNECT_GO_VERSION)
# npm ci writes this file; it is newer than the lock file once installed.
CLIENTS_NPM_STAMP := $(CLIENTS_TS)/node_modules/.package-lock.json

# Environment for buf: local plugins first on PATH, buf's cache inside CACHE.
CLIENTS_BUF_ENV := PATH="$(CLIENTS_TOOLS_BIN):$(CLIENTS_TS)/node_modules/.bin:$$PATH" BUF_CACHE_DIR="$(CACHE)/buf"

# Generated paths checked by clients-check-generate.
CLIENTS_GENERATED := clients/gen clients/ts/src/gen

# buf breaking compares clients/proto with this git ref (skipped when the ref
# or its clients/proto does not exist, e.g. when the contract is introduced).
CLIENTS_PROTO_AGAINST ?= main

$(CLIENTS_STAMPS)/buf@%:
	@mkdir -p $(CLIENTS_TOOLS_BIN) $(CLIENTS_STAMPS)
	GOBIN=$(CLIENTS_TOOLS_BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$*
	@rm -f $(CLIENTS_STAMPS)/buf@* && touch $@

$(CLIENTS_STAMPS)/protoc-gen-go@%:
	@mkdir -p $(CLIENTS_TOOLS_BIN) $(CLIENTS_STAMPS)
	GOBIN=$(CLIENTS_TOOLS_BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$*
	@rm -f $(CLIENTS_STAMPS)/protoc-gen-go@* && touch $@

$(CLIENTS_STAMPS)/protoc-gen-connect-go@%:
	@mkdir -p $(CLIENTS_TOOLS_BIN) $(CLIENTS_STAMPS)
	GOBIN=$(CLIENTS_TOOLS_BIN) $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@$*
	@rm -f $(CLIENTS_STAMPS)/protoc-gen-connect-go@* && touch $@

$(CLIENTS_NPM_STAMP): $(CLIENTS_TS)/package.json $(CLIENTS_TS)/package-lock.json
	cd $(CLIENTS_TS) && npm ci --no-audit --no-fund --cache "$(CACHE)/npm"
	@touch $@

## clients-tools: build buf, protoc-gen-go, protoc-gen-connect-go into .cache/tools; npm ci in clients/ts
clients-tools: $(CLIENTS_GO_TOOLS) $(CLIENTS_NPM_STAMP) clients-doc-plugin

# The API reference generator is this repo's own code: rebuilt every time (the
# Go build cache makes that cheap) so that it is never stale.
clients-doc-plugin:
	@mkdir -p $(CLIENTS_TOOLS_BIN)
	$(GO) build -o $(CLIENTS_TOOLS_BIN)/protoc-gen-fsa-doc ./clients/internal/cmd/protoc-gen-fsa-doc

## clients-generate: regenerate Go, TypeScript and the API reference from clients/proto
clients-generate: clients-tools
	cd $(CLIENTS_DIR) && $(CLIENTS_BUF_ENV) $(CLIENTS_BUF) generate

## clients-check-generate: fail if clients-generate changes anything under version control
clients-check-generate: clients-generate
	@cd $(ROOT) && status=$$(git status --porcelain --untracked-files=all -- $(CLIENTS_GENERATED)); \
	if [ -n "$$status" ]; then \
		echo "clients: generated code is out of date; run 'make clients-generate' and commit:"; \
		echo "$$status"; git --no-pager diff --stat -- $(CLIENTS_GENERATED); exit 1; \
	fi; echo "clients: generated code is up to date"

## clients-proto-lint: buf format, buf lint (STANDARD+COMMENTS) and buf breaking (WIRE_JSON) against $(CLIENTS_PROTO_AGAINST)
clients-proto-lint: $(CLIENTS_STAMPS)/buf@$(CLIENTS_BUF_VERSION)
	cd $(CLIENTS_DIR) && $(CLIENTS_BUF_ENV) $(CLIENTS_BUF) format --diff --exit-code
	cd $(CLIENTS_DIR) && $(CLIENTS_BUF_ENV) $(CLIENTS_BUF) lint
	@cd $(ROOT) && against="$(CLIENTS_PROTO_AGAINST)"; \
	if ! git rev-parse -q --verify "$$against^{commit}" >/dev/null; then \
		echo "clients: no git ref '$$against'; skipping buf breaking"; exit 0; fi; \
	if [ -z "$$(git ls-tree -d "$$against" clients/proto)" ]; then \
		echo "clients: '$$against' has no clients/proto yet; skipping buf breaking"; exit 0; fi; \
	dir="$(CACHE)/clients/against"; rm -rf "$$dir" && mkdir -p "$$dir" && \
	git archive "$$against" clients/proto | tar -x -C "$$dir" && \
	echo "buf breaking against $$against" && \
	cd $(CLIENTS_DIR) && $(CLIENTS_BUF_ENV) $(CLIENTS_BUF) breaking proto --against "$$dir/clients/proto"

## clients-ts-test: build the TypeScript package and run its tests (node --test), some against
##                  a real fsad they start from $(CACHE)/bin/fsad (built by the fsad target)
clients-ts-test: $(CLIENTS_NPM_STAMP) fsad
	cd $(CLIENTS_TS) && FSAD_BIN="$(CACHE)/bin/fsad" npm test

## fsactl: build the command-line client to .cache/bin/fsactl
fsactl:
	@mkdir -p "$(CACHE)/bin"
	cd "$(ROOT)" && $(GO) build -o "$(CACHE)/bin/fsactl" ./clients/cmd/fsactl

## clients-test: Go tests of clients/ (generated code, API reference renderer, the Go client, and
##               fsactl end to end against a real fsad and the local control plane: needs k8s-bins)
clients-test:
	$(GO) test -race -count=1 ./clients/...

# Repository-wide entry points (other areas may add their own prerequisites).
## generate: regenerate all generated code
generate: clients-generate
## check-generate: fail if generate changes anything under version control
check-generate: clients-check-generate

.PHONY: clients-tools clients-doc-plugin clients-generate clients-check-generate \
	clients-proto-lint clients-ts-test clients-test fsactl generate check-generate
