package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

	// Exec round trip of `true`, alternating the two ways.
	const rounds = 60
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
	f50, f99 := pct(viaFsad, 50), pct(viaFsad, 99)
	k50, k99 := pct(viaKubectl, 50), pct(viaKubectl, 99)
	fmt.Fprintf(report, "exec true (%d each, alternating): fsad p50 %v p99 %v | kubectl exec p50 %v p99 %v | ratio p50 %.2f\n",
		rounds, f50, f99, k50, k99, float64(f50)/float64(k50))

	// 100 MiB up and down, alternating, 3 rounds.
	const size = 100 << 20
	blob := make([]byte, size)
	_, _ = rand.Read(blob)
	local := filepath.Join(t.TempDir(), "blob")
	require.NoError(t, os.WriteFile(local, blob, 0o644))
	back := filepath.Join(t.TempDir(), "back")
	mibs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	var up, down, kup, kdown []float64
	for range 3 {
		f, err := os.Open(local)
		require.NoError(t, err)
		t0 := time.Now()
		require.NoError(t, client.Upload(ctx, p.ID, "blob-fsad", f, size, 0o644))
		up = append(up, mibs(time.Since(t0)))
		_ = f.Close()
		t0 = time.Now()
		kube("cp", "-c", "sandbox", local, pod+":blob-kubectl")
		kup = append(kup, mibs(time.Since(t0)))
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
