# Reconcile benchmarks against the local control plane (issue 4; results in reconcile/BENCH.md).
# Knobs: FSA_BENCH_PROJECTS, FSA_BENCH_USERS, FSA_BENCH_LAG_N, FSA_BENCH_WORKERS, FSA_BENCH_QPS,
# FSA_BENCH_IDLE, FSA_BENCH_RESYNC (see reconcile/bench_test.go).
RECONCILE_BENCH ?= TestBench
# The stock test control plane runs kube-controller-manager and kube-scheduler at client-go's
# default rate limits (20 and 50 QPS), which cap how fast StatefulSets get their volumes and
# pods. The benchmark runs the same binaries through wrappers that raise them, so what is
# measured is fsa's reconcile loops, not the harness's rate limits (BENCH.md shows both).
RECONCILE_BENCH_BIN := $(CACHE)/reconcile-bench/bin
RECONCILE_BENCH_CP_FLAGS ?= --kube-api-qps=1000 --kube-api-burst=2000

reconcile-bench-bins: k8s-bins
	@real=$$(readlink -f $(K8S_BIN)); rm -rf $(CACHE)/reconcile-bench; mkdir -p $(RECONCILE_BENCH_BIN); \
	for b in etcd kube-apiserver kwok; do ln -s $$real/$$b $(RECONCILE_BENCH_BIN)/$$b; done; \
	ln -s $$(readlink -f $$real/../kwok) $(CACHE)/reconcile-bench/kwok; \
	for b in kube-controller-manager kube-scheduler; do \
	  printf '#!/bin/sh\nexec %s "$$@" %s\n' "$$real/$$b" "$(RECONCILE_BENCH_CP_FLAGS)" > $(RECONCILE_BENCH_BIN)/$$b; \
	  chmod +x $(RECONCILE_BENCH_BIN)/$$b; done

## bench-reconcile: intent/status lag, cold provisioning throughput and idle cost of the reconcile loops (reconcile/BENCH.md)
bench-reconcile: reconcile-bench-bins
	FSA_BENCH=1 FSA_K8S_BIN=$(RECONCILE_BENCH_BIN) $(GO) test -count=1 -timeout 60m -run '$(RECONCILE_BENCH)' -v ./reconcile/ 2>&1 | grep -E '^(=== RUN|--- |\s+bench_test.go|ok|FAIL|PASS)'

.PHONY: reconcile-bench-bins bench-reconcile
