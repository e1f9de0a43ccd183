package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fullstackagent/fsa/store/raftstore"
)

// daemonMetrics are the daemon's own collectors on its registry.
type daemonMetrics struct {
	reconcileRunning  prometheus.Gauge
	fence             prometheus.Gauge
	leadershipChanges prometheus.Counter
}

func newDaemonMetrics(reg *prometheus.Registry) (*daemonMetrics, error) {
	m := &daemonMetrics{
		reconcileRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "fsa", Subsystem: "daemon", Name: "reconcile_running",
			Help: "1 while this node runs the reconcile loops (it is the usable leader).",
		}),
		fence: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "fsa", Subsystem: "daemon", Name: "fence",
			Help: "Fencing token of the running reconcile loops (0 when not running).",
		}),
		leadershipChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "fsa", Subsystem: "daemon", Name: "leadership_changes_total",
			Help: "Leadership notifications (gained or lost) handled by the leader monitor.",
		}),
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.reconcileRunning, m.fence, m.leadershipChanges,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// raftCollector reports a node's Raft state on each scrape.
type raftCollector struct {
	st                                  *raftstore.Store
	leader, term, last, commit, applied *prometheus.Desc
}

func newRaftCollector(st *raftstore.Store) *raftCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("fsa", "raft", name), help, nil, nil)
	}
	return &raftCollector{
		st:      st,
		leader:  d("leader", "1 if this node is the Raft leader, else 0."),
		term:    d("term", "Current Raft term."),
		last:    d("last_index", "Index of the last entry in this node's log."),
		commit:  d("commit_index", "Index of the last entry known committed."),
		applied: d("applied_index", "Index of the last entry applied to this node's state."),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.term, c.last, c.commit, c.applied} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.st.Status(ctx)
	if err != nil {
		return
	}
	leader := 0.0
	if st.State == "Leader" {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.term, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(st.LastIndex))
	ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(st.AppliedIndex))
}

// scopedRegisterer registers collectors on a registry and unregisters them all at once: each
// term's reconcile runner registers the same metrics anew, so the previous term's must go.
type scopedRegisterer struct {
	reg prometheus.Registerer

	mu   sync.Mutex
	regd []prometheus.Collector
}

var _ prometheus.Registerer = (*scopedRegisterer)(nil)

func (s *scopedRegisterer) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.regd = append(s.regd, c)
	s.mu.Unlock()
	return nil
}

func (s *scopedRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

func (s *scopedRegisterer) Unregister(c prometheus.Collector) bool {
	s.mu.Lock()
	for i, r := range s.regd {
		if r == c {
			s.regd = append(s.regd[:i], s.regd[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	return s.reg.Unregister(c)
}

// unregisterAll removes every collector registered through s.
func (s *scopedRegisterer) unregisterAll() {
	s.mu.Lock()
	regd := s.regd
	s.regd = nil
	s.mu.Unlock()
	for _, c := range regd {
		s.reg.Unregister(c)
	}
}
