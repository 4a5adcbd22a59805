// Package gateway holds the use cases — chat, streaming chat, images, embeddings — and everything between a
// validated request and the provider: model routing, load shedding, the circuit breaker, retries
// within a budget, fallback models, tracing of each upstream attempt and pricing. Every call
// returns a *Call saying what it produced; failures get their meaning once, in Classify.
// It knows nothing of HTTP: the API layer turns a Call and its Failure into a response.
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"aiservice/service/internal/apperr"
	"aiservice/service/internal/config"
	"aiservice/service/internal/cost"
	"aiservice/service/internal/provider"
)

// Options are the settings the gateway obeys.
type Options struct {
	Models     []config.Model
	Resilience config.Resilience
	// StreamFirstToken and StreamIdle are a stream's time-to-first-token and inter-chunk limits.
	StreamFirstToken, StreamIdle time.Duration
	RecordContent                bool // record prompt and completion text on spans
}

// OptionsFrom picks the gateway's settings out of a configuration.
func OptionsFrom(c *config.Config) Options {
	return Options{Models: c.Models, Resilience: c.Resilience, StreamFirstToken: c.Timeouts.StreamFirstToken.D(),
		StreamIdle: c.Timeouts.StreamIdle.D(), RecordContent: c.Telemetry.RecordContent}
}

// Deps are the gateway's collaborators.
type Deps struct {
	Options   Options
	Providers map[string]provider.Provider // by configured provider name
	Prices    *cost.Table
	Cost      *cost.Tracker
	Registry  prometheus.Registerer
	Tracer    trace.Tracer
	Log       *slog.Logger
}

// Gateway routes requests to providers.
type Gateway struct {
	cfg config.Resilience
	// firstToken and idle are a stream's time-to-first-token and inter-chunk limits.
	firstToken, idle time.Duration
	record           bool // record prompt/completion text on spans
	prices           *cost.Table
	cost             *cost.Tracker
	tracer           trace.Tracer
	log              *slog.Logger
	routes           map[string]*route
	m                *metrics
	jitter           func() float64
	sleep            func(context.Context, time.Duration) bool // false when ctx ended first
}

