package main

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func heldProfile(gw, direct map[string][]float64) *profileResult {
	r := &profileResult{Name: "paced-streams", Paths: []string{"direct", "proxy", "gateway"}, Samples: map[string]map[string][]float64{}}
	base := map[string]float64{"held_1000": 1000, "refused_1000": 0, "errors_1000": 0, "rss_mib_1000": 100,
		"hwm_mib_1000": 110, "millicores_per_held_stream_1000": 0.8, "gap_p99_ms_1000": 21, "first_chunk_p50_ms_1000": 21,
		"first_chunk_p99_ms_1000": 25, "gap_p50_ms_1000": 20}
	for range 3 { // three hold rounds
		for _, p := range r.Paths {
			for f, v := range base {
				r.add(p, f, v)
			}
		}
	}
	for f, vs := range gw {
		r.Samples["gateway"][f] = vs
	}
	for f, vs := range direct {
		r.Samples["direct"][f] = vs
	}
	r.finish([]int{1000}, 1000, 20*time.Millisecond)
	return r
}

func TestHeldTargets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		gw, direct map[string][]float64
		wantMet    map[string]bool // by the start of the target's text
		wantIn     string
	}{
		{"at the proxy's figures", nil, nil,
			map[string]bool{"RSS": true, "CPU": true, "added inter-chunk": true}, ""},
		{"twice the memory", map[string][]float64{"rss_mib_1000": {250, 200, 210}}, nil,
			map[string]bool{"RSS": false, "CPU": true}, "2.10× (2.00–2.50 over 3 rounds)"},
		{"memory within the noise of its limit", map[string][]float64{"rss_mib_1000": {110, 115, 130}}, nil,
			map[string]bool{"RSS": true, "CPU": true}, "1.15× (1.10–1.30 over 3 rounds, within noise)"},
		{"refusing makes memory not comparable", map[string][]float64{"held_1000": {512, 512, 512}, "refused_1000": {9730, 9730, 9730}, "rss_mib_1000": {60, 60, 60}}, nil,
			map[string]bool{"RSS": false, "CPU": false}, "not comparable: gateway held 512 of 1000"},
		{"a slower gap than the proxy's", map[string][]float64{"gap_p99_ms_1000": {30, 29, 31}}, nil,
			map[string]bool{"added inter-chunk": false, "RSS": true}, "proxy +9.00 ms (+8.00–+10.00 over 3 rounds)"},
		{"a machine that cannot pace the upstream", nil, map[string][]float64{"gap_p50_ms_1000": {0.001, 0.001, 0.001}},
			map[string]bool{"RSS": true, "CPU": false, "added inter-chunk": false}, "machine saturated, direct: gap p50 0.001 ms for a 20 ms pace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := heldTargets(heldProfile(tc.gw, tc.direct), 1000)
			var all []string
			for _, tr := range ts {
				all = append(all, tr.Measured)
				for prefix, want := range tc.wantMet {
					if strings.HasPrefix(tr.Target, prefix) && tr.Met != want {
						t.Errorf("%s: met %v, want %v (%s)", tr.Target, tr.Met, want, tr.Measured)
					}
				}
			}
			if !strings.Contains(strings.Join(all, "|"), tc.wantIn) {
				t.Errorf("no %q in %q", tc.wantIn, all)
			}
		})
	}
}

func TestRequestDerivedAndTargets(t *testing.T) {
	r := &profileResult{Name: "realistic", Paths: []string{"direct", "proxy", "gateway", "gateway-untraced", "gateway-10pct"}, Samples: map[string]map[string][]float64{}}
	for p, v := range map[string][4]float64{ // rps, CPU µs, p50 ms at c=1, allocations per request
		"direct":           {20000, 40, 0.100, 0},
		"proxy":            {9000, 90, 0.350, 0},
		"gateway":          {7200, 130, 0.450, 381},
		"gateway-untraced": {8800, 100, 0.380, 306},
		"gateway-10pct":    {8600, 104, 0.390, 313.5},
	} {
		r.add(p, "rps_c16", v[0])
		r.add(p, "cpu_us_per_req_c16", v[1])
		r.add(p, "p50_ms_c1", v[2])
		r.add(p, "p99_ms_at_1000", 2)
		if isGateway(p) { // only a gateway serves /metrics
			r.add(p, "allocs_per_req_c16", v[3])
		}
	}
	r.finish(nil, 1000, 20*time.Millisecond)
	for fig, want := range map[string]float64{
		"gateway_rps_c16_vs_proxy":                     0.8,
		"gateway-untraced_added_p50_us_c1_minus_proxy": 30,
		"gateway_added_p50_us_c1_minus_proxy":          100,
		"tracing_cost_100pct":                          1 - 7200.0/8800,
		"tracing_cost_10pct":                           1 - 8600.0/8800,
		"tracing_cpu_cost_100pct":                      0.3,
		"tracing_cpu_cost_10pct":                       0.04,
		"tracing_allocs_per_req_10pct":                 7.5,
		"tracing_allocs_per_req_100pct":                75,
	} {
		if got := r.Derived[fig]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", fig, got, want)
		}
	}
	met := map[string]bool{}
	measured := map[string]string{}
	for _, tr := range requestTargets(r) {
		met[tr.Target], measured[tr.Target] = tr.Met, tr.Measured
	}
	// The CPU figure stands beside the throughput one, as information.
	if m := measured["10 % sampling costs ≤ 3 % req/s at c=16"]; !strings.Contains(m, "2.3 % (one round); CPU per request +4.0 % (one round); allocations per request +7.5 (one round) (100 % export: +75.0 (one round)), for information") {
		t.Errorf("tracing cost: %q", m)
	}
	for target, want := range map[string]bool{
		"req/s at c=16 ≥ 0.95× proxy, untraced":          true,
		"req/s at c=16 ≥ 0.9× proxy, 100 % export":       false,
		"CPU per request ≤ 1.15× proxy, untraced":        true,
		"CPU per request ≤ 1.3× proxy, 100 % export":     false,
		"added p50 at c=1 ≤ proxy + 50 µs, untraced":     true,
		"added p50 at c=1 ≤ proxy + 50 µs, 100 % export": false,
		"10 % sampling costs ≤ 3 % req/s at c=16":        true,
	} {
		if got, ok := met[target]; !ok || got != want {
			t.Errorf("%s: met %v (present %v), want %v", target, got, ok, want)
		}
	}
}

