// Package pressure keeps the process answering when it is short of resources. Monitor tells
// the HTTP layer when memory is short, so it can refuse new work before the garbage collector
// thrashes against the soft memory limit or the kernel kills the process for crossing its
// cgroup's hard limit; requests already admitted finish. FDGuard (listener.go) answers new
// connections with a 503 when the process is out of file descriptors.
//
// Memory is measured from runtime/metrics at most once per Interval, by whichever request
// comes first after the interval passed: no goroutine, and the cost per request is a clock
// read and two atomic loads. The live heap is known only after a collection; while it sheds,
// the Monitor has the collector run at most once per CollectEvery, so it notices when the
// memory is free again even if nothing else allocates.
package pressure

import (
	"log/slog"
	"math"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Options.
const (
	// DefaultShedAt leaves room between refusing new work and the soft limit: admitted
	// requests still allocate, and near the limit the collector runs almost continuously.
	DefaultShedAt       = 0.9
	DefaultInterval     = 10 * time.Millisecond
	DefaultCollectEvery = 250 * time.Millisecond
)

// Sample is one measurement: memory the collector cannot give back, against the soft limit.
type Sample struct {
	Used  uint64 // bytes: the live heap at the last collection plus everything outside the heap
	Limit uint64 // bytes: the soft memory limit (GOMEMLIMIT or gctune's); math.MaxInt64 = none
}

// Ratio is Used over Limit; 0 when there is no limit, so nothing is ever shed without one.
func (s Sample) Ratio() float64 {
	if s.Limit == 0 || s.Limit >= math.MaxInt64 {
		return 0
	}
	return float64(s.Used) / float64(s.Limit)
}

// Options configure a Monitor; zero values take the defaults.
type Options struct {
	ShedAt       float64          // Ratio at and above which Admit refuses
	Interval     time.Duration    // minimum time between two measurements
	CollectEvery time.Duration    // minimum time between two collections while shedding
	Read         func() Sample    // the measurement; default ReadRuntime
	Collect      func()           // a garbage collection; default runtime.GC
	Now          func() time.Time // the clock; default time.Now
	Registry     prometheus.Registerer
	Log          *slog.Logger // where shedding starting and ending is logged; default none
}

// Monitor decides admission from the latest measurement. Safe for concurrent use.
type Monitor struct {
	shedAt       float64
	interval     int64
	collectEvery int64
	read         func() Sample
	collect      func()
	now          func() time.Time
	due          atomic.Int64  // unix nanoseconds at which the next measurement may be taken
	collectDue   atomic.Int64  // unix nanoseconds at which the next collection may start
	ratio        atomic.Uint64 // math.Float64bits of the latest Ratio
	shedding     atomic.Bool   // whether the latest measurement is at or over shedAt
	shed         prometheus.Counter
	log          *slog.Logger
}

// New builds a Monitor and registers its metrics (when o.Registry is set).
func New(o Options) *Monitor {
	m := &Monitor{shedAt: o.ShedAt, interval: int64(o.Interval), collectEvery: int64(o.CollectEvery),
		read: o.Read, collect: o.Collect, now: o.Now, log: o.Log,
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memory_pressure_shed_total",
			Help: "Requests refused because memory in use reached the shedding point of the soft memory limit.",
		})}
	if m.shedAt <= 0 {
		m.shedAt = DefaultShedAt
	}
	if m.interval <= 0 {
		m.interval = int64(DefaultInterval)
	}
	if m.collectEvery <= 0 {
		m.collectEvery = int64(DefaultCollectEvery)
	}
	if m.read == nil {
		m.read = ReadRuntime
	}
	if m.collect == nil {
		m.collect = runtime.GC
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if o.Registry != nil {
		o.Registry.MustRegister(m.shed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "memory_pressure_ratio",
			Help: "Memory in use over the soft memory limit, as last measured for admission (0: no limit).",
		}, m.Ratio))
	}
	return m
}

// Admit reports whether a new request may start, measuring first when the last measurement
// is older than the interval. A refusal is counted.
func (m *Monitor) Admit() bool {
	now := m.now().UnixNano()
	// Only the request that wins the swap measures; the others use the value it stores. A swap
	// lost to the collector resetting due (not to another request) is tried again: else this
	// request would be judged by the measurement the collection was meant to replace.
	for due := m.due.Load(); now >= due; due = m.due.Load() {
		if m.due.CompareAndSwap(due, now+m.interval) {
			m.measure()
			break
		}
	}
	if m.Ratio() < m.shedAt {
		return true
	}
	m.shed.Inc()
	// Refused requests allocate next to nothing, so the next collection (and with it a new
	// live-heap figure) could be minutes away: collect now, off the request's path, and
	// measure again right after.
	if due := m.collectDue.Load(); now >= due && m.collectDue.CompareAndSwap(due, now+m.collectEvery) {
		go func() {
			m.collect()
			m.due.Store(0)
		}()
	}
	return false
}

// measure stores a new measurement and logs when shedding starts or ends: once per change,
// not per refused request.
func (m *Monitor) measure() {
	s := m.read()
	r := s.Ratio()
	m.ratio.Store(math.Float64bits(r))
	over := r >= m.shedAt
	if m.shedding.Swap(over) == over {
		return
	}
	attrs := []any{"used_bytes", s.Used, "soft_limit_bytes", s.Limit, "ratio", math.Round(r*1000) / 1000}
	if over {
		m.log.Warn("memory pressure: refusing new requests", attrs...)
	} else {
		m.log.Info("memory pressure over: admitting new requests", attrs...)
	}
}

// Ratio is the latest measurement's Ratio.
func (m *Monitor) Ratio() float64 { return math.Float64frombits(m.ratio.Load()) }

// ReadRuntime measures this process. Used is the heap found live by the last collection plus
// what the runtime holds outside the heap (goroutine stacks, metadata, buffers): all of it
// counts against the soft limit and none of it can be collected. The heap's garbage is left
// out on purpose: with a high GOGC it fills the room up to the limit between collections
// without being pressure.
func ReadRuntime() Sample {
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/gc/gomemlimit:bytes"},
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	live, total, released, free, objects, unused, limit := v(0), v(1), v(2), v(3), v(4), v(5), v(6)
	outside := uint64(0)
	if heap := released + free + objects + unused; total > heap {
		outside = total - heap
	}
	return Sample{Used: live + outside, Limit: limit}
}
