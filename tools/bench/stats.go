package main

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// recorder collects latencies from many goroutines into HDR histograms (1 µs to 10 min, three
// significant digits): millions of inter-chunk gaps cost a fixed amount of memory, and the
// percentiles are exact to 0.1 %. Writers spread over shards so thousands of streams do not
// queue on one lock.
type recorder struct {
	shards [16]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
	}
	next atomic.Uint32
}

const (
	recMinMicros = 1
	recMaxMicros = int64(10 * time.Minute / time.Microsecond)
)

func newRecorder() *recorder {
	r := &recorder{}
	for i := range r.shards {
		r.shards[i].h = hdrhistogram.New(recMinMicros, recMaxMicros, 3)
	}
	return r
}

// shard returns a shard index for one writer; a writer keeps it for its life.
func (r *recorder) shard() int { return int(r.next.Add(1)) % len(r.shards) }

// record adds durations to one shard under one lock: a stream records its gaps in one call.
func (r *recorder) record(shard int, ds ...time.Duration) {
	s := &r.shards[shard%len(r.shards)]
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		_ = s.h.RecordValue(min(max(d.Microseconds(), recMinMicros), recMaxMicros))
	}
}

// merged is every shard in one histogram; call it once the writers are done.
func (r *recorder) merged() *hdrhistogram.Histogram {
	h := hdrhistogram.New(recMinMicros, recMaxMicros, 3)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.h)
		s.mu.Unlock()
	}
	return h
}

// quantileMS is the q-quantile (0 < q ≤ 1) in milliseconds; 0 for no samples.
func quantileMS(h *hdrhistogram.Histogram, q float64) float64 {
	if h.TotalCount() == 0 {
		return 0
	}
	return float64(h.ValueAtQuantile(q*100)) / 1000
}

// median of the rounds' samples (the upper one for an even count, so it is always a sample).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// ratio is a/b, or 0 when b is 0 (a path that measured nothing must not read as infinitely
// better).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// perRound compares two paths round by round: cmp of the i-th sample of each (index i of every
// path's samples is round i). Rounds only one of them has are left out.
func perRound(xs, ys []float64, cmp func(x, y float64) float64) []float64 {
	out := make([]float64, min(len(xs), len(ys)))
	for i := range out {
		out[i] = cmp(xs[i], ys[i])
	}
	return out
}

// minus is x−y; minusMicros is the same for figures in milliseconds, in microseconds.
func minus(x, y float64) float64       { return x - y }
func minusMicros(x, y float64) float64 { return (x - y) * 1000 }

// cost is what x loses against y, 1 − x/y (throughput: 0.05 is 5 % fewer requests).
func cost(x, y float64) float64 { return 1 - ratio(x, y) }

// excess is what x spends over y, x/y − 1 (CPU per request: 0.05 is 5 % more); 0 when y is 0.
func excess(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x/y - 1
}

// rotated is s started at position r (mod its length): round r of a counterbalanced order, so
// over len(s) rounds every element takes every position once.
func rotated[T any](s []T, r int) []T {
	if len(s) == 0 {
		return nil
	}
	k := r % len(s)
	return append(slices.Clone(s[k:]), s[:k]...)
}
