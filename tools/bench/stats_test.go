package main

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

func TestRecorderQuantiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  []time.Duration
		q, want float64 // want in ms, exact to 0.1 %
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{3 * time.Millisecond}, 0.99, 3},
		{"uniform p50", spread(1000, time.Millisecond), 0.5, 500},
		{"uniform p99", spread(1000, time.Millisecond), 0.99, 990},
		{"below the floor counts as 1 µs", []time.Duration{0}, 0.5, 0.001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder()
			// many writers on many shards, as held streams write
			var wg sync.WaitGroup
			for i, v := range tc.values {
				wg.Go(func() { r.record(i, v) })
			}
			wg.Wait()
			h := r.merged()
			if h.TotalCount() != int64(len(tc.values)) {
				t.Fatalf("%d values merged, recorded %d", h.TotalCount(), len(tc.values))
			}
			if got := quantileMS(h, tc.q); math.Abs(got-tc.want) > tc.want*0.001 {
				t.Errorf("q%.2f = %v ms, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// spread is n durations step, 2·step, … n·step.
func spread(n int, step time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * step
	}
	return out
}

func TestMedianAndRatio(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"odd", []float64{3, 1, 2}, 2},
		{"even takes the upper sample", []float64{4, 1, 3, 2}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	if ratio(3, 0) != 0 || ratio(3, 2) != 1.5 {
		t.Error("ratio: want 0 for a zero denominator, a/b otherwise")
	}
}

// Over len(paths) rounds every path runs in every position once.
func TestRotatedOrder(t *testing.T) {
	for _, n := range []int{1, 2, 5, 6} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ts := make([]target, n)
			for i := range ts {
				ts[i].name = fmt.Sprint("path", i)
			}
			at := map[string]map[int]int{} // path → position → rounds there
			for r := range n {
				order := roundOrder("test", r, n, ts)
				if len(order) != n {
					t.Fatalf("round %d: %d paths, want %d", r, len(order), n)
				}
				for pos, tt := range order {
					if at[tt.name] == nil {
						at[tt.name] = map[int]int{}
					}
					at[tt.name][pos]++
				}
			}
			for _, tt := range ts {
				for pos := range n {
					if at[tt.name][pos] != 1 {
						t.Errorf("%s at position %d in %d of %d rounds, want 1", tt.name, pos, at[tt.name][pos], n)
					}
				}
			}
			if first := roundOrder("test", 0, n, ts); first[0].name != "path0" {
				t.Errorf("round 0 starts with %s, want the paths in their order", first[0].name)
			}
		})
	}
	if rotated([]int(nil), 3) != nil {
		t.Error("rotating nothing gives nothing")
	}
}

func TestPerRound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		cmp    func(x, y float64) float64
		want   []float64
	}{
		{"ratios", []float64{2, 9}, []float64{1, 3}, ratio, []float64{2, 3}},
		{"a round only one path has is left out", []float64{5, 6, 7}, []float64{1, 1}, minus, []float64{4, 5}},
		{"microseconds from milliseconds", []float64{0.35}, []float64{0.3}, minusMicros, []float64{50}},
		{"cost and excess", []float64{95}, []float64{100}, cost, []float64{0.05}},
		{"excess of nothing is 0", []float64{95}, []float64{0}, excess, []float64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := perRound(tc.xs, tc.ys, tc.cmp)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-9 {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
