# examples/ts-frontend: a minimal TypeScript page on the fsa API (see its
# README.md). Its end-to-end test (go test ./examples/ts-frontend/) runs
# `npm ci` itself when node_modules is stale and builds the page; it also
# needs clients/ts's packages (TypeScript, Connect), which this target installs.

TSFE_DIR       := $(ROOT)/examples/ts-frontend
TSFE_NPM_STAMP := $(TSFE_DIR)/node_modules/.package-lock.json

$(TSFE_NPM_STAMP): $(TSFE_DIR)/package.json $(TSFE_DIR)/package-lock.json
	cd $(TSFE_DIR) && npm ci --no-audit --no-fund --cache "$(CACHE)/npm"
	@touch $@

## ts-frontend-deps: npm ci in examples/ts-frontend (esbuild, playwright-core) and in clients/ts
ts-frontend-deps: $(TSFE_NPM_STAMP) $(CLIENTS_NPM_STAMP)

## ts-frontend-test: build the example page and run its browser end-to-end test
ts-frontend-test: ts-frontend-deps
	$(GO) test -race -count=1 ./examples/ts-frontend/

.PHONY: ts-frontend-deps ts-frontend-test
