// Package gateway holds the use cases — chat, streaming chat, images — and everything between a
// validated request and the provider: model routing, load shedding, the circuit breaker, retries
// within a budget, fallback models, tracing of each upstream attempt and cost accounting.
// It knows nothing of HTTP status codes: failures are *apperr.Error kinds.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/breaker"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
)

// Deps are the gateway's collaborators.
type Deps struct {
	Config    *config.Config
	Providers map[string]provider.Provider // by configured provider name
	Prices    *cost.Table
	Cost      *cost.Tracker
	Registry  prometheus.Registerer
	Tracer    trace.Tracer
	Log       *slog.Logger
}

// Gateway routes requests to providers.
type Gateway struct {
	cfg        config.Resilience
	timeouts   config.Timeouts
	record     bool // record prompt/completion text on spans
	prices     *cost.Table
	cost       *cost.Tracker
	tracer     trace.Tracer
	log        *slog.Logger
	routes     map[string]*route
	slots      chan struct{}
	m          *metrics
	jitter     func() float64
	sleepTimer func(time.Duration) *time.Timer
}

// route is one configured model with its provider, breaker and pre-resolved metric children.
type route struct {
	model      config.Model
	quotedName []byte // the model name as a JSON string, patched into raw answers
	firstSpan  struct {
		op, name string
		opts     []trace.SpanStartOption
	}
	provider  provider.Provider
	fallbacks []*route
	breaker   *breaker.Breaker
	budget    *budget

	upstreamDur prometheus.Observer
	retries     prometheus.Counter
	exhausted   prometheus.Counter
}

type metrics struct {
	upstreamDur *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	exhausted   *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
}

// New builds the gateway and registers its metrics.
func New(d Deps) (*Gateway, error) {
	m := &metrics{
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "upstream_request_duration_seconds",
			Help:    "Duration of one upstream attempt (streams: until response headers).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"provider", "model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_retries_total", Help: "Upstream attempts after the first, per model.",
		}, []string{"provider", "model"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_retry_budget_exhausted_total", Help: "Retries skipped because the retry budget was spent.",
		}, []string{"provider", "model"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "upstream_fallbacks_total", Help: "Requests handed to a fallback model after the primary failed.",
		}, []string{"model", "fallback"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "circuit_breaker_state", Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
		}, []string{"provider", "model"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circuit_breaker_transitions_total", Help: "Circuit breaker state changes.",
		}, []string{"provider", "model", "to"}),
	}
	d.Registry.MustRegister(m.upstreamDur, m.retries, m.exhausted, m.fallbacks, m.state, m.transitions)

	cfg := d.Config
	g := &Gateway{
		cfg: cfg.Resilience, timeouts: cfg.Timeouts, record: cfg.Telemetry.RecordContent,
		prices: d.Prices, cost: d.Cost, tracer: d.Tracer, log: d.Log,
		routes: map[string]*route{}, slots: make(chan struct{}, cfg.Resilience.MaxInFlight), m: m,
		jitter: rand.Float64, sleepTimer: time.NewTimer,
	}
	for _, mc := range cfg.Models {
		p, ok := d.Providers[mc.Provider]
		if !ok {
			return nil, fmt.Errorf("model %q: provider %q is not available", mc.Name, mc.Provider)
		}
		quoted, _ := json.Marshal(mc.Name)
		r := &route{
			model: mc, provider: p, quotedName: quoted,
			budget:      newBudget(cfg.Resilience.RetryBudgetRatio, cfg.Resilience.RetryBudgetMin),
			upstreamDur: m.upstreamDur.WithLabelValues(p.Name(), mc.Name),
			retries:     m.retries.WithLabelValues(p.Name(), mc.Name),
			exhausted:   m.exhausted.WithLabelValues(p.Name(), mc.Name),
		}
		op := "chat"
		if mc.Kind == "image" {
			op = "generate_content"
		}
		r.firstSpan.name, r.firstSpan.opts = r.spanStart(op, 1)
		r.firstSpan.op = op // from here on spanStart returns the cached pair
		state := m.state.WithLabelValues(p.Name(), mc.Name)
		state.Set(float64(breaker.Closed))
		name, prov := mc.Name, p.Name()
		r.breaker = breaker.New(cfg.Resilience.BreakerFailures, cfg.Resilience.BreakerCooldown.D(), func(from, to breaker.State) {
			state.Set(float64(to))
			m.transitions.WithLabelValues(prov, name, to.String()).Inc()
			d.Log.Warn("circuit breaker changed state", "provider", prov, "model", name, "from", from.String(), "to", to.String())
		})
		g.routes[mc.Name] = r
	}
	for _, r := range g.routes {
		for _, fb := range r.model.Fallbacks {
			r.fallbacks = append(r.fallbacks, g.routes[fb])
		}
	}
	return g, nil
}

