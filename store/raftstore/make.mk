## store-raftstore-test: the raftstore suite (3-node in-memory clusters, conformance, partitions, snapshots) under -race
store-raftstore-test:
	$(GO) test -race -count=1 ./store/raftstore/

## store-raftstore-bench: Commit on a 3-node in-memory cluster, 1 and 64 writers, p50/p99 (store/raftstore/BENCH.md)
store-raftstore-bench:
	$(GO) test -run='^$$' -bench=BenchmarkCommit -benchtime=2s -count=3 ./store/raftstore/

.PHONY: store-raftstore-test store-raftstore-bench
