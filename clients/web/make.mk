# clients/web: the web console, a TypeScript single-page app bundled with
# esbuild into daemon/ui/dist, which fsad embeds and serves at /ui. The bundle
# is committed (so `go build` needs no npm); web-check-build proves it matches
# the sources. The end-to-end test (clients/web/e2e_test.go, part of `go test
# ./...`) drives Debian's /usr/bin/chromium with playwright-core against a
# real fsad and the local control plane: it needs `web-deps` first.

WEB_DIR       := $(ROOT)/clients/web
WEB_DIST      := daemon/ui/dist
# npm ci writes this file; it is newer than the lock file once installed.
WEB_NPM_STAMP := $(WEB_DIR)/node_modules/.package-lock.json

$(WEB_NPM_STAMP): $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	cd $(WEB_DIR) && npm ci --no-audit --no-fund --cache "$(CACHE)/npm"
	@touch $@

## web-deps: npm ci in clients/web (esbuild, TypeScript, playwright-core; no browser download)
web-deps: $(WEB_NPM_STAMP)

## web-build: type-check the console and bundle it into daemon/ui/dist (commit the result)
web-build: $(WEB_NPM_STAMP)
	cd $(WEB_DIR) && npm run build

## web-check-build: fail if web-build changes daemon/ui/dist (the committed bundle is stale)
web-check-build: web-build
	@cd $(ROOT) && status=$$(git status --porcelain --untracked-files=all -- $(WEB_DIST)); \
	if [ -n "$$status" ]; then \
		echo "web: daemon/ui/dist is out of date; run 'make web-build' and commit:"; \
		echo "$$status"; exit 1; \
	fi; echo "web: daemon/ui/dist is up to date"

## web-unit-test: the console's TypeScript unit tests (live project list, allowed actions; node --test)
web-unit-test: $(WEB_NPM_STAMP)
	cd $(WEB_DIR) && npm test

## web-check: what `make test` runs for the console besides go test: bundle up to date, unit tests
web-check: web-check-build web-unit-test

## web-test: the console's Go tests: the embedded handler and the browser end-to-end test
web-test: web-deps
	$(GO) test -race -count=1 ./daemon/ui/ ./clients/web/

.PHONY: web-deps web-build web-check-build web-unit-test web-check web-test
