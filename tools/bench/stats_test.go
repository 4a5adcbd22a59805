package main

import (
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
