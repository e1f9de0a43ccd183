package reconcile

import "github.com/prometheus/client_golang/prometheus"

// metrics are the runner's Prometheus collectors, registered on the caller's registry.
type metrics struct {
	depth     prometheus.GaugeFunc
	duration  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	lag       *prometheus.HistogramVec
	k8sWrites *prometheus.CounterVec
	upToDate  *prometheus.CounterVec
	// projectReads counts the projects syncs worked from, by source: "store" (read for the sync)
	// or "listing" (the first listing's copy, see Runner.listedProject).
	projectReads *prometheus.CounterVec
	// cacheWaits counts syncs that waited for a user's informer caches to sync.
	cacheWaits *prometheus.CounterVec
	// initialSync is set once, when every item of the runner's first listing has synced.
	initialSync prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, depth func() float64) (*metrics, error) {
	m := &metrics{
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "queue_depth",
			Help: "Items waiting in the reconcile work queue.",
		}, depth),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "sync_duration_seconds",
			Help:    "Time to sync one sandbox or database with Kubernetes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "sync_errors_total",
			Help: "Syncs that failed and were retried with backoff.",
		}, []string{"kind"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "lag_seconds",
			Help:    "Time from a recorded intent (CREATING, STARTING, STOPPING, TERMINATING) to the first Kubernetes write carrying it out.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"kind"}),
		k8sWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "kubernetes_writes_total",
			Help: "Apply, scale and delete calls made to Kubernetes.",
		}, []string{"kind", "op"}),
		upToDate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "syncs_up_to_date_total",
			Help: "Syncs answered from memory: nothing the child's last sync rested on had changed.",
		}, []string{"kind"}),
		projectReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "project_reads_total",
			Help: "Projects a sync worked from, by source: read from the store for it, or kept from the runner's first listing.",
		}, []string{"source"}),
		cacheWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "cache_waits_total",
			Help: "Syncs that waited for their user's informer caches to sync before reading them (none once caches are warm, see reconcile.Caches).",
		}, []string{"kind"}),
		initialSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "fsa", Subsystem: "reconcile", Name: "initial_sync_seconds",
			Help: "Time from the runner's start until every sandbox and database it listed at start had synced " +
				"successfully once (after a leadership change: the new leader has checked, and repaired where " +
				"needed, everything it took over); 0 until then, and while any of them keeps failing.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.depth, m.duration, m.errors, m.lag, m.k8sWrites, m.upToDate, m.projectReads, m.cacheWaits, m.initialSync} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
