package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

type metric struct {
	name string
	get  func(stats) float64
	unit func(float64) string
}

var metrics = []metric{
	{"writes/s", func(s stats) float64 { return s.Rate }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	{"p50", func(s stats) float64 { return float64(s.P50) }, fmtMs},
	{"p99", func(s stats) float64 { return float64(s.P99) }, fmtMs},
}

func fmtMs(v float64) string { return fmt.Sprintf("%.2f ms", v/float64(time.Millisecond)) }

// spread formats the median of vs with its min–max.
func spread(vs []float64, f func(float64) string) string {
	if len(vs) == 0 {
		return "–"
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%s (%s – %s)", f(med), f(s[0]), f(s[len(s)-1]))
}

func report(w io.Writer, res results, names []string, cfg runConfig) {
	fmt.Fprintf(w, "## storebench: %d repetitions; open loop %d writes/s for %s, closed loops %v writers for %s each\n\n",
		len(res), cfg.rate, cfg.open, cfg.writers, cfg.closed)

	fmt.Fprintf(w, "### Per repetition\n\n| rep | target | load | n | errors | writes/s | p50 | p99 | max |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for i, m := range res {
		fs := m["fsync"]["fsync"]
		fmt.Fprintf(w, "| %d | fsync 4 KiB | – | %d | 0 | %.0f | %s | %s | %s |\n", i+1, fs.N, fs.Rate, ms(fs.P50), ms(fs.P99), ms(fs.Max))
		for _, n := range names {
			for _, l := range loadNames(cfg) {
				s := m[n][l]
				fmt.Fprintf(w, "| %d | %s | %s | %d | %d | %.0f | %s | %s | %s |\n", i+1, n, l, s.N, s.Errors, s.Rate, ms(s.P50), ms(s.P99), ms(s.Max))
			}
		}
	}

	fmt.Fprintf(w, "\n### Medians over repetitions (min – max)\n\n| target | load | writes/s | p50 | p99 |\n|---|---|---:|---:|---:|\n")
	row := func(target, load string, get func(map[string]map[string]stats) (stats, bool)) {
		cells := make([]string, len(metrics))
		for j, mt := range metrics {
			var vs []float64
			for _, m := range res {
				if s, ok := get(m); ok {
					vs = append(vs, mt.get(s))
				}
			}
			cells[j] = spread(vs, mt.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", target, load, cells[0], cells[1], cells[2])
	}
	row("fsync 4 KiB (fdatasync)", "–", func(m map[string]map[string]stats) (stats, bool) { s, ok := m["fsync"]["fsync"]; return s, ok })
	for _, n := range names {
		for _, l := range loadNames(cfg) {
			row(n, l, func(m map[string]map[string]stats) (stats, bool) { s, ok := m[n][l]; return s, ok })
		}
	}

	if !slices.Contains(names, "etcd") {
		return
	}
	fmt.Fprintf(w, "\n### Ratio to etcd, per repetition then median (min – max)\n\n| target | load | writes/s | p50 | p99 |\n|---|---|---:|---:|---:|\n")
	ratio := func(v float64) string { return fmt.Sprintf("%.2f×", v) }
	for _, n := range names {
		if n == "etcd" {
			continue
		}
		for _, l := range loadNames(cfg) {
			cells := make([]string, len(metrics))
			for j, mt := range metrics {
				var vs []float64
				for _, m := range res {
					a, b := mt.get(m[n][l]), mt.get(m["etcd"][l])
					if b > 0 {
						vs = append(vs, a/b)
					}
				}
				cells[j] = spread(vs, ratio)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", n, l, cells[0], cells[1], cells[2])
		}
	}
}
