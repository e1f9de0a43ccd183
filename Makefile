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

## test: run every test (integration tests included)
test:
	$(GO) test -race -count=1 ./...

## lint: gofmt, go vet and staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## run: the main job (today: the embedded SDK example on a bbolt file under .cache/run)
run:
	@mkdir -p $(CACHE)/run
	$(GO) run ./examples/embedded -data $(CACHE)/run/embedded.db

## bench: run the Go benchmarks (results and commands in BENCHMARKS.md)
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

.PHONY: help build test lint bench run
