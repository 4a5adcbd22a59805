package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// errCallerGone marks a call whose caller's context ended first: not the store's failure.
var errCallerGone = errors.New("the caller's context ended")

// ErrUnavailable is what a call gets while the store cannot answer and no fallback applies.
var ErrUnavailable = errors.New("limit store unavailable")

// Mode is what a reservation gets while the store is unreachable.
type Mode int

const (
	// FailOpen admits by a local fallback that enforces each limit ÷ the expected replicas,
	// so N replicas together stay within the limit: bounded, never unbounded.
	FailOpen Mode = iota
	// FailClosed refuses (ErrUnavailable: the caller answers 503).
	FailClosed
)

// GuardOptions configure Guarded.
type GuardOptions struct {
	Timeout         time.Duration // every call
	Mode            Mode
	Replicas        int
	BreakerFailures int
	BreakerCooldown time.Duration
	Registry        prometheus.Registerer
	Log             *slog.Logger
	Clock           func() time.Time
}

// Guarded puts a timeout on every call of a store, a circuit breaker around it (while open,
// no call waits on a store known to be down; a probe after the cooldown closes it again), and
// the failure mode for reservations it could not make.
type Guarded struct {
	inner   Store
	local   *Memory
	o       GuardOptions
	breaker *gobreaker.CircuitBreaker[any]
	m       *guardMetrics
}

type guardMetrics struct {
	duration  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	decisions *prometheus.CounterVec
	state     prometheus.Gauge
}

// NewGuarded wraps a store and registers the store_* metrics.
func NewGuarded(inner Store, o GuardOptions) *Guarded {
	m := &guardMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "store_operation_duration_seconds", Help: "Limit and cache store calls, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "store_errors_total", Help: "Store calls that failed or timed out, or were skipped while its breaker was open.",
		}, []string{"op"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "store_decisions_total", Help: "Who decided a reservation: the store, or the failure mode (fail_open: the local fallback; fail_closed: refused).",
		}, []string{"decision"}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "store_breaker_state", Help: "The store's circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
	}
	o.Registry.MustRegister(m.duration, m.errors, m.decisions, m.state)
	for _, d := range []string{"store", "fail_open", "fail_closed"} {
		m.decisions.WithLabelValues(d)
	}
	for _, op := range []string{"reserve", "settle", "get", "set", "delete"} {
		m.errors.WithLabelValues(op)
	}
	g := &Guarded{inner: inner, local: NewMemory(o.Clock), o: o, m: m}
	g.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name: "store", MaxRequests: 1, Timeout: o.BreakerCooldown,
		// A request that ended while its call ran says nothing about the store.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, errCallerGone) },
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(o.BreakerFailures) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			m.state.Set(map[gobreaker.State]float64{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 1, gobreaker.StateOpen: 2}[to])
			o.Log.Warn("limit store circuit changed", "from", from.String(), "to", to.String())
		},
	})
	return g
}

// do runs one call under the timeout and the breaker.
func do[T any](ctx context.Context, g *Guarded, op string, f func(context.Context) (T, error)) (T, error) {
	start := time.Now()
	v, err := g.breaker.Execute(func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, g.o.Timeout)
		defer cancel()
		v, err := f(cctx)
		if err != nil && ctx.Err() != nil {
			return v, fmt.Errorf("%w: %w", errCallerGone, err)
		}
		return v, err
	})
	g.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		g.m.errors.WithLabelValues(op).Inc()
		var zero T
		return zero, fmt.Errorf("store %s: %w", op, err)
	}
	return v.(T), nil
}

// Reserve reserves in the store; when it cannot answer, the failure mode decides.
func (g *Guarded) Reserve(ctx context.Context, r Reservation) (Verdict, error) {
	v, err := do(ctx, g, "reserve", func(ctx context.Context) (Verdict, error) { return g.inner.Reserve(ctx, r) })
	if err == nil {
		g.m.decisions.WithLabelValues("store").Inc()
		return v, nil
	}
	if ctx.Err() != nil {
		return Verdict{}, ctx.Err() // the request ended: nothing to decide
	}
	if g.o.Mode == FailClosed {
		g.m.decisions.WithLabelValues("fail_closed").Inc()
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	g.m.decisions.WithLabelValues("fail_open").Inc()
	r.Limits = r.Limits.share(g.o.Replicas)
	v, _ = g.local.Reserve(ctx, r)
	v.Local = true
	return v, nil
}

// Settle settles where the reservation was made. A settlement the store could not take is
// lost: the reservation stays counted (the safe side) until its window or period ends.
func (g *Guarded) Settle(ctx context.Context, s Settlement) error {
	if s.Local {
		s.Limits = s.Limits.share(g.o.Replicas)
		return g.local.Settle(ctx, s)
	}
	_, err := do(ctx, g, "settle", func(ctx context.Context) (struct{}, error) { return struct{}{}, g.inner.Settle(ctx, s) })
	return err
}

// Get reads a value; a store that cannot answer is a miss with an error.
func (g *Guarded) Get(ctx context.Context, key string) ([]byte, bool, error) {
	type got struct {
		v  []byte
		ok bool
	}
	r, err := do(ctx, g, "get", func(ctx context.Context) (got, error) {
		v, ok, err := g.inner.Get(ctx, key)
		return got{v, ok}, err
	})
	return r.v, r.ok, err
}

// Set writes a value.
func (g *Guarded) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, err := do(ctx, g, "set", func(ctx context.Context) (struct{}, error) { return struct{}{}, g.inner.Set(ctx, key, value, ttl) })
	return err
}

// Delete removes a value.
func (g *Guarded) Delete(ctx context.Context, key string) error {
	_, err := do(ctx, g, "delete", func(ctx context.Context) (struct{}, error) { return struct{}{}, g.inner.Delete(ctx, key) })
	return err
}

// share is one replica's part of the limits: each ÷ n, at least 1 where a limit is set.
func (l Limits) share(n int) Limits {
	div := func(v int64) int64 {
		if v <= 0 || n <= 1 {
			return v
		}
		return max(v/int64(n), 1)
	}
	return Limits{RPM: div(l.RPM), TPM: div(l.TPM), MaxParallel: div(l.MaxParallel),
		DailyNanoUSD: div(l.DailyNanoUSD), MonthlyNanoUSD: div(l.MonthlyNanoUSD)}
}
