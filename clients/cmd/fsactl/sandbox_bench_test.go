package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fsaclient "github.com/fullstackagent/fsa/clients/go"
	"github.com/fullstackagent/fsa/internal/devenv/k8stest"
)

// TestBenchSandbox measures, side by side in one run on the local control plane, an exec
// round trip of `true` through fsad (Go client -> fsad -> pods/exec) against `kubectl exec`,
// 100 MiB uploads and downloads against `kubectl cp`, and 100 concurrent execs through one
// fsad (with its peak memory). It reports numbers and asserts only that everything succeeded.
//
//	FSA_BENCH_SANDBOX=1 FSA_KUBECTL=/path/to/kubectl go test ./clients/cmd/fsactl -run TestBenchSandbox -v
func TestBenchSandbox(t *testing.T) {
	if os.Getenv("FSA_BENCH_SANDBOX") == "" {
		t.Skip("a benchmark: set FSA_BENCH_SANDBOX=1 (and FSA_KUBECTL)")
	}
	kubectl := os.Getenv("FSA_KUBECTL")
	require.NotEmpty(t, kubectl, "FSA_KUBECTL names a kubectl binary")
	cl := k8stest.Env(t)
	u := cl.NewTestUser(t, "bench")
	d := startFsad(t)
	c := signedUp(t, d, "bea", string(u.Kubeconfig))
	pod := runningProject(t, c, "bench")
	cl.WaitSandboxServed(t, u.Namespace, pod)
	var p struct{ ID string }
	require.NoError(t, jsonUnmarshal(c.ok("project", "get", "bench", "-o", "json"), &p))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, u.Kubeconfig, 0o600))
	var cfg struct{ Token string }
	data, err := os.ReadFile(c.config)
	require.NoError(t, err)
	require.NoError(t, jsonUnmarshal(string(data), &cfg))
	client, err := fsaclient.New([]string{d.URL}, fsaclient.WithToken(cfg.Token))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	kube := func(args ...string) {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kc}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
	}
	report := &strings.Builder{}
	fmt.Fprintf(report, "sandbox benchmark %s, load %s\n", time.Now().UTC().Format(time.RFC3339), loadavg())

	// FSA_BENCH_UPLOAD_ONLY=1 runs only the uploads (FSA_BENCH_ROUNDS of them, default 3), to
	// measure and profile that path alone.
	uploadOnly := os.Getenv("FSA_BENCH_UPLOAD_ONLY") != ""
	fileRounds := 3
	if n, err := strconv.Atoi(os.Getenv("FSA_BENCH_ROUNDS")); err == nil && n > 0 {
		fileRounds = n
	}

	// Exec round trip of `true`, alternating the two ways.
	rounds := 60
	if uploadOnly {
		rounds = -5
	}
	var viaFsad, viaKubectl []time.Duration
	for i := range rounds + 5 {
		t0 := time.Now()
		code, err := client.Exec(ctx, p.ID, fsaclient.ExecOptions{Command: []string{"true"}})
		require.NoError(t, err)
		require.Equal(t, 0, code)
		d1 := time.Since(t0)
		t0 = time.Now()
		kube("exec", pod, "-c", "sandbox", "--", "true")
		d2 := time.Since(t0)
		if i >= 5 { // warm-up
			viaFsad, viaKubectl = append(viaFsad, d1), append(viaKubectl, d2)
		}
	}
	if !uploadOnly {
		f50, f99 := pct(viaFsad, 50), pct(viaFsad, 99)
		k50, k99 := pct(viaKubectl, 50), pct(viaKubectl, 99)
		fmt.Fprintf(report, "exec true (%d each, alternating): fsad p50 %v p99 %v | kubectl exec p50 %v p99 %v | ratio p50 %.2f\n",
			rounds, f50, f99, k50, k99, float64(f50)/float64(k50))
	}

	// 100 MiB up and down, alternating, 3 rounds.
	const size = 100 << 20
	blob := make([]byte, size)
	_, _ = rand.Read(blob)
	local := filepath.Join(t.TempDir(), "blob")
	require.NoError(t, os.WriteFile(local, blob, 0o644))
	back := filepath.Join(t.TempDir(), "back")
	mibs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	var up, down, kup, kdown []float64
	if dir := os.Getenv("FSA_BENCH_PROFILE"); dir != "" {
		go func() {
			res, err := http.Get(d.URL + "/debug/pprof/profile?seconds=20")
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				_ = os.WriteFile(filepath.Join(dir, "fsad.pprof"), b, 0o644)
			}
		}()
		pf, _ := os.Create(filepath.Join(dir, "client.pprof"))
		_ = pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	for range fileRounds {
		f, err := os.Open(local)
		require.NoError(t, err)
		c0 := cpuTicks()
		t0 := time.Now()
		require.NoError(t, client.Upload(ctx, p.ID, "blob-fsad", f, size, 0o644))
		up = append(up, mibs(time.Since(t0)))
		c1 := cpuTicks()
		_ = f.Close()
		t0 = time.Now()
		kube("cp", "-c", "sandbox", local, pod+":blob-kubectl")
		kup = append(kup, mibs(time.Since(t0)))
		c2 := cpuTicks()
		fmt.Fprintf(report, "upload CPU: fsad path %s | kubectl cp %s\n", cpuDiff(c0, c1), cpuDiff(c1, c2))
		if uploadOnly {
			continue
		}
		out, err := os.Create(back)
		require.NoError(t, err)
		t0 = time.Now()
		_, err = client.Download(ctx, p.ID, "blob-fsad", out, 0)
		require.NoError(t, err)
		down = append(down, mibs(time.Since(t0)))
		_ = out.Close()
		got, err := os.ReadFile(back)
		require.NoError(t, err)
		require.True(t, bytes.Equal(blob, got))
		t0 = time.Now()
		kube("cp", "-c", "sandbox", pod+":blob-kubectl", back)
		kdown = append(kdown, mibs(time.Since(t0)))
	}
	fmt.Fprintf(report, "100 MiB upload MiB/s: fsad %v median %.1f | kubectl cp %v median %.1f | ratio %.2f\n",
		fmts(up), med(up), fmts(kup), med(kup), med(up)/med(kup))
	if uploadOnly {
		t.Log("\n" + report.String())
		return
	}
	fmt.Fprintf(report, "100 MiB download MiB/s: fsad %v median %.1f | kubectl cp %v median %.1f | ratio %.2f\n",
		fmts(down), med(down), fmts(kdown), med(kdown), med(down)/med(kdown))

	// 100 concurrent execs through the one fsad.
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	failures := 0
	start := time.Now()
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			var out bytes.Buffer
			code, err := client.Exec(ctx, p.ID, fsaclient.ExecOptions{Command: []string{"echo", fmt.Sprint(i)}, Stdout: &out})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != 0 || out.String() != fmt.Sprintln(i) {
				failures++
				t.Logf("exec %d: code %d err %v out %q", i, code, err, out.String())
				return
			}
			lat = append(lat, time.Since(t0))
		}()
	}
	wg.Wait()
	require.Zero(t, failures)
	fmt.Fprintf(report, "100 concurrent execs: all succeeded in %v; latency p50 %v p99 %v; fsad peak RSS %s\n",
		time.Since(start).Round(time.Millisecond), pct(lat, 50), pct(lat, 99), peakRSS(d.pid))
	t.Log("\n" + report.String())
	if path := os.Getenv("FSA_BENCH_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report.String()), 0o644))
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i].Round(100 * time.Microsecond)
}