// resolve finds the route of a public model name of the wanted kind.
func (g *Gateway) resolve(model, kind string) (*route, error) {
	r, ok := g.routes[model]
	if !ok {
		return nil, &apperr.Error{Kind: apperr.NotFound, Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("The model %q does not exist or you do not have access to it.", apperr.Excerpt(model))}
	}
	if r.model.Kind != kind {
		return nil, &apperr.Error{Kind: apperr.InvalidRequest, Code: "model_not_supported", Param: "model",
			Message: fmt.Sprintf("The model %q is a %s model and cannot serve this request.", apperr.Excerpt(model), r.model.Kind)}
	}
	return r, nil
}

// HasModel reports whether a model of the kind is configured.
func (g *Gateway) HasModel(model, kind string) bool {
	r, ok := g.routes[model]
	return ok && r.model.Kind == kind
}

// chain is the route followed by its fallbacks, in order.
func (r *route) chain() []*route { return append([]*route{r}, r.fallbacks...) }

// withFallback runs op on each model of the chain until one succeeds. It moves to the next
// model only when the failure is the upstream's (not the caller's, not a shed, not a deadline).
func withFallback[T any](ctx context.Context, g *Gateway, primary *route, op func(context.Context, *route) (T, error)) (T, error) {
	var zero T
	var last error
	for i, r := range primary.chain() {
		if i > 0 {
			g.m.fallbacks.WithLabelValues(primary.model.Name, r.model.Name).Inc()
			g.log.InfoContext(ctx, "falling back to another model", "model", primary.model.Name, "fallback", r.model.Name, "error", last)
		}
		v, err := op(ctx, r)
		if err == nil {
			return v, nil
		}
		last = err
		if !fallbackable(ctx, err) {
			break
		}
	}
	return zero, toAppErr(last)
}

// errCircuitOpen marks a call refused by an open breaker.
var errCircuitOpen = errors.New("circuit open")

func fallbackable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return provider.Retryable(err) || errors.Is(err, errCircuitOpen)
}

// spanStart is the name and start options of an attempt's CLIENT span. The first attempt's are
// built once per route: they are the same for every request.
func (r *route) spanStart(op string, attempt int) (string, []trace.SpanStartOption) {
	if attempt == 1 && op == r.firstSpan.op {
		return r.firstSpan.name, r.firstSpan.opts
	}
	return op + " " + r.model.Name, []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", op),
			attribute.String("gen_ai.provider.name", r.provider.System()),
			attribute.String("gen_ai.request.model", r.model.Name),
			attribute.Int("aiservice.attempt", attempt),
		)}
}

// attempt calls the upstream with retries: breaker check, in-flight slot, a CLIENT span, and on a
// retryable failure a backoff (honouring Retry-After) if the budget and the deadline allow.
// The in-flight slot is released and the span ended when the call returns, unless hold is
// set: a stream holds both until it is closed — release frees the slot, and the caller ends
// the span it was given — so one CLIENT span covers the whole attempt, body included.
func attempt[T any](ctx context.Context, g *Gateway, r *route, op string, hold bool, call func(context.Context, trace.Span) (T, error)) (T, func(), error) {
	var zero T
	r.budget.deposit()
	for n := 0; ; n++ {
		if !r.breaker.Allow() {
			return zero, nil, &apperr.Error{Kind: apperr.Unavailable, Code: "circuit_open", RetryAfter: r.breaker.RetryIn(),
				Message: fmt.Sprintf("The upstream for %q is failing; try again later.", r.model.Name), Cause: errCircuitOpen}
		}
		select {
		case g.slots <- struct{}{}:
		default:
			r.breaker.Release()
			return zero, nil, &apperr.Error{Kind: apperr.RateLimit, Code: "overloaded", RetryAfter: time.Second,
				Message: "The gateway is at its in-flight limit; retry shortly."}
		}
		release := sync.OnceFunc(func() { <-g.slots })

		name, opts := r.spanStart(op, n+1)
		spanCtx, span := g.tracer.Start(ctx, name, opts...)
		start := time.Now()
		v, err := call(spanCtx, span)
		elapsed := time.Since(start)
		r.upstreamDur.Observe(elapsed.Seconds())
		addUpstream(ctx, elapsed)
		outcome := outcomeOf(ctx, err)
		g.cost.RecordAPICall(r.provider.Name(), r.model.Name, outcome)
		switch {
		case outcome == cost.OutcomeCanceled, outcome == cost.OutcomeRateLimited:
			// Neither says the upstream is broken: a 429 is it working as designed.
			r.breaker.Release()
		default:
			// Only the upstream's own failures count against it; its 4xx mean it is healthy.
			r.breaker.Done(err == nil || !provider.Retryable(err) && !errors.Is(err, context.DeadlineExceeded))
		}
		if err == nil {
			if !hold {
				span.End()
				release()
			}
			return v, release, nil
		}
		release()
		endWithError(span, err)
		if !provider.Retryable(err) || ctx.Err() != nil || n >= g.cfg.MaxRetries {
			return zero, nil, err
		}
		delay := g.backoff(n, provider.RetryAfter(err))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			return zero, nil, err
		}
		if !r.budget.withdraw() {
			r.exhausted.Inc()
			return zero, nil, err
		}
		r.retries.Inc()
		g.log.DebugContext(ctx, "retrying upstream", "model", r.model.Name, "attempt", n+2, "delay", delay, "error", err)
		if !g.sleep(ctx, delay) {
			return zero, nil, err
		}
	}
}

