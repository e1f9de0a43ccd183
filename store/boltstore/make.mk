## store-boltstore-bench: boltstore vs memstore commit/view benchmarks and the fsync latency they sit on (BENCH.md)
store-boltstore-bench:
	$(GO) test -run='^$$' -bench=. -benchtime=2s -count=3 ./store/boltstore/

.PHONY: store-boltstore-bench
