package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	fsav1 "github.com/fullstackagent/fsa/clients/gen/fsa/v1"
	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/internal/devenv/fsadtest"

	"github.com/fullstackagent/fsa/bench/internal/latency"
)

// kubeconfig is namespaced and valid, and points at an address nothing listens on.
const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: https://127.0.0.1:1
users:
- name: bench
  user:
    token: bench-not-a-secret
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
    namespace: bench
current-context: bench
`

// stats summarises one load (latency.Stats).
type stats = latency.Stats

func summarize(lat []time.Duration, errs int, wall time.Duration) stats {
	return latency.Summarize(lat, errs, wall)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

type user struct {
	name  string
	token string            // session token: a secret, never printed
	cli   *fsaclient.Client // follows the leader
}

type bench struct {
	c    *fsadtest.Cluster
	hc   *http.Client
	open []stats
	clo  []stats
	// fan-out, per round: lag from ack, lag from send, CreateProject latency, missing deliveries.
	lagAck, lagSend, fanCreate []stats
	missing                    []int
	watchers, fanUsers         int
	nameSeq                    atomic.Int64
}

func (b *bench) endpoints() []string {
	var out []string
	for _, n := range b.c.Nodes {
		out = append(out, n.URL())
	}
	return out
}

func (b *bench) client(endpoints []string, token string) (*fsaclient.Client, error) {
	opts := []fsaclient.Option{fsaclient.WithHTTPClient(b.hc)}
	if token != "" {
		opts = append(opts, fsaclient.WithToken(token))
	}
	return fsaclient.New(endpoints, opts...)
}

// signUp creates n users (with kubeconfigs), par at a time.
func (b *bench) signUp(ctx context.Context, prefix string, n, par int) ([]*user, error) {
	users := make([]*user, n)
	errs := make(chan error, par)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("%s%04d", prefix, i)
			var err error
			// The client's own retries give up during a long election on a loaded machine;
			// setting a user up again is safe (SignUp falls back to Login).
			for attempt := 0; attempt == 0 || retryable(err) && attempt < 20; attempt++ {
				if attempt > 0 {
					time.Sleep(250 * time.Millisecond) // backoff while a leader is elected
				}
				users[i], err = b.setUp(ctx, name)
			}
			if err != nil {
				select {
				case errs <- fmt.Errorf("user %s: %w", name, err):
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return users, nil
}

func retryable(err error) bool {
	c := connect.CodeOf(err)
	return err != nil && (c == connect.CodeUnavailable || c == connect.CodeDeadlineExceeded || c == connect.CodeAborted)
}

// setUp signs a user up (or logs in, if an earlier attempt signed up) and sets its kubeconfig.
func (b *bench) setUp(ctx context.Context, name string) (*user, error) {
	anon, err := b.client(b.endpoints(), "")
	if err != nil {
		return nil, err
	}
	password := "bench-password-" + name
	resp, err := anon.Auth().SignUp(ctx, connect.NewRequest(&fsav1.SignUpRequest{Username: name, Password: password}))
	if connect.CodeOf(err) == connect.CodeAlreadyExists {
		// A retried SignUp whose first attempt committed.
		var lr *connect.Response[fsav1.LoginResponse]
		lr, err = anon.Auth().Login(ctx, connect.NewRequest(&fsav1.LoginRequest{Username: name, Password: password}))
		if err == nil {
			resp = connect.NewResponse(&fsav1.SignUpResponse{Session: lr.Msg.GetSession()})
		}
	}
	if err != nil {
		return nil, err
	}
	token := resp.Msg.GetSession().GetToken()
	cli, err := b.client(b.endpoints(), token)
	if err != nil {
		return nil, err
	}
	if _, err := cli.UserConfig().SetKubeconfig(ctx, connect.NewRequest(&fsav1.SetKubeconfigRequest{Kubeconfig: kubeconfig})); err != nil {
		return nil, err
	}
	return &user{name: name, token: token, cli: cli}, nil
}

func (b *bench) create(ctx context.Context, u *user) (*fsav1.Project, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := u.cli.Projects().CreateProject(ctx, connect.NewRequest(&fsav1.CreateProjectRequest{
		Name: fmt.Sprintf("p%d", b.nameSeq.Add(1)),
	}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetProject(), nil
}

// openLoop sends rate CreateProject/s for d, round robin over users.
func (b *bench) openLoop(ctx context.Context, users []*user, rate int, d time.Duration) stats {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at)) // pacing the offered load, not synchronisation
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.create(ctx, users[i%len(users)])
			lat[i], failed[i] = time.Since(at), err != nil
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var ok []time.Duration
	errs := 0
	for i := range lat {
		if failed[i] {
			errs++
		} else {
			ok = append(ok, lat[i])
		}
	}
	return summarize(ok, errs, wall)
}

// closedLoop runs clients goroutines, each its own user, creating back to back for d.
func (b *bench) closedLoop(ctx context.Context, users []*user, d time.Duration) stats {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				_, err := b.create(ctx, u)
				l := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, l)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return summarize(lat, errs, time.Since(start))
}

func (b *bench) run(ctx context.Context, reps, rate int, openDur, closedDur time.Duration, clients, watchers, perUser, watchReps int) error {
	b.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxIdleConns: 8192, IdleConnTimeout: time.Minute}}
	b.watchers = watchers
	t0 := time.Now()
	users, err := b.signUp(ctx, "load", clients, 8)
	if err != nil {
		return err
	}
	log.Printf("%d load users ready in %s", len(users), time.Since(t0).Round(time.Millisecond))
	// Warm-up: every client finds the leader and opens its connection.
	b.closedLoop(ctx, users, time.Second)
	for rep := 0; rep < reps; rep++ {
		s := b.openLoop(ctx, users, rate, openDur)
		log.Printf("rep %d open %d/s: %s", rep, rate, s)
		b.open = append(b.open, s)
		s = b.closedLoop(ctx, users, closedDur)
		log.Printf("rep %d closed %d clients: %s", rep, clients, s)
		b.clo = append(b.clo, s)
	}
	if watchers == 0 {
		return nil
	}
	return b.fanOut(ctx, rate, watchers, perUser, watchReps)
}

// fanOut starts watchers watchers, perUser per user, spread over the nodes, then creates one
// project per user per round at rate/s and measures the lag of each delivery to each of the
// user's watchers.
func (b *bench) fanOut(ctx context.Context, rate, watchers, perUser, rounds int) error {
	t0 := time.Now()
	users, err := b.signUp(ctx, "watch", watchers/perUser, 8)
	if err != nil {
		return err
	}
	log.Printf("%d watch users ready in %s", len(users), time.Since(t0).Round(time.Millisecond))
	b.fanUsers = len(users)

	type receipt struct {
		project string
		watcher int
	}
	var (
		mu       sync.Mutex
		received = map[receipt]time.Time{} // first receipt of a project by a watcher
		ready    atomic.Int64
		wg       sync.WaitGroup
		werrs    atomic.Int64
	)
	wctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for i := 0; i < watchers; i++ {
		u := users[i%len(users)]
		node := b.c.Nodes[i%len(b.c.Nodes)]
		cli, err := b.client([]string{node.URL()}, u.token)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := cli.Watch(wctx, 0, func(m *fsav1.WatchProjectsResponse) error {
				now := time.Now()
				if first {
					first = false
					ready.Add(1)
				}
				if p := m.GetProject(); p != nil && m.GetType() == fsav1.EventType_EVENT_TYPE_PUT {
					mu.Lock()
					if _, ok := received[receipt{p.GetId(), i}]; !ok {
						received[receipt{p.GetId(), i}] = now
					}
					mu.Unlock()
				}
				return nil
			})
			if err != nil && wctx.Err() == nil {
				werrs.Add(1)
				log.Printf("watcher %d: %v", i, err)
			}
		}()
	}
	waitUntil(ctx, 120*time.Second, func() bool { return ready.Load() == int64(watchers) })
	log.Printf("%d of %d watchers streaming after %s", ready.Load(), watchers, time.Since(t0).Round(time.Millisecond))

	for round := 0; round < rounds; round++ {
		type sent struct {
			id        string
			send, ack time.Time
		}
		sents := make([]sent, len(users))
		failed := 0
		interval := time.Second / time.Duration(rate)
		start := time.Now()
		var swg sync.WaitGroup
		var fmu sync.Mutex
		for i, u := range users {
			at := start.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(at)) // pacing the offered load
			swg.Add(1)
			go func() {
				defer swg.Done()
				p, err := b.create(ctx, u)
				if err != nil {
					fmu.Lock()
					failed++
					fmu.Unlock()
					return
				}
				sents[i] = sent{p.GetId(), at, time.Now()}
			}()
		}
		swg.Wait()
		// Wait for deliveries: every created project seen, or 30 s.
		waitUntil(ctx, 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for w := 0; w < watchers; w++ {
				if s := sents[w%len(users)]; s.id != "" {
					if _, ok := received[receipt{s.id, w}]; !ok {
						return false
					}
				}
			}
			return true
		})
		var fromAck, fromSend, create []time.Duration
		missing := 0
		mu.Lock()
		for _, s := range sents {
			if s.id != "" {
				create = append(create, s.ack.Sub(s.send))
			}
		}
		for w := 0; w < watchers; w++ {
			s := sents[w%len(users)]
			if s.id == "" {
				continue
			}
			at, ok := received[receipt{s.id, w}]
			if !ok {
				missing++
				continue
			}
			fromAck = append(fromAck, at.Sub(s.ack))
			fromSend = append(fromSend, at.Sub(s.send))
		}
		mu.Unlock()
		wall := time.Since(start)
		la, ls, cr := summarize(fromAck, 0, 0), summarize(fromSend, 0, 0), summarize(create, failed, wall)
		log.Printf("fan-out round %d: lag from ack %s (min %s); from send %s; create %s; missing %d; watcher errors %d",
			round, la, ms(la.Min), ls, cr, missing, werrs.Load())
		b.lagAck, b.lagSend, b.fanCreate = append(b.lagAck, la), append(b.lagSend, ls), append(b.fanCreate, cr)
		b.missing = append(b.missing, missing)
	}
	if n := werrs.Load(); n > 0 {
		return fmt.Errorf("%d watchers failed", n)
	}
	return nil
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) {
	deadline := time.Now().Add(d)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func spread(ss []stats, get func(stats) float64, f func(float64) string) string {
	var vs []float64
	for _, s := range ss {
		vs = append(vs, get(s))
	}
	if len(vs) == 0 {
		return "–"
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return fmt.Sprintf("%s (%s – %s)", f(med), f(vs[0]), f(vs[len(vs)-1]))
}

func fms(v float64) string   { return ms(time.Duration(v)) }
func frate(v float64) string { return fmt.Sprintf("%.0f", v) }

func (b *bench) report(rate int, openDur, closedDur time.Duration, clients, watchers int) string {
	var w strings.Builder
	fmt.Fprintf(&w, "## rpcbench: CreateProject on %d fsad processes (loopback)\n\n", len(b.c.Nodes))
	fmt.Fprintf(&w, "| load | rep | n | errors | req/s | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, s := range b.open {
		fmt.Fprintf(&w, "| open %d/s for %s | %d | %d | %d | %.0f | %s | %s | %s |\n", rate, openDur, i+1, s.N, s.Errors, s.Rate, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	for i, s := range b.clo {
		fmt.Fprintf(&w, "| closed %d clients for %s | %d | %d | %d | %.0f | %s | %s | %s |\n", clients, closedDur, i+1, s.N, s.Errors, s.Rate, ms(s.P50), ms(s.P99), ms(s.Max))
	}
	p50 := func(s stats) float64 { return float64(s.P50) }
	p99 := func(s stats) float64 { return float64(s.P99) }
	rt := func(s stats) float64 { return s.Rate }
	fmt.Fprintf(&w, "\nMedians (min – max) over %d repetitions:\n\n| load | req/s | p50 | p99 |\n|---|---:|---:|---:|\n", len(b.open))
	fmt.Fprintf(&w, "| open %d/s | %s | %s | %s |\n", rate, spread(b.open, rt, frate), spread(b.open, p50, fms), spread(b.open, p99, fms))
	fmt.Fprintf(&w, "| closed %d clients | %s | %s | %s |\n", clients, spread(b.clo, rt, frate), spread(b.clo, p50, fms), spread(b.clo, p99, fms))
	if len(b.lagAck) == 0 {
		return w.String()
	}
	fmt.Fprintf(&w, "\n## Watch fan-out: %d watchers (%d users), spread over %d nodes, one CreateProject per user per round at %d/s\n\n", watchers, b.fanUsers, len(b.c.Nodes), rate)
	fmt.Fprintf(&w, "| round | deliveries | missing | lag from ack p50 | p99 | max | lag from send p50 | p99 | CreateProject p50 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := range b.lagAck {
		a, s, c := b.lagAck[i], b.lagSend[i], b.fanCreate[i]
		fmt.Fprintf(&w, "| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", i+1, a.N, b.missing[i], ms(a.P50), ms(a.P99), ms(a.Max), ms(s.P50), ms(s.P99), ms(c.P50), ms(c.P99))
	}
	fmt.Fprintf(&w, "\nMedians (min – max): lag from ack p50 %s, p99 %s; lag from send p99 %s\n",
		spread(b.lagAck, p50, fms), spread(b.lagAck, p99, fms), spread(b.lagSend, p99, fms))
	return w.String()
}
