package pressure

import (
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name   string
		sample Sample
		shedAt float64
		want   bool
	}{
		{"no limit", Sample{Used: 1 << 40, Limit: math.MaxInt64}, 0, true},
		{"zero limit means none", Sample{Used: 1 << 40}, 0, true},
		{"well below", Sample{Used: 50, Limit: 100}, 0, true},
		{"just below the default", Sample{Used: 89, Limit: 100}, 0, true},
		{"at the default", Sample{Used: 90, Limit: 100}, 0, false},
		{"over the limit", Sample{Used: 150, Limit: 100}, 0, false},
		{"custom point", Sample{Used: 60, Limit: 100}, 0.5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := New(Options{ShedAt: tt.shedAt, Read: func() Sample { return tt.sample }, Collect: func() {}, Registry: reg})
			if got := m.Admit(); got != tt.want {
				t.Fatalf("Admit() = %v at ratio %v, want %v", got, tt.sample.Ratio(), tt.want)
			}
			wantShed := 0.0
			if !tt.want {
				wantShed = 1
			}
			if got := testutil.ToFloat64(m.shed); got != wantShed {
				t.Errorf("memory_pressure_shed_total = %v, want %v", got, wantShed)
			}
			if got, want := gauge(t, reg, "memory_pressure_ratio"), tt.sample.Ratio(); got != want {
				t.Errorf("memory_pressure_ratio = %v, want %v", got, want)
			}
		})
	}
}

// Memory is measured at most once per interval, however many requests arrive, and the next
// measurement after the interval sees the change.
func TestMeasuresAtMostOncePerInterval(t *testing.T) {
	var reads atomic.Int64
	var used atomic.Uint64
	used.Store(10)
	var clock atomic.Int64
	clock.Store(time.Unix(1000, 0).UnixNano())
	m := New(Options{
		Interval: 10 * time.Millisecond,
		Read:     func() Sample { reads.Add(1); return Sample{Used: used.Load(), Limit: 100} },
		Collect:  func() {},
		Now:      func() time.Time { return time.Unix(0, clock.Load()) },
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if !m.Admit() {
					t.Error("refused at 10 % of the limit")
					return
				}
			}
		})
	}
	wg.Wait()
	if got := reads.Load(); got != 1 {
		t.Fatalf("%d measurements for 8000 requests within one interval, want 1", got)
	}

	used.Store(95)
	clock.Add(int64(9 * time.Millisecond))
	if !m.Admit() {
		t.Fatal("refused before the interval passed: the old measurement must still hold")
	}
	clock.Add(int64(time.Millisecond))
	if m.Admit() {
		t.Fatal("admitted at 95 % once the interval passed")
	}
	if got := reads.Load(); got != 2 {
		t.Fatalf("%d measurements after two intervals, want 2", got)
	}
	used.Store(20)
	clock.Add(int64(10 * time.Millisecond))
	if !m.Admit() {
		t.Fatal("still refusing after memory came back down")
	}
}

// Shedding starting and ending is logged once each, not once per refused request.
func TestLogsWhenSheddingStartsAndEnds(t *testing.T) {
	var logs strings.Builder
	var used atomic.Uint64
	var clock atomic.Int64
	m := New(Options{
		Read:    func() Sample { return Sample{Used: used.Load(), Limit: 100} },
		Collect: func() {},
		Now:     func() time.Time { return time.Unix(0, clock.Add(int64(DefaultInterval))) }, // every call measures
		Log:     slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, u := range []uint64{10, 95, 96, 97, 50, 40} {
		used.Store(u)
		m.Admit()
	}
	got := logs.String()
	if strings.Count(got, "refusing new requests") != 1 || strings.Count(got, "admitting new requests") != 1 {
		t.Fatalf("want one line for the start and one for the end, got:\n%s", got)
	}
	if !strings.Contains(got, "used_bytes=95") {
		t.Errorf("the start line does not say what was measured:\n%s", got)
	}
}

// While it sheds, the Monitor has the collector run (at most once per CollectEvery, however
// many requests it refuses) and measures again at once afterwards: memory freed while nothing
// allocated is noticed without waiting for the next measurement interval.
func TestCollectsWhileShedding(t *testing.T) {
	var collections atomic.Int64
	release, collected := make(chan struct{}), make(chan struct{}, 10)
	m := New(Options{
		Interval:     time.Hour, // only the collection may trigger the second measurement
		CollectEvery: time.Hour,
		Read: func() Sample {
			if collections.Load() > 0 {
				return Sample{Used: 20, Limit: 100} // what the collection found live
			}
			return Sample{Used: 95, Limit: 100}
		},
		Collect: func() { <-release; collections.Add(1); collected <- struct{}{} },
	})
	for range 100 {
		if m.Admit() {
			t.Fatal("admitted at 95 % before any collection")
		}
	}
	close(release) // the collection ends only now, so every refusal above came before it
	<-collected
	deadline := time.Now().Add(5 * time.Second)
	for !m.Admit() {
		if time.Now().After(deadline) {
			t.Fatal("still refusing 5 s after a collection that found 20 % live")
		}
		runtime.Gosched()
	}
	if got := collections.Load(); got != 1 {
		t.Fatalf("%d collections for 100 refusals within CollectEvery, want 1", got)
	}
}

// ReadRuntime sees the soft limit the process runs with and memory in use that grows with
// what is kept alive.
func TestReadRuntime(t *testing.T) {
	if s := ReadRuntime(); s.Used == 0 {
		t.Fatalf("ReadRuntime() = %+v: nothing in use", s)
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	const limit = 1 << 40 // far above anything this test uses, so the collector is not disturbed
	debug.SetMemoryLimit(limit)
	runtime.GC()
	before := ReadRuntime()
	if before.Limit != limit {
		t.Fatalf("Limit = %d, want the soft limit %d", before.Limit, limit)
	}
	kept := make([]byte, 64<<20) // counted live by its size, touched or not
	runtime.GC()
	after := ReadRuntime()
	runtime.KeepAlive(kept)
	if grew := int64(after.Used) - int64(before.Used); grew < 60<<20 {
		t.Fatalf("Used grew by %d bytes while 64 MiB were kept alive (before %+v, after %+v)", grew, before, after)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	t.Fatalf("no %s among %s", name, strings.Join(names, ", "))
	return 0
}

// BenchmarkAdmit is the per-request cost of the admission check with the real measurement
// (at most one runtime/metrics read per 10 ms, whatever the request rate).
func BenchmarkAdmit(b *testing.B) {
	m := New(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !m.Admit() {
				b.Fatal("refused without a memory limit")
			}
		}
	})
}

// BenchmarkReadRuntime is one measurement, the cost Admit pays once per interval.
func BenchmarkReadRuntime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ReadRuntime()
	}
}