// route is one configured model with its provider, guard and pre-resolved metric children.
type route struct {
	model      config.Model
	quotedName []byte // the model name as a JSON string, patched into raw answers
	firstSpan  struct {
		op, name string
		opts     []trace.SpanStartOption
	}
	provider provider.Provider
	server   []attribute.KeyValue // server.address, server.port and url.full of the upstream
	chain    []*route             // this route, then its fallbacks in order
	guard    *guard

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

// newMetrics registers the gateway's metrics.
func newMetrics(reg prometheus.Registerer) *metrics {
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
	reg.MustRegister(m.upstreamDur, m.retries, m.exhausted, m.fallbacks, m.state, m.transitions)
	return m
}

// New builds the gateway and registers its metrics.
func New(d Deps) (*Gateway, error) {
	m := newMetrics(d.Registry)

	o := d.Options
	g := &Gateway{
		cfg: o.Resilience, record: o.RecordContent,
		prices: d.Prices, cost: d.Cost, tracer: d.Tracer, log: d.Log,
		routes: map[string]*route{}, m: m, jitter: rand.Float64, sleep: sleep,
	}
	g.firstToken, g.idle = o.StreamFirstToken, o.StreamIdle
	slots := newSlots(o.Resilience.MaxInFlight, o.Resilience.MaxStreams)
	for _, mc := range o.Models {
		p, ok := d.Providers[mc.Provider]
		if !ok {
			return nil, fmt.Errorf("model %q: provider %q is not available", mc.Name, mc.Provider)
		}
		if _, ok := p.(provider.Embedder); mc.Kind == "embedding" && !ok {
			return nil, fmt.Errorf("model %q: provider %q does not serve embeddings", mc.Name, mc.Provider)
		}
		g.routes[mc.Name] = newRoute(mc, p, o.Resilience, slots, m, d.Log)
	}
	for _, r := range g.routes {
		r.chain = []*route{r}
		for _, fb := range r.model.Fallbacks {
			r.chain = append(r.chain, g.routes[fb])
		}
	}
	return g, nil
}

// newRoute builds one model's route: its guard, its first attempt span and its metric children.
func newRoute(mc config.Model, p provider.Provider, rc config.Resilience, slots *slots, m *metrics, log *slog.Logger) *route {
	quoted, _ := json.Marshal(mc.Name)
	r := &route{
		model: mc, provider: p, quotedName: quoted,
		upstreamDur: m.upstreamDur.WithLabelValues(p.Name(), mc.Name),
		retries:     m.retries.WithLabelValues(p.Name(), mc.Name),
		exhausted:   m.exhausted.WithLabelValues(p.Name(), mc.Name),
		guard: newGuard(guardOpts{
			failures: rc.BreakerFailures, cooldown: rc.BreakerCooldown.D(), slots: slots,
			budgetRatio: rc.RetryBudgetRatio, budget: rc.RetryBudgetMin,
			state: m.state.WithLabelValues(p.Name(), mc.Name), transitions: m.transitions, log: log,
			provider: p.Name(), model: mc.Name,
		}),
	}
	op, upstreamOp := "chat", "chat"
	if mc.Kind == "image" {
		op, upstreamOp = "generate_content", "images"
	}
	if e, ok := p.(provider.Embedder); ok && mc.Kind == "embedding" {
		op = opEmbeddings
		r.server = serverAttrs(e.EmbeddingsURL())
	} else {
		r.server = serverAttrs(p.URL(upstreamOp))
	}
	r.firstSpan.name, r.firstSpan.opts = r.spanStart(op, 1)
	r.firstSpan.op = op // from here on spanStart returns the cached pair
	return r
}

// resolve finds the route of a public model name of the wanted kind, and starts its Call.
func (g *Gateway) resolve(model, kind string) (*route, *Call, error) {
	call := &Call{Spend: cost.Spend{Model: model}}
	r, ok := g.routes[model]
	if !ok {
		err := &apperr.Error{Kind: apperr.NotFound, Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("The model %q does not exist or you do not have access to it.", apperr.Excerpt(model))}
		return nil, call, call.fail(ofKind(err, NoVerdict))
	}
	if r.model.Kind != kind {
		err := &apperr.Error{Kind: apperr.InvalidRequest, Code: "model_not_supported", Param: "model",
			Message: fmt.Sprintf("The model %q is a %s model and cannot serve this request.", apperr.Excerpt(model), r.model.Kind)}
		return nil, call, call.fail(ofKind(err, NoVerdict))
	}
	call.Provider = r.provider.Name()
	return r, call, nil
}

// fail records the failure on the call and returns the client's error.
func (c *Call) fail(f Failure) error {
	c.Failure = f
	if f.Err == nil {
		return nil
	}
	return f.Err
}

// attempt is one admitted try of one route: its CLIENT span, its permit and when it began.
type attempt struct {
	ctx    context.Context // carries the span
	r      *route
	span   trace.Span
	permit permit
	start  time.Time
}

// send is how every request is tried: for each route of the chain (the primary, then its
// fallbacks), acquire a permit (breaker, a slot of its budget), try, classify the outcome, then
// retry the route, move to the next one, or stop. try gets the attempt's context and span.
// When keep is set (a stream), the attempt takes a stream slot instead of an in-flight one, and
// a successful one keeps its slot and open span: the caller owns them from then on and hands
// them back with end.
func send[T any](ctx context.Context, g *Gateway, call *Call, primary *route, op string, keep bool,
	try func(context.Context, *route, trace.Span) (T, error)) (T, attempt, error) {
	var zero T
	var f Failure
	var last error
	for i, r := range primary.chain {
		if i > 0 {
			g.m.fallbacks.WithLabelValues(primary.model.Name, r.model.Name).Inc()
			g.log.InfoContext(ctx, "falling back to another model", "model", primary.model.Name, "fallback", r.model.Name, "error", last)
		}
		call.Provider, call.Model, call.UpstreamModel = r.provider.Name(), r.model.Name, r.model.Upstream()
		r.guard.budget.deposit()
		for n := 0; ; n++ {
			p, err := r.guard.acquire(r.model.Name, keep)
			if err != nil {
				last, f = err, Classify(ctx, err)
				break
			}
			a := g.begin(ctx, r, op, n+1, p)
			v, err := try(a.ctx, r, a.span)
			last, f = err, Classify(ctx, err)
			g.finish(call, a, f, keep)
			if err == nil {
				call.Served = true
				return v, a, nil
			}
			if !g.again(ctx, r, n, f) {
				break
			}
		}
		if ctx.Err() != nil {
			f = Classify(ctx, last) // the wait for a retry ended with the request
		}
		if !f.Fallback {
			break
		}
	}
	return zero, attempt{}, call.fail(f)
}

// begin opens an admitted attempt's span.
func (g *Gateway) begin(ctx context.Context, r *route, op string, n int, p permit) attempt {
	name, opts := r.spanStart(op, n)
	ctx, span := g.tracer.Start(ctx, name, opts...)
	return attempt{ctx: ctx, r: r, span: span, permit: p, start: time.Now()}
}

// finish records a tried attempt: its duration, its outcome, the breaker's verdict, and (unless
// a successful one is kept open) its slot and span.
func (g *Gateway) finish(call *Call, a attempt, f Failure, keep bool) {
	elapsed := time.Since(a.start)
	a.r.upstreamDur.Observe(elapsed.Seconds())
	call.Upstream += elapsed
	call.Attempts++
	g.cost.RecordAPICall(a.r.provider.Name(), a.r.model.Name, f.Outcome)
	a.permit.judge(f.Verdict)
	if f.Err != nil {
		markFailed(a.span, f)
		a.end()
		return
	}
	if !keep {
		a.end()
	}
}

// end frees the attempt's slot and ends its span.
func (a attempt) end() {
	a.permit.release()
	a.span.End()
}

// again decides whether to try the same route once more, and waits the backoff when so: the
// failure must be retryable, retries left, the budget not spent and the deadline far enough.
func (g *Gateway) again(ctx context.Context, r *route, n int, f Failure) bool {
	if !f.Retry || n >= g.cfg.MaxRetries {
		return false
	}
	delay := g.backoff(n, f.RetryAfter)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
		return false
	}
	if !r.guard.budget.withdraw() {
		r.exhausted.Inc()
		return false
	}
	r.retries.Inc()
	g.log.DebugContext(ctx, "retrying upstream", "model", r.model.Name, "attempt", n+2, "delay", delay, "error", f.Err)
	return g.sleep(ctx, delay)
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

// sleep waits d, or less when ctx ends first (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// spanStart is the name and start options of an attempt's CLIENT span. The first attempt's are
// built once per route: they are the same for every request.
func (r *route) spanStart(op string, attempt int) (string, []trace.SpanStartOption) {
	if attempt == 1 && op == r.firstSpan.op {
		return r.firstSpan.name, r.firstSpan.opts
	}
	attrs := append([]attribute.KeyValue{
		attribute.String("gen_ai.operation.name", op),
		attribute.String("gen_ai.provider.name", r.provider.System()),
		attribute.String("gen_ai.request.model", r.model.Name),
		attribute.Int("aiservice.attempt", attempt),
	}, r.server...) // one option, so the span copies its attributes once
	return op + " " + r.model.Name, []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}
}

// serverAttrs are the upstream's address attributes of a CLIENT span. url.full never carries
// credentials or the query: a base URL may hold a key in either.
func serverAttrs(raw string) []attribute.KeyValue {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	attrs := []attribute.KeyValue{attribute.String("server.address", u.Hostname()), attribute.String("url.full", u.String())}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", n))
	}
	return attrs
}

// markFailed sets a span's error status and error.type from a classified failure.
func markFailed(span trace.Span, f Failure) {
	span.SetAttributes(attribute.String("error.type", f.Type))
	span.SetStatus(codes.Error, f.Err.Error())
}