func TestDefaultsHoldTarget(t *testing.T) {
	for _, tc := range []struct {
		name             string
		gw               map[string][]float64
		want, comparable bool
	}{
		{"all held", nil, true, true},
		{"one error", map[string][]float64{"errors_5000": {1}}, false, true},
		{"refused", map[string][]float64{"held_5000": {4990}, "refused_5000": {3}}, false, false},
		{"held short", map[string][]float64{"held_5000": {753}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &profileResult{Name: "paced-streams", Paths: []string{"direct", "proxy", "gateway"}, Samples: map[string]map[string][]float64{}}
			for _, p := range r.Paths {
				for f, v := range map[string]float64{"held_5000": 5000, "refused_5000": 0, "errors_5000": 0} {
					r.add(p, f, v)
				}
			}
			r.add("proxy", "errors_5000", 1) // the proxy's errors do not make the gateway's figures incomparable
			for f, vs := range tc.gw {
				r.Samples["gateway"][f] = vs
			}
			r.finish([]int{5000}, 1000, 20*time.Millisecond)
			ts := heldTargets(r, 5000)
			if ts[0].Met != tc.want {
				t.Errorf("%s: %s met %v, want %v", ts[0].Target, ts[0].Measured, ts[0].Met, tc.want)
			}
			if strings.Contains(ts[1].Measured, "not comparable") == tc.comparable {
				t.Errorf("RSS comparable %v, want %v: %s", !tc.comparable, tc.comparable, ts[1].Measured)
			}
		})
	}
}

// requestProfile is a realistic profile of five rounds in which every path answers alike,
// with the given samples in place of those.
func requestProfile(over map[string]map[string][]float64) *profileResult {
	r := &profileResult{Name: "realistic", Paths: []string{"direct", "proxy", "gateway", "gateway-untraced", "gateway-10pct"}, Samples: map[string]map[string][]float64{}}
	for range 5 {
		for _, p := range r.Paths {
			for f, v := range map[string]float64{"rps_c16": 10000, "cpu_us_per_req_c16": 100, "p50_ms_c1": 0.3, "p99_ms_at_1000": 2} {
				r.add(p, f, v)
			}
		}
	}
	for p, figs := range over {
		for f, vs := range figs {
			r.Samples[p][f] = vs
		}
	}
	r.finish(nil, 1000, 20*time.Millisecond)
	return r
}

// A round that is fast or slow for every path must cancel out. Each case is built so that the
// ratio of the two paths' medians (taken from different rounds) gives the wrong verdict and the
// median of the per-round ratios the right one.
func TestPairedRatiosResistDrift(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    string // the paths compared, a against b
		fig     string
		as, bs  []float64
		cmp     func(x, y float64) float64
		l       limit
		want    float64
		wantMet bool
	}{
		{"10 % sampling faster than untraced by medians, 4 % slower in every round but one",
			"gateway-10pct", "gateway-untraced", "rps_c16",
			[]float64{9600, 13440, 9600, 13440, 10200}, []float64{10000, 14000, 10000, 14000, 10000}, cost,
			limit{fig: "tracing_cost_10pct", bound: 0.03}, 0.04, false},
		{"untraced 0.81× the proxy by medians, 0.97× in every round but one",
			"gateway-untraced", "proxy", "rps_c16",
			[]float64{9700, 13580, 9700, 13580, 8400}, []float64{10000, 14000, 10000, 14000, 12000}, ratio,
			limit{fig: "gateway-untraced_rps_c16_vs_proxy", bound: 0.95, atLeast: true}, 0.97, true},
		{"CPU per request 1.10× the proxy by medians, 1.2× in every round but one",
			"gateway", "proxy", "cpu_us_per_req_c16",
			[]float64{120, 96, 120, 96, 110}, []float64{100, 80, 100, 80, 110}, ratio,
			limit{fig: "gateway_cpu_per_req_vs_proxy", bound: 1.15}, 1.2, false},
		{"added p50 proxy +0 µs by medians, +60 µs in every round but one",
			"gateway", "proxy", "p50_ms_c1",
			[]float64{0.36, 0.46, 0.36, 0.46, 0.40}, []float64{0.30, 0.40, 0.30, 0.40, 0.42}, minusMicros,
			limit{fig: "gateway_added_p50_us_c1_minus_proxy", bound: 50}, 60, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := requestProfile(map[string]map[string][]float64{tc.a: {tc.fig: tc.as}, tc.b: {tc.fig: tc.bs}})
			if got := r.Derived[tc.l.fig]; math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("%s = %v, want %v", tc.l.fig, got, tc.want)
			}
			if got := r.check(tc.l).Met; got != tc.wantMet {
				t.Errorf("met %v, want %v", got, tc.wantMet)
			}
			if ofMedians := tc.cmp(median(tc.as), median(tc.bs)); tc.l.meets(ofMedians) == tc.wantMet {
				t.Errorf("the comparison of medians (%v) gives the same verdict: the case does not show the drift", ofMedians)
			}
		})
	}
}

