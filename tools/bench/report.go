package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// profileResult is every sample of one profile, their medians over the rounds, and the figures
// derived from them (ratios to the proxy, latency added over direct).
type profileResult struct {
	Name   string            `json:"name"`
	Paths  []string          `json:"paths"`
	Labels map[string]string `json:"labels"`
	// Samples are appended in round order: index i of every path's figure is round i.
	Samples map[string]map[string][]float64 `json:"samples"`
	// Medians are per path, each over its own rounds: what the charts draw.
	Medians map[string]map[string]float64 `json:"medians"`
	// Derived compares two paths round by round and keeps the median of the per-round ratios or
	// differences: a round that was slow for every path cancels out, where a ratio of two medians
	// taken from different rounds would not.
	Derived map[string]float64 `json:"derived"`
	// Spread is each derived figure's lowest and highest per-round value: a verdict whose range
	// straddles its limit is inside the noise.
	Spread  map[string][2]float64 `json:"spread"`
	Rounds  int                   `json:"rounds"`            // rounds each figure has (the most of any)
	Skipped map[string]string     `json:"skipped,omitempty"` // level → why it was not measured
	// Saturated names the levels where even the upstream alone could not keep its pace: there,
	// CPU per stream and latencies are each process's share of a starved machine, not its cost.
	Saturated map[string]string `json:"saturated,omitempty"`
	Limits    string            `json:"limits,omitempty"`
	// PprofTop is `go tool pprof -top` of the gateway's CPU profile, by path and figure (-pprof).
	PprofTop map[string]string `json:"pprof_top,omitempty"`
}

func newProfileResult(name string, ts []target) *profileResult {
	r := &profileResult{Name: name, Labels: map[string]string{}, Samples: map[string]map[string][]float64{}}
	for _, t := range ts {
		r.Paths = append(r.Paths, t.name)
		r.Labels[t.name] = pathLabels[t.name]
	}
	return r
}

func (r *profileResult) add(path, fig string, v float64) {
	if r.Samples[path] == nil {
		r.Samples[path] = map[string][]float64{}
	}
	r.Samples[path][fig] = append(r.Samples[path][fig], v)
}

func (r *profileResult) addTop(key, top string) {
	if top == "" {
		return
	}
	if r.PprofTop == nil {
		r.PprofTop = map[string]string{}
	}
	r.PprofTop[key] = top
}

func (r *profileResult) skip(level, why string) {
	if r.Skipped == nil {
		r.Skipped = map[string]string{}
	}
	r.Skipped[level] = why
}

// med is a path's median of a figure; 0 when it was not measured.
func (r *profileResult) med(path, fig string) float64 { return r.Medians[path][fig] }

// finish takes the medians and derives the comparisons.
func (r *profileResult) finish(levels []int, rate int, pace time.Duration) {
	r.Medians = map[string]map[string]float64{}
	r.Rounds = 0
	for p, figs := range r.Samples {
		r.Medians[p] = map[string]float64{}
		for f, vs := range figs {
			r.Medians[p][f] = median(vs)
			r.Rounds = max(r.Rounds, len(vs))
		}
	}
	r.Derived, r.Spread = map[string]float64{}, map[string][2]float64{}
	if _, ok := r.Medians["direct"]["rps_c16"]; ok {
		r.deriveRequests(rate)
	}
	for _, n := range levels {
		if _, ok := r.Medians["direct"][fmt.Sprintf("held_%d", n)]; ok {
			r.deriveHeld(n)
			r.checkPace(n, pace)
		}
	}
}

func (r *profileResult) gateways() []string {
	return slices.DeleteFunc(slices.Clone(r.Paths), func(p string) bool { return p == "direct" || p == "proxy" })
}

// pair derives name from path a against path b on one figure, round by round: the median of
// the per-round comparisons, and their range into Spread.
func (r *profileResult) pair(name, a, b, fig string, cmp func(x, y float64) float64) {
	vs := perRound(r.Samples[a][fig], r.Samples[b][fig], cmp)
	r.Derived[name] = median(vs)
	if len(vs) > 0 {
		r.Spread[name] = [2]float64{slices.Min(vs), slices.Max(vs)}
	}
}

