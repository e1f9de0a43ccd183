# Reconcile benchmarks against the local control plane (issue 4; results in reconcile/BENCH.md).
# Knobs: FSA_BENCH_PROJECTS, FSA_BENCH_USERS, FSA_BENCH_LAG_N, FSA_BENCH_WORKERS, FSA_BENCH_QPS,
# FSA_BENCH_IDLE, FSA_BENCH_RESYNC, FSA_BENCH_NO_IDLE (see reconcile/bench_test.go).
RECONCILE_BENCH ?= TestBench
# The stock test control plane runs kube-controller-manager at 200 QPS and kube-scheduler at
# client-go's default 50; under a burst of thousands of sandboxes those limits, not fsa, would
# be measured. The benchmark raises them (and the StatefulSet and EndpointSlice controllers'
# worker counts) through k8stest's FSA_K8S_ARGS_<COMPONENT> variables.
RECONCILE_BENCH_KCM_FLAGS ?= --kube-api-qps=1000 --kube-api-burst=2000 --concurrent-statefulset-syncs=20 --concurrent-service-endpoint-syncs=10
RECONCILE_BENCH_SCHED_FLAGS ?= --kube-api-qps=1000 --kube-api-burst=2000

## bench-reconcile: intent/status lag, cold provisioning throughput and idle cost of the reconcile loops (reconcile/BENCH.md)
bench-reconcile: k8s-bins
	FSA_BENCH=1 FSA_K8S_ARGS_KUBE_CONTROLLER_MANAGER='$(RECONCILE_BENCH_KCM_FLAGS)' \
	FSA_K8S_ARGS_KUBE_SCHEDULER='$(RECONCILE_BENCH_SCHED_FLAGS)' \
	$(GO) test -count=1 -timeout 90m -run '$(RECONCILE_BENCH)' -v ./reconcile/ 2>&1 | grep -E '^(=== RUN|--- |\s+bench_[a-z_]*test.go|ok|FAIL|PASS)'

.PHONY: bench-reconcile