// backoff is exponential with jitter in [d/2, d], at least what the upstream asked for.
func (g *Gateway) backoff(n int, retryAfter time.Duration) time.Duration {
	d := g.cfg.BackoffBase.D() << n
	if d > g.cfg.BackoffMax.D() || d <= 0 {
		d = g.cfg.BackoffMax.D()
	}
	d = d/2 + time.Duration(g.jitter()*float64(d/2))
	return max(d, retryAfter)
}

func (g *Gateway) sleep(ctx context.Context, d time.Duration) bool {
	t := g.sleepTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func outcomeOf(ctx context.Context, err error) string {
	var se *provider.StatusError
	switch {
	case err == nil:
		return cost.OutcomeSuccess
	case errors.As(err, &se) && se.StatusCode == 429:
		return cost.OutcomeRateLimited
	case errors.Is(err, context.DeadlineExceeded), apperr.KindOf(err) == apperr.Timeout:
		return cost.OutcomeTimeout
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return cost.OutcomeCanceled
	}
	return cost.OutcomeError
}

func endWithError(span trace.Span, err error) {
	span.SetAttributes(attribute.String("error.type", errorType(err)))
	span.SetStatus(codes.Error, err.Error())
	span.End()
}

// errorType is the low-cardinality error.type attribute.
func errorType(err error) string {
	var se *provider.StatusError
	var ce *provider.ConnError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%d", se.StatusCode)
	case errors.As(err, &ce):
		return "connection"
	}
	return apperr.KindOf(err).String()
}

// toAppErr maps the last upstream failure to the error the client sees. Upstream 4xx other than
// 429 carry the upstream's message; the upstream's credentials problems are the gateway's, so
// they become a 502 rather than telling the client its own key is wrong.
func toAppErr(err error) error {
	var se *provider.StatusError
	if errors.As(err, &se) {
		switch {
		case se.StatusCode == 429:
			return &apperr.Error{Kind: apperr.RateLimit, Code: "upstream_rate_limited", RetryAfter: se.RetryAfter,
				Message: "The upstream is rate limiting requests: " + se.Detail.Message, Cause: err}
		case se.StatusCode == 401 || se.StatusCode == 403:
			return apperr.Wrap(apperr.Upstream, err, "The upstream rejected the gateway's credentials.")
		case se.StatusCode == 404:
			return &apperr.Error{Kind: apperr.NotFound, Message: se.Detail.Message, Cause: err}
		case se.StatusCode == 413:
			return &apperr.Error{Kind: apperr.PayloadTooLarge, Message: se.Detail.Message, Cause: err}
		case se.StatusCode >= 400 && se.StatusCode < 500:
			return &apperr.Error{Kind: apperr.InvalidRequest, Message: se.Detail.Message, Cause: err}
		case se.StatusCode == 503:
			return &apperr.Error{Kind: apperr.Unavailable, RetryAfter: se.RetryAfter, Message: "The upstream is unavailable: " + se.Detail.Message, Cause: err}
		case se.StatusCode == 504:
			return apperr.Wrap(apperr.Timeout, err, "The upstream timed out.")
		}
		return apperr.Wrap(apperr.Upstream, err, "The upstream failed: %s", se.Detail.Message)
	}
	var ce *provider.ConnError
	if errors.As(err, &ce) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return apperr.Wrap(apperr.Timeout, err, "The upstream did not answer in time.")
		}
		return apperr.Wrap(apperr.Upstream, err, "The upstream could not be reached.")
	}
	return err
}

// budget limits retries to a fraction of requests (plus a small reserve), so an outage is not
// multiplied by the retry count: each request deposits `ratio`, each retry withdraws one.
type budget struct {
	mu      sync.Mutex
	balance float64
	ratio   float64
	cap     float64
}

func newBudget(ratio, reserve float64) *budget {
	return &budget{balance: reserve, ratio: ratio, cap: max(reserve, 1) + 100*ratio}
}

func (b *budget) deposit() {
	b.mu.Lock()
	b.balance = min(b.balance+b.ratio, b.cap)
	b.mu.Unlock()
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.balance < 1 {
		return false
	}
	b.balance--
	return true
}

// Timing accumulates the time a request spent waiting on upstreams, for the overhead metric.
type Timing struct{ upstream atomic.Int64 }

// Upstream is the accumulated upstream time.
func (t *Timing) Upstream() time.Duration { return time.Duration(t.upstream.Load()) }

type timingKey struct{}

// WithTiming attaches a Timing to the request context.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

func addUpstream(ctx context.Context, d time.Duration) {
	if t, ok := ctx.Value(timingKey{}).(*Timing); ok {
		t.upstream.Add(int64(d))
	}
}