func (r *profileResult) deriveRequests(rate int) {
	at := fmt.Sprintf("p99_ms_at_%d", rate)
	r.pair("proxy_rps_c16_vs_direct", "proxy", "direct", "rps_c16", ratio)
	for _, p := range append([]string{"proxy"}, r.gateways()...) {
		r.pair(p+"_added_p50_us_c1", p, "direct", "p50_ms_c1", minusMicros)
		r.pair(p+"_added_"+at, p, "direct", at, minus)
	}
	for _, g := range r.gateways() {
		r.pair(g+"_rps_c16_vs_proxy", g, "proxy", "rps_c16", ratio)
		r.pair(g+"_cpu_per_req_vs_proxy", g, "proxy", "cpu_us_per_req_c16", ratio)
		// (g − direct) − (proxy − direct), round by round, is g − proxy.
		r.pair(g+"_added_p50_us_c1_minus_proxy", g, "proxy", "p50_ms_c1", minusMicros)
	}
	for name, g := range map[string]string{"100pct": "gateway", "10pct": "gateway-10pct"} {
		r.pair("tracing_cost_"+name, g, "gateway-untraced", "rps_c16", cost)
		// Throughput here is set by three processes sharing two cores; the traced gateway's own
		// CPU per request resolves a few percent that throughput cannot.
		r.pair("tracing_cpu_cost_"+name, g, "gateway-untraced", "cpu_us_per_req_c16", excess)
		// And by what tracing allocates per request, which the scheduler does not blur.
		r.pair("tracing_allocs_per_req_"+name, g, "gateway-untraced", "allocs_per_req_c16", minus)
		r.pair("tracing_alloc_kib_per_req_"+name, g, "gateway-untraced", "alloc_kib_per_req_c16", minus)
	}
	if _, ok := r.Samples["gateway-10pct-base"]; ok {
		r.pair("vs_base_rps_c16_10pct", "gateway-10pct", "gateway-10pct-base", "rps_c16", ratio)
		r.pair("vs_base_cpu_per_req_10pct", "gateway-10pct", "gateway-10pct-base", "cpu_us_per_req_c16", ratio)
	}
}

func (r *profileResult) deriveHeld(n int) {
	s := fmt.Sprintf("_%d", n)
	lat := []string{"first_chunk_p50_ms", "first_chunk_p99_ms", "gap_p50_ms", "gap_p99_ms"}
	for _, p := range append([]string{"proxy"}, r.gateways()...) {
		for _, f := range lat {
			r.pair(p+"_added_"+f+s, p, "direct", f+s, minus)
		}
	}
	for _, g := range r.gateways() {
		for _, f := range lat {
			r.pair(g+"_added_"+f+"_vs_proxy"+s, g, "proxy", f+s, minus)
		}
		r.pair(g+"_rss_vs_proxy"+s, g, "proxy", "rss_mib"+s, ratio)
		r.pair(g+"_hwm_vs_proxy"+s, g, "proxy", "hwm_mib"+s, ratio)
		r.pair(g+"_cpu_per_stream_vs_proxy"+s, g, "proxy", "millicores_per_held_stream"+s, ratio)
	}
}

// checkPace marks a level saturated when the direct path's median gap strays from the
// fixture's pace by more than a quarter, or direct did not hold 95 % of the streams.
func (r *profileResult) checkPace(n int, pace time.Duration) {
	s := fmt.Sprintf("_%d", n)
	gap, held := r.med("direct", "gap_p50_ms"+s), r.med("direct", "held"+s)
	want := float64(pace) / float64(time.Millisecond)
	if gap >= 0.8*want && gap <= 1.25*want && held >= 0.95*float64(n) {
		return
	}
	if r.Saturated == nil {
		r.Saturated = map[string]string{}
	}
	r.Saturated[fmt.Sprint(n)] = fmt.Sprintf("direct: gap p50 %.3f ms for a %.0f ms pace, %.0f of %d held", gap, want, held, n)
}

// report is one run: what ran, on what, and every profile's figures.
type report struct {
	When     string           `json:"when"`
	Machine  machine          `json:"machine"`
	Options  map[string]any   `json:"options"`
	Profiles []*profileResult `json:"profiles"`
	Targets  []targetResult   `json:"targets"`
}