func med(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func fmts(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// cpuTicks sums the CPU time (user+system, with that of waited-for children) of this process
// and its descendants by command name, in clock ticks: the difference of two snapshots is
// what one transfer cost each process of the test world (kubectl and tar processes that ended
// count in their parents: the test process and kwok). Empty where /proc is missing.
func cpuTicks() map[string]int64 {
	type proc struct {
		comm  string
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:]) // f[0] is the state (field 3)
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
		procs[pid] = proc{comm: s[open+1 : end], ppid: ppid, ticks: ticks}
	}
	self := os.Getpid()
	out := map[string]int64{}
	for pid, p := range procs {
		for q, ok := pid, true; ok; {
			if q == self {
				out[p.comm] += p.ticks
				break
			}
			var pp proc
			pp, ok = procs[q]
			q = pp.ppid
			if q <= 1 {
				break
			}
		}
	}
	return out
}

// cpuDiff formats after-before in seconds, largest first, and the total.
func cpuDiff(before, after map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var kvs []kv
	var total int64
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			kvs = append(kvs, kv{k, d})
			total += d
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	parts := []string{fmt.Sprintf("total %.2fs", float64(total)/100)}
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%s %.2fs", e.k, float64(e.v)/100))
	}
	return strings.Join(parts, ", ")
}
