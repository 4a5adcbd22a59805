package main

import "fmt"

// targetResult is one of issue 17's targets against this run.
type targetResult struct {
	Profile  string `json:"profile"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// heldAll says whether a path held every stream: nothing refused, and the open streams
// sampled at ≥ 95 % of the clients (a client is between two streams for a moment). Memory and
// CPU per stream of a path that refused streams are not comparable: refusing is cheap. Errors
// are reported on their own.
func heldAll(r *profileResult, path string, n int) bool {
	s := fmt.Sprintf("_%d", n)
	return r.med(path, "refused"+s) == 0 && r.med(path, "held"+s) >= 0.95*float64(n)
}

// evaluate checks every target of issue 17 that this run measured.
func evaluate(rs []*profileResult, levels []int) []targetResult {
	var out []targetResult
	for _, r := range rs {
		if _, ok := r.Derived["gateway_rps_c16_vs_proxy"]; ok && r.Name == "realistic" {
			out = append(out, requestTargets(r)...)
		}
		for _, n := range levels {
			if _, ok := r.Medians["direct"][fmt.Sprintf("held_%d", n)]; ok {
				out = append(out, heldTargets(r, n)...)
			}
		}
	}
	return out
}

// unit prints a derived figure: verb formats the scaled value, prefix and suffix wrap the median.
type unit struct {
	prefix, verb, suffix string
	scale                float64
}

var (
	times3        = unit{verb: "%.3f", suffix: "×", scale: 1}
	times2        = unit{verb: "%.2f", suffix: "×", scale: 1}
	percent       = unit{verb: "%.1f", suffix: " %", scale: 100}
	proxyUS       = unit{prefix: "proxy ", verb: "%+.0f", suffix: " µs", scale: 1}
	proxyMS       = unit{prefix: "proxy ", verb: "%+.2f", suffix: " ms", scale: 1}
	signedPercent = unit{verb: "%+.1f", suffix: " %", scale: 100}
	plus          = unit{verb: "%+.1f", scale: 1}
)

// limit is one target on a derived figure: at most (or, atLeast, at least) bound.
type limit struct {
	target, fig string
	bound       float64
	atLeast     bool
	u           unit
}

func (l limit) meets(v float64) bool {
	if l.atLeast {
		return v >= l.bound
	}
	return v <= l.bound
}

// describe is a derived figure's median and its per-round range, e.g. "1.046× (0.980–1.100 over 5
// rounds)"; with a limit, a range on both sides of it adds "within noise".
func (r *profileResult) describe(fig string, u unit, l *limit) string {
	out := u.prefix + fmt.Sprintf(u.verb, r.Derived[fig]*u.scale) + u.suffix
	sp, ok := r.Spread[fig]
	switch {
	case !ok:
		return out
	case r.Rounds < 2:
		return out + " (one round)" // no range to judge the noise by
	}
	out += fmt.Sprintf(" (%s–%s over %d rounds", fmt.Sprintf(u.verb, sp[0]*u.scale), fmt.Sprintf(u.verb, sp[1]*u.scale), r.Rounds)
	if l != nil && l.meets(sp[0]) != l.meets(sp[1]) {
		out += ", within noise"
	}
	return out + ")"
}

// check decides a target by the median; the range only says how sure that verdict is.
func (r *profileResult) check(l limit) targetResult {
	return targetResult{Profile: r.Name, Target: l.target, Measured: r.describe(l.fig, l.u, &l), Met: l.meets(r.Derived[l.fig])}
}

func requestTargets(r *profileResult) []targetResult {
	var out []targetResult
	for _, l := range []limit{
		{"req/s at c=16 ≥ 0.95× proxy, untraced", "gateway-untraced_rps_c16_vs_proxy", 0.95, true, times3},
		{"req/s at c=16 ≥ 0.9× proxy, 100 % export", "gateway_rps_c16_vs_proxy", 0.9, true, times3},
		{"CPU per request ≤ 1.15× proxy, untraced", "gateway-untraced_cpu_per_req_vs_proxy", 1.15, false, times3},
		{"CPU per request ≤ 1.3× proxy, 100 % export", "gateway_cpu_per_req_vs_proxy", 1.3, false, times3},
		{"added p50 at c=1 ≤ proxy + 50 µs, untraced", "gateway-untraced_added_p50_us_c1_minus_proxy", 50, false, proxyUS},
		{"added p50 at c=1 ≤ proxy + 50 µs, 100 % export", "gateway_added_p50_us_c1_minus_proxy", 50, false, proxyUS},
		{"10 % sampling costs ≤ 3 % req/s at c=16", "tracing_cost_10pct", 0.03, false, percent},
	} {
		out = append(out, r.check(l))
	}
	// The CPU figure is information beside the throughput target, not a target of its own.
	last := &out[len(out)-1]
	last.Measured += "; CPU per request " + r.describe("tracing_cpu_cost_10pct", signedPercent, nil)
	if _, ok := r.Spread["tracing_allocs_per_req_10pct"]; ok {
		last.Measured += "; allocations per request " + r.describe("tracing_allocs_per_req_10pct", plus, nil) +
			" (100 % export: " + r.describe("tracing_allocs_per_req_100pct", plus, nil) + ")"
	}
	last.Measured += ", for information"
	return out
}

// heldTargets checks the shipped-defaults gateway (100 % export); the tuned variant, if it ran,
// is reported beside it, labelled, and never counts as meeting a target.
func heldTargets(r *profileResult, n int) []targetResult {
	s := fmt.Sprintf("_%d", n)
	var out []targetResult
	if n >= 5000 {
		held, refused, errs := r.med("gateway", "held"+s), r.med("gateway", "refused"+s), r.med("gateway", "errors"+s)
		out = append(out, targetResult{Profile: r.Name, Target: fmt.Sprintf("defaults hold %d paced streams, 0 refused, 0 errors", n),
			Measured: fmt.Sprintf("held %.0f, refused %.0f, errors %.0f", held, refused, errs),
			Met:      heldAll(r, "gateway", n) && errs == 0})
	}
	for _, g := range []string{"gateway", "gateway-tuned"} {
		if _, ok := r.Medians[g]; !ok {
			continue
		}
		label := ""
		if g == "gateway-tuned" {
			label = " [TUNED, not the default]"
		}
		comparable := heldAll(r, g, n) && heldAll(r, "proxy", n)
		saturated := r.Saturated[fmt.Sprint(n)]
		cmp := func(target, fig string, bound float64, u unit, paced bool) targetResult {
			t := r.check(limit{target: target + label, fig: fig, bound: bound, u: u})
			if !comparable {
				t.Measured += fmt.Sprintf(" (not comparable: %s held %.0f of %d, proxy %.0f)", g, r.med(g, "held"+s), n, r.med("proxy", "held"+s))
			}
			if paced && saturated != "" {
				t.Measured += " (machine saturated, " + saturated + ")"
			}
			t.Met = t.Met && comparable && !(paced && saturated != "") && g == "gateway"
			return t
		}
		out = append(out,
			cmp(fmt.Sprintf("RSS holding %d streams ≤ 1.2× proxy", n), g+"_rss_vs_proxy"+s, 1.2, times2, false),
			cmp(fmt.Sprintf("CPU per held stream at %d ≤ 1.1× proxy", n), g+"_cpu_per_stream_vs_proxy"+s, 1.1, times2, true),
			cmp(fmt.Sprintf("added inter-chunk gap p99 at %d ≤ proxy's", n), g+"_added_gap_p99_ms_vs_proxy"+s, 0, proxyMS, true),
		)
	}
	return out
}