type machine struct {
	Cores      int    `json:"cores"`
	Go         string `json:"go"`
	LoadBefore string `json:"load_before"` // /proc/loadavg: how busy the shared machine was
	LoadAfter  string `json:"load_after"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// record updates the committed figures: one JSON file per profile under tools/bench/results
// and one chart per profile under docs/img.
func record(repo string, rep report, levels []int, rate int) error {
	for _, p := range rep.Profiles {
		one := rep
		one.Profiles = []*profileResult{p}
		one.Targets = slices.DeleteFunc(slices.Clone(rep.Targets), func(t targetResult) bool { return t.Profile != p.Name })
		if err := writeJSON(filepath.Join(repo, "tools", "bench", "results", p.Name+".json"), one); err != nil {
			return err
		}
		svg := renderSVG(chartOf(p, levels, rate))
		img := filepath.Join(repo, "docs", "img")
		if err := os.MkdirAll(img, 0o755); err != nil {
			return fmt.Errorf("charts folder: %w", err)
		}
		if err := os.WriteFile(filepath.Join(img, "bench-"+p.Name+".svg"), svg, 0o644); err != nil {
			return fmt.Errorf("write chart: %w", err)
		}
	}
	return nil
}

// chartOf draws a profile: request profiles as throughput, CPU and latency panels; held
// streams as held, RSS, CPU per held stream and the latency percentiles for each level.
func chartOf(r *profileResult, levels []int, rate int) chart {
	c := chart{title: "aiservice bench: " + r.Name + " (median of rounds, one run, paths side by side)"}
	bars := func(fig string, note func(path string) string) []bar {
		var out []bar
		for _, p := range r.Paths {
			b := bar{label: p, value: r.med(p, fig)}
			if note != nil {
				b.note = note(p)
			}
			out = append(out, b)
		}
		return out
	}
	if _, ok := r.Medians["direct"]["rps_c16"]; ok {
		at := fmt.Sprintf("%d", rate)
		c.panels = append(c.panels,
			panel{"req/s at c=16 (higher is better)", bars("rps_c16", nil)},
			panel{"CPU per request at c=16, µs (lower is better)", bars("cpu_us_per_req_c16", nil)},
			panel{"p50 latency at c=1, ms", bars("p50_ms_c1", nil)},
			panel{"p99 latency at " + at + " req/s, ms", bars("p99_ms_at_"+at, nil)},
		)
	}
	for _, n := range levels {
		s := fmt.Sprintf("_%d", n)
		if _, ok := r.Medians["direct"]["held"+s]; !ok {
			continue
		}
		sat := ""
		if r.Saturated[fmt.Sprint(n)] != "" {
			sat = " [SATURATED: the upstream alone lost its pace]"
		}
		c.panels = append(c.panels,
			panel{fmt.Sprintf("streams held of %d (higher is better)", n), bars("held"+s, func(p string) string {
				return fmt.Sprintf("refused %.0f, errors %.0f", r.med(p, "refused"+s), r.med(p, "errors"+s))
			})},
			panel{fmt.Sprintf("RSS holding %d streams, MiB (lower is better)", n), bars("rss_mib"+s, func(p string) string {
				return fmt.Sprintf("HWM %.0f", r.med(p, "hwm_mib"+s))
			})},
			panel{fmt.Sprintf("CPU per held stream at %d, millicores%s", n, sat), bars("millicores_per_held_stream"+s, nil)},
			panel{fmt.Sprintf("first chunk p99 at %d, ms%s", n, sat), bars("first_chunk_p99_ms"+s, func(p string) string {
				return fmt.Sprintf("p50 %s", formatValue(r.med(p, "first_chunk_p50_ms"+s)))
			})},
			panel{fmt.Sprintf("inter-chunk gap p99 at %d, ms%s", n, sat), bars("gap_p99_ms"+s, func(p string) string {
				return fmt.Sprintf("p50 %s", formatValue(r.med(p, "gap_p50_ms"+s)))
			})},
		)
	}
	return c
}

// printTable writes the medians, path by path, then the derived figures and the targets.
func printTable(w io.Writer, rep report) {
	for _, r := range rep.Profiles {
		fmt.Fprintf(w, "\n== %s ==\n%-34s", r.Name, "figure (median)")
		for _, p := range r.Paths {
			fmt.Fprintf(w, " %17s", p)
		}
		fmt.Fprintln(w)
		var figs []string
		for _, p := range r.Paths { // a figure only some paths have (allocations: the gateways') too
			for f := range r.Medians[p] {
				if !slices.Contains(figs, f) {
					figs = append(figs, f)
				}
			}
		}
		sort.Strings(figs)
		for _, f := range figs {
			fmt.Fprintf(w, "%-34s", f)
			for _, p := range r.Paths {
				if v, ok := r.Medians[p][f]; ok {
					fmt.Fprintf(w, " %17.3f", v)
				} else {
					fmt.Fprintf(w, " %17s", "-")
				}
			}
			fmt.Fprintln(w)
		}
		for level, why := range r.Skipped {
			fmt.Fprintf(w, "NOT MEASURED: %s streams: %s\n", level, why)
		}
		for level, why := range r.Saturated {
			fmt.Fprintf(w, "SATURATED: %s streams: %s\n", level, why)
		}
		for key, top := range r.PprofTop {
			fmt.Fprintf(w, "-- CPU profile, %s --\n%s\n", key, top)
		}
		var ds []string
		for d := range r.Derived {
			ds = append(ds, d)
		}
		sort.Strings(ds)
		fmt.Fprintf(w, "-- derived: median of the per-round comparisons (lowest–highest round of %d) --\n", r.Rounds)
		for _, d := range ds {
			fmt.Fprintf(w, "  %-56s %10.3f", d, r.Derived[d])
			if sp, ok := r.Spread[d]; ok {
				fmt.Fprintf(w, "  (%.3f–%.3f)", sp[0], sp[1])
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "\n== targets ==")
	for _, t := range rep.Targets {
		state := "MISSED"
		if t.Met {
			state = "met"
		}
		fmt.Fprintf(w, "%-7s %-15s %-62s %s\n", state, t.Profile, t.Target, t.Measured)
	}
}
