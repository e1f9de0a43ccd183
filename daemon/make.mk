# fsad, the daemon (package daemon).
FSAD_BIN     := $(CACHE)/bin/fsad
FSAD_VERSION ?= $(shell git -C "$(ROOT)" describe --tags --always --dirty 2>/dev/null || echo dev)

## fsad: build the daemon to .cache/bin/fsad (version from git describe, via -X main.version)
FSAD_BUILD   = cd "$(ROOT)" && $(GO) build -ldflags "-X main.version=$(FSAD_VERSION)" -o "$(FSAD_BIN)" ./daemon/cmd/fsad
fsad:
	@mkdir -p "$(CACHE)/bin"
	$(FSAD_BUILD)

## bench-failover: SIGKILL and planned failover times of a 3-node fsad cluster (results: daemon/BENCH.md);
##                 it builds the test build of fsad (-tags fsadtest) itself: it writes through /test/v1/
bench-failover:
	cd "$(ROOT)/bench" && $(GO) run ./failoverbench -trials 20 -planned 20 -profiles default,500ms

.PHONY: fsad bench-failover
