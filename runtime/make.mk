# runtime/make.mk — targets for the sandbox runtime image (included by the
# top-level Makefile, which defines ROOT and GO).

RUNTIME_DIR     := $(ROOT)/runtime
RUNTIME_SCRIPTS := build.sh entrypoint.sh image.sh push.sh terminal-auth ticket.sh

## runtime-check: shellcheck every runtime script (needs: apt-get install -y shellcheck)
runtime-check:
	@command -v shellcheck >/dev/null || { echo "runtime-check: shellcheck is not installed (apt-get install -y shellcheck)" >&2; exit 1; }
	cd $(RUNTIME_DIR) && shellcheck --external-sources --severity=style --shell=bash $(RUNTIME_SCRIPTS)

## runtime-test: the runtime image's tests (scripts, tickets, Dockerfile); no container engine needed
runtime-test:
	$(GO) test -race -count=1 ./runtime/...

## runtime-build: build the sandbox image tagged from runtime/VERSION (needs a container engine)
runtime-build:
	$(RUNTIME_DIR)/build.sh

## runtime-push: push the sandbox image tagged from runtime/VERSION (needs an engine and a registry login)
runtime-push:
	$(RUNTIME_DIR)/push.sh

.PHONY: runtime-check runtime-test runtime-build runtime-push
