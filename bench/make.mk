# Cross-cutting benchmarks (bench/, its own Go module: etcd's client stays out of the main
# go.mod). Results and commands: bench/RESULTS.md.

# The porcupine long run lives beside the raftstore tests; its make file is not named make.mk
# (the top Makefile includes only those), so it is included from here.
include $(ROOT)/store/raftstore/porcupine.mk

## bench-store: memstore, boltstore, 3-node raftstore (TCP) and 3-member etcd side by side, fsync beside them (bench/RESULTS.md)
bench-store: k8s-bins
	cd "$(ROOT)/bench" && $(GO) run ./storebench -reps 3 -targets mem,bolt,raft,raftsync,etcd -etcd "$(CACHE)/k8s/current/bin/etcd"

## bench-rpc: CreateProject p50/p99 at 100 rps and with 64 clients, Watch fan-out to 1000 watchers, on 3 fsad processes (bench/RESULTS.md)
bench-rpc: fsad
	cd "$(ROOT)/bench" && $(GO) run ./rpcbench -fsad "$(FSAD_BIN)" -reps 3 -watchers 1000

## bench-vet: go vet over the bench module
bench-vet:
	cd "$(ROOT)/bench" && $(GO) vet ./...

.PHONY: bench-store bench-rpc bench-vet