func TestSpreadAndNoise(t *testing.T) {
	l := limit{target: "req/s at c=16 ≥ 0.95× proxy, untraced", fig: "gateway-untraced_rps_c16_vs_proxy", bound: 0.95, atLeast: true, u: times3}
	for _, tc := range []struct {
		name     string
		rps      []float64 // gateway-untraced per round; the proxy answers 10,000 in each
		wantLow  float64
		wantHigh float64
		wantMet  bool
		want     string
	}{
		{"every round above the limit", []float64{9800, 10000, 10460, 10500, 11000}, 0.98, 1.1, true,
			"1.046× (0.980–1.100 over 5 rounds)"},
		{"met by the median, rounds on both sides", []float64{9300, 9600, 9700, 9800, 9900}, 0.93, 0.99, true,
			"0.970× (0.930–0.990 over 5 rounds, within noise)"},
		{"missed by the median, rounds on both sides", []float64{9000, 9200, 9400, 9600, 9700}, 0.9, 0.97, false,
			"0.940× (0.900–0.970 over 5 rounds, within noise)"},
		{"every round below the limit", []float64{8000, 8200, 8400, 8600, 8700}, 0.8, 0.87, false,
			"0.840× (0.800–0.870 over 5 rounds)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := requestProfile(map[string]map[string][]float64{"gateway-untraced": {"rps_c16": tc.rps}})
			sp := r.Spread[l.fig]
			if math.Abs(sp[0]-tc.wantLow) > 1e-9 || math.Abs(sp[1]-tc.wantHigh) > 1e-9 {
				t.Errorf("spread %v, want [%v %v]", sp, tc.wantLow, tc.wantHigh)
			}
			got := r.check(l)
			if got.Met != tc.wantMet || got.Measured != tc.want {
				t.Errorf("met %v %q, want %v %q", got.Met, got.Measured, tc.wantMet, tc.want)
			}
			var table strings.Builder
			printTable(&table, report{Profiles: []*profileResult{r}})
			if !strings.Contains(table.String(), fmt.Sprintf("(%.3f–%.3f)", tc.wantLow, tc.wantHigh)) {
				t.Errorf("the table does not show the range:\n%s", table.String())
			}
		})
	}
}

func TestTracingCostByCPU(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		untraced, traced     []float64 // CPU µs per request, per round
		want, wantLo, wantHi float64
	}{
		{"3 % in every round of a drifting machine", []float64{100, 120, 100, 120, 110}, []float64{103, 123.6, 103, 123.6, 113.3}, 0.03, 0.03, 0.03},
		{"cheaper in one round", []float64{100, 100, 100, 100, 100}, []float64{98, 101, 102, 103, 104}, 0.02, -0.02, 0.04},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := requestProfile(map[string]map[string][]float64{"gateway-untraced": {"cpu_us_per_req_c16": tc.untraced},
				"gateway-10pct": {"cpu_us_per_req_c16": tc.traced}, "gateway": {"cpu_us_per_req_c16": tc.traced}})
			for _, fig := range []string{"tracing_cpu_cost_10pct", "tracing_cpu_cost_100pct"} {
				sp := r.Spread[fig]
				if got := r.Derived[fig]; math.Abs(got-tc.want) > 1e-9 || math.Abs(sp[0]-tc.wantLo) > 1e-9 || math.Abs(sp[1]-tc.wantHi) > 1e-9 {
					t.Errorf("%s = %v %v, want %v [%v %v]", fig, got, sp, tc.want, tc.wantLo, tc.wantHi)
				}
			}
			for _, tr := range requestTargets(r) {
				if strings.Contains(tr.Target, "CPU") && strings.Contains(tr.Target, "sampling") {
					t.Errorf("the CPU tracing cost is information, not a target: %s", tr.Target)
				}
			}
		})
	}
}
