package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func heldProfile(gw, direct map[string][]float64) *profileResult {
	r := &profileResult{Name: "paced-streams", Paths: []string{"direct", "proxy", "gateway"}, Samples: map[string]map[string][]float64{}}
	base := map[string][]float64{"held_1000": {1000}, "refused_1000": {0}, "errors_1000": {0}, "rss_mib_1000": {100},
		"hwm_mib_1000": {110}, "millicores_per_held_stream_1000": {0.8}, "gap_p99_ms_1000": {21}, "first_chunk_p50_ms_1000": {21},
		"first_chunk_p99_ms_1000": {25}, "gap_p50_ms_1000": {20}}
	for _, p := range r.Paths {
		for f, v := range base {
			r.add(p, f, v[0])
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
			map[string]bool{"RSS": false, "CPU": true}, "2.10×"},
		{"refusing makes memory not comparable", map[string][]float64{"held_1000": {512}, "refused_1000": {9730}, "rss_mib_1000": {60}}, nil,
			map[string]bool{"RSS": false, "CPU": false}, "not comparable: gateway held 512 of 1000"},
		{"a slower gap than the proxy's", map[string][]float64{"gap_p99_ms_1000": {30}}, nil,
			map[string]bool{"added inter-chunk": false, "RSS": true}, "proxy +9.00 ms"},
		{"a machine that cannot pace the upstream", nil, map[string][]float64{"gap_p50_ms_1000": {0.001}},
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
	for p, v := range map[string][3]float64{ // rps, CPU µs, p50 ms at c=1
		"direct":           {20000, 40, 0.100},
		"proxy":            {9000, 90, 0.350},
		"gateway":          {7200, 130, 0.450},
		"gateway-untraced": {8800, 100, 0.380},
		"gateway-10pct":    {8600, 104, 0.390},
	} {
		r.add(p, "rps_c16", v[0])
		r.add(p, "cpu_us_per_req_c16", v[1])
		r.add(p, "p50_ms_c1", v[2])
		r.add(p, "p99_ms_at_1000", 2)
	}
	r.finish(nil, 1000, 20*time.Millisecond)
	for fig, want := range map[string]float64{
		"gateway_rps_c16_vs_proxy":                     0.8,
		"gateway-untraced_added_p50_us_c1_minus_proxy": 30,
		"gateway_added_p50_us_c1_minus_proxy":          100,
		"tracing_cost_100pct":                          1 - 7200.0/8800,
		"tracing_cost_10pct":                           1 - 8600.0/8800,
	} {
		if got := r.Derived[fig]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", fig, got, want)
		}
	}
	met := map[string]bool{}
	for _, tr := range requestTargets(r) {
		met[tr.Target] = tr.Met
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
